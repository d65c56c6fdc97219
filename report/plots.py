"""Plots (matplotlib, PNG): score against learning rate per task, with bootstrap 95% error bars; per run,
train and validation loss beside the task metric of each epoch."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from recipes.manifest import checkpoints  # noqa: E402
from recipes.models import LEARNING_RATES, MODELS  # noqa: E402


def score_vs_lr(table, out: Path, intervals: dict | None = None) -> Path:
    """The deciding metric (mean over seeds) per row against the learning rate; error bars: the cell's
    bootstrap 95% interval (report.intervals.cell_intervals), where its predictions are at hand."""
    intervals = intervals or {}
    metric = table.metrics[-1]
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, row in enumerate(table.rows):
        points = []
        for j, (lr, c) in enumerate(zip(table.header[-4:], row.cells)):
            if c.values is None:
                continue
            mean, low, high = intervals.get((i, j), {}).get(metric, (c.values[-1],) * 3)
            points.append((LEARNING_RATES[lr[3:]], c.values[-1], max(0.0, mean - low), max(0.0, high - mean)))
        if points:
            xs, ys, below, above = zip(*sorted(points))
            name = MODELS[row.model].display + (f" ({row.variant})" if row.variant else "")
            ax.errorbar(xs, ys, yerr=[below, above], marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xticks(list(LEARNING_RATES.values()), list(LEARNING_RATES))  # the paper's spellings
    ax.minorticks_off()
    ax.set_xlabel("learning rate")
    ax.set_ylabel(table.metrics[-1] + (" (%)" if table.scale == 100 else ""))
    ax.set_title(table.title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def loss_curves(run_dir: Path, out: Path, scores: dict | None = None) -> Path | None:
    """Left: training loss (every logged step) and validation loss (each epoch) from Axolotl's
    trainer_state.json. Right: the task metric of each epoch (scores.json), the epoch each rule selects marked."""
    found = checkpoints(run_dir)
    if not found:
        return None
    history = json.loads((found[-1][1] / "trainer_state.json").read_text())["log_history"]
    train = [(h["epoch"], h["loss"]) for h in history if "loss" in h]
    val = [(h["epoch"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, (ax, right) = plt.subplots(1, 2, figsize=(10, 4))
    if train:
        ax.plot(*zip(*train), label="train loss", alpha=0.7)
    if val:
        ax.plot(*zip(*val), marker="o", label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(run_dir.name)
    ax.legend()
    epochs = (scores or {}).get("epochs", [])
    metric = (scores or {}).get("metric")
    if epochs and metric:
        right.plot([e["epoch"] for e in epochs], [e["metrics"][metric] for e in epochs], marker="o",
                   color="tab:green", label=metric)
        for key, style, label in (("best", "*", "selected: task metric"), ("best_by_val_loss", "s",
                                                                           "selected: validation loss")):
            if scores.get(key):
                right.plot([scores[key]["epoch"]], [scores[key]["metrics"][metric]], style, markersize=12,
                           fillstyle="none", label=label)
        right.legend(fontsize=8)
    right.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
    right.set_xlabel("epoch")
    right.set_ylabel(f"{metric or 'task metric'} ({(scores or {}).get('split', 'scored')} split)")
    right.set_title("task metric per epoch")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
