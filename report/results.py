"""reports/results.csv and results.json: every number of every scored run, one row per run × epoch, for a
spreadsheet, pandas (`pd.read_csv("reports/results.csv")`) or another harness.

Metrics are fractions as scores.json holds them (the tables scale them); a metric the task does not have is
empty, as is a leaderboard metric (llmjp_char_f1, lmeval_rouge2, marc_loglik_accuracy) of an epoch scored
before jaft computed it. `selected_task_metric` / `selected_val_loss` mark the epoch each selection rule
picks (the cell of `just report` / `just report --select val-loss`). `eval_*` is that epoch's evaluation;
`cost_*` is the run's training cost (run.json), the same on each of its rows.
"""
from __future__ import annotations

import csv
import io

from prompts.tasks import TASKS
from recipes.models import LEARNING_RATES, MODELS

ID_COLUMNS = ["run_id", "model", "task", "lr", "variant", "seed", "epoch"]
TAIL_COLUMNS = ["n", "limit", "val_loss", "selected_task_metric", "selected_val_loss",
                "eval_wall_s", "eval_examples_per_s"]
COST_FIELDS = ["wall_s", "device", "gpus", "gpu_hours", "peak_mem_mib", "tokens", "tokens_per_s"]


def metric_columns(results: dict) -> list[str]:
    """Every metric of the tasks present, in tasks.yaml order, each once."""
    tasks = {r.task for r in results.values()}
    return list(dict.fromkeys(m for name, t in TASKS.items() if name in tasks for m in t.metrics))


def columns(results: dict) -> list[str]:
    return ID_COLUMNS + metric_columns(results) + TAIL_COLUMNS + [f"cost_{f}" for f in COST_FIELDS]


def rows(results: dict) -> list[dict]:
    metrics = metric_columns(results)
    out = []
    order = (list(TASKS).index, list(MODELS).index, list(LEARNING_RATES).index)  # registry order, as the tables
    for r in sorted(results.values(), key=lambda r: (order[0](r.task), order[1](r.model), r.variant or "",
                                                     order[2](r.lr), r.seed)):
        picked = {rule: (r.scores.get(key) or {}).get("epoch")
                  for rule, key in (("task_metric", "best"), ("val_loss", "best_by_val_loss"))}
        for e in r.scores.get("epochs", []):
            row = {"run_id": r.run_id, "model": r.model, "task": r.task, "lr": r.lr, "variant": r.variant,
                   "seed": r.seed, "epoch": e["epoch"]}
            row.update({m: e["metrics"].get(m) for m in metrics})
            row.update({"n": e.get("n"), "limit": e.get("limit"), "val_loss": e.get("val_loss"),
                        "selected_task_metric": e["epoch"] == picked["task_metric"],
                        "selected_val_loss": e["epoch"] == picked["val_loss"],
                        "eval_wall_s": e.get("eval_wall_s"), "eval_examples_per_s": e.get("eval_examples_per_s")})
            row.update({f"cost_{f}": r.cost.get(f) for f in COST_FIELDS})
            out.append(row)
    return out


def to_csv(results: dict) -> str:
    """Empty cells for missing values; booleans as true/false; numbers as Python writes them (full precision)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(results), lineterminator="\n")
    writer.writeheader()
    for row in rows(results):
        writer.writerow({k: "" if v is None else str(v).lower() if isinstance(v, bool) else v
                         for k, v in row.items()})
    return buf.getvalue()


def to_json(results: dict) -> list[dict]:
    """The same rows as the CSV, typed (null, true/false, numbers)."""
    return rows(results)
