"""Plots (matplotlib, PNG): score against learning rate per task; train and validation loss per run."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from recipes.manifest import checkpoints  # noqa: E402
from recipes.models import LEARNING_RATES, MODELS  # noqa: E402


def score_vs_lr(table, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in table.rows:
        points = [(LEARNING_RATES[lr[3:]], c.values[-1]) for lr, c in zip(table.header[-4:], row.cells)
                  if c.values is not None]
        if points:
            xs, ys = zip(*sorted(points))
            name = MODELS[row.model].display + (f" ({row.variant})" if row.variant else "")
            ax.plot(xs, ys, marker="o", label=name)
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


def loss_curves(run_dir: Path, out: Path) -> Path | None:
    """Training loss (every logged step) and validation loss (each epoch) from Axolotl's trainer_state.json."""
    found = checkpoints(run_dir)
    if not found:
        return None
    history = json.loads((found[-1][1] / "trainer_state.json").read_text())["log_history"]
    train = [(h["epoch"], h["loss"]) for h in history if "loss" in h]
    val = [(h["epoch"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train), label="train loss", alpha=0.7)
    if val:
        ax.plot(*zip(*val), marker="o", label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(run_dir.name)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
