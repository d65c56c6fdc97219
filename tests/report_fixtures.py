"""Build run folders holding only scores.json (and optionally predictions) for report tests."""
from __future__ import annotations

import json
from pathlib import Path

from report.tables import paper_values

METRIC_OF = {"table3": ("marc", ("accuracy",), 100.0), "table5": ("jsquad", ("exact_match", "f1"), 100.0),
             "table6": ("xlsum", ("rouge1",), 1.0)}


def write_scores(runs: Path, model: str, task: str, lr: str, metrics: dict, variant: str | None = None,
                 epoch: int = 1, val_loss_metrics: dict | None = None, seed: int = 42,
                 epochs: list | None = None, val_loss_epoch: int | None = None) -> Path:
    """A scored run; `epochs` (scores.json's list) is empty unless given. Seed 42 writes no `seed` key, as
    scores from before seeds (the report then reads 42)."""
    run_id = f"{model}-{task}-lr{lr}" + (f"-{variant}" if variant else "") + (f"-s{seed}" if seed != 42 else "")
    d = runs / run_id
    d.mkdir(parents=True, exist_ok=True)
    best = {"rule": "task-metric", "epoch": epoch, "metrics": metrics, "val_loss": 1.0}
    by_loss = {"rule": "val-loss", "epoch": val_loss_epoch or epoch + 1, "metrics": val_loss_metrics or metrics,
               "val_loss": 0.9}
    scores = {"run_id": run_id, "model": model, "task": task, "lr": lr, "variant": variant, "metric": "x",
              "epochs": epochs or [], "best": best, "best_by_val_loss": by_loss, "selection_rule": "task-metric"}
    if seed != 42:
        scores["seed"] = seed
    (d / "scores.json").write_text(json.dumps(scores))
    return d


def paper_as_scores(runs: Path) -> None:
    """The paper's published numbers written as if our runs had scored them (fractions, as jaft stores)."""
    for table, by_model in paper_values().items():
        task, metrics, scale = METRIC_OF[table]
        for model, by_variant in by_model.items():
            for variant, by_lr in by_variant.items():
                for lr, value in by_lr.items():
                    values = value if isinstance(value, list) else [value]
                    write_scores(runs, model, task, lr, {m: v / scale for m, v in zip(metrics, values)},
                                 None if variant == "paper" else variant)
