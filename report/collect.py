"""Gather every scored run: runs/<run-id>/scores.json -> one Result per run, bad files warned about."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from prompts.tasks import TASKS
from recipes.models import LEARNING_RATES, MODELS

SELECT = {"task-metric": "best", "val-loss": "best_by_val_loss"}


@dataclass(frozen=True)
class Result:
    run_id: str
    run_dir: Path
    model: str
    task: str
    lr: str
    variant: str | None
    best: dict    # the selected epoch's entry of scores.json
    scores: dict  # the whole scores.json, for the provenance notes

    @property
    def epoch(self) -> int:
        return self.best["epoch"]

    @property
    def metrics(self) -> dict:
        return self.best["metrics"]

    @property
    def key(self) -> tuple:
        return (self.model, self.task, self.lr, self.variant)

    @property
    def limit(self) -> int | None:
        """Set when the selected epoch was scored on the first N rows only (`just eval --limit N`)."""
        return self.best.get("limit")

    @property
    def predictions(self) -> Path:
        return self.run_dir / "eval" / f"epoch-{self.epoch}" / "predictions.jsonl"


def load(path: Path, select: str) -> Result | str:
    """One run's result under the selection rule, or the reason (a warning) it cannot be used."""
    try:
        s = json.loads(path.read_text(encoding="utf-8"))
        model, task, lr = s["model"], s["task"], s["lr"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        return f"{path}: malformed scores file ({type(e).__name__}: {e}); left out"
    if model not in MODELS or task not in TASKS or lr not in LEARNING_RATES:
        return f"{path}: unknown model/task/lr ({model}, {task}, {lr}); left out"
    best = s.get(SELECT[select])
    if not best:
        return f"{path}: no epoch selectable by {select}; left out"
    table = TASKS[task].table  # the metrics its table shows; without a table, the selecting one
    shown = table["metrics"] if table else TASKS[task].metrics[:1]
    missing = [m for m in shown if m not in best.get("metrics", {})]
    if missing:
        return f"{path}: best epoch lacks {missing}; left out"
    return Result(run_id=s.get("run_id", path.parent.name), run_dir=path.parent, model=model, task=task, lr=lr,
                  variant=s.get("variant"), best=best, scores=s)


def collect(runs_root: Path, select: str = "task-metric") -> tuple[dict[tuple, Result], list[str]]:
    """(results by (model, task, lr, variant), warnings about the scores files left out)."""
    results, warnings = {}, []
    for path in sorted(Path(runs_root).glob("*/scores.json")):
        result = load(path, select)
        if isinstance(result, str):
            warnings.append(result)
        else:
            results[result.key] = result
    return results, warnings
