"""Gather every scored run: runs/<run-id>/scores.json -> one Result per run, bad files warned about; and
every failed run (run.json status "failed") with its error, for the tables' ✗.

A table cell is (model, task, lr, variant); each seed is a run of its own, keyed (model, task, lr, variant,
seed), and a cell aggregates its seeds (report.tables). Two scored runs with the same key are an error naming
both folders: the report never picks one silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from jaft.common import DataError, read_jsonl
from jaft.records import read_scores
from prompts.tasks import TASKS
from recipes import DEFAULT_SEED, read_manifest
from recipes.models import LEARNING_RATES, MODELS
from recipes.runs import parse_run_id

SELECT = {"task-metric": "best", "val-loss": "best_by_val_loss"}
TUNED = "tuned"  # the lr of a `just tune` study's result (runs/<study>/scores.json; its rate is `tuned_lr`)


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
    seed: int = DEFAULT_SEED
    problem: str | None = None  # set when the selected epoch's predictions file is damaged (cell marked)
    run: dict = field(default_factory=dict)  # run.json (versions, cost); {} when missing or damaged

    @property
    def cost(self) -> dict:
        return self.run.get("cost") or {}

    @property
    def tuned_lr(self) -> str | None:
        """The learning rate `just tune` found, for a `tuned` result."""
        return self.scores.get("tuned_lr")

    @property
    def epoch(self) -> int:
        return self.best["epoch"]

    @property
    def metrics(self) -> dict:
        return self.best["metrics"]

    @property
    def key(self) -> tuple:
        return (self.model, self.task, self.lr, self.variant, self.seed)

    @property
    def cell(self) -> tuple:
        """The table cell this run feeds, with the other seeds of the same setting."""
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
        s = read_scores(path)  # an older version migrated in memory; a newer one or a damaged one left out
    except DataError as e:
        return f"{e}; its run is left out of the report"
    model, task, lr = s["model"], s["task"], s["lr"]
    if model not in MODELS or task not in TASKS or (lr not in LEARNING_RATES and lr != TUNED):
        return f"{path}: unknown model/task/lr ({model}, {task}, {lr}); left out"
    best = s.get(SELECT[select])
    if not best:
        return f"{path}: no epoch selectable by {select}; left out"
    table = TASKS[task].table  # the metrics its table shows; without a table, the selecting one
    shown = table["metrics"] if table else TASKS[task].metrics[:1]
    missing = [m for m in shown if m not in best.get("metrics", {})]
    if missing:
        return f"{path}: best epoch lacks {missing}; left out"
    try:
        run = read_manifest(path.parent)
    except DataError as e:
        # A damaged run.json: what the run is, and whether it finished, is unknown, so its scores are left
        # out of every table and file (the same words as `failures`' warning, said once).
        return f"{e}; its run is left out of the report"
    result = Result(run_id=s.get("run_id", path.parent.name), run_dir=path.parent, model=model, task=task,
                    lr=lr, variant=s.get("variant"), best=best, scores=s, seed=seed_of(s, run), run=run)
    return replace(result, problem=predictions_problem(result.predictions))


def seed_of(scores: dict, run: dict) -> int:
    """The run's seed: scores.json, else run.json, else the recipe's default (runs from before seeds)."""
    for record in (scores, run):
        if isinstance(record.get("seed"), int):
            return record["seed"]
    return DEFAULT_SEED


def predictions_problem(path: Path) -> str | None:
    """Why a cell's predictions file cannot back its number (damaged, cut, not UTF-8), or None. A missing
    file is not a problem here (scores copied without predictions still report)."""
    if not path.is_file():
        return None
    try:
        for _ in read_jsonl(path, required=("id", "raw", "references")):
            pass
    except DataError as e:
        return str(e)
    except OSError as e:
        return f"{path}: {e.strerror}"
    return None


def collect(runs_root: Path, select: str = "task-metric") -> tuple[dict[tuple, Result], list[str]]:
    """(results by (model, task, lr, variant, seed), warnings about the files left out or damaged).

    Raises DataError when two scored runs fill the same cell with the same seed; runs of one cell with
    different seeds are all kept (the cell shows their mean, `by_cell`)."""
    results, warnings = {}, []
    for path in sorted(Path(runs_root).glob("*/scores.json")):
        result = load(path, select)
        if isinstance(result, str):
            warnings.append(result)
            continue
        same = results.get(result.key)
        if same is not None:
            raise DataError(f"two scored runs for one cell ({', '.join(str(k) for k in result.cell if k)}, seed "
                            f"{result.seed}): {same.run_dir} and {result.run_dir}; move one out of {runs_root}")
        results[result.key] = result
        if result.problem:
            warnings.append(f"{result.problem}; its cell ({result.run_id}) is marked † (number from "
                            f"scores.json, unchecked)")
    return results, warnings


def by_cell(results: dict) -> dict[tuple, list[Result]]:
    """(model, task, lr, variant) -> that cell's results, one per seed, in seed order."""
    cells: dict[tuple, list[Result]] = {}
    for result in sorted(results.values(), key=lambda r: r.seed):
        cells.setdefault(result.cell, []).append(result)
    return cells


@dataclass(frozen=True)
class Failure:
    run_id: str
    run_dir: Path
    key: tuple
    error: str


def failures(runs_root: Path) -> tuple[dict[tuple, Failure], list[str]]:
    """Runs whose run.json says "failed", by (model, task, lr, variant, seed), with their recorded error."""
    found, warnings = {}, []
    for path in sorted(Path(runs_root).glob("*/run.json")):
        try:
            run = read_manifest(path.parent)
        except DataError as e:
            warnings.append(f"{e}; its run is left out of the report")
            continue
        if run.get("status") != "failed":
            continue
        parsed = parse_run_id(run.get("run_id", path.parent.name))
        if run.get("trial") is not None or (parsed and parsed["trial"] is not None):
            continue  # a tuning trial: its study's tune.md lists it
        model = run.get("model") or (parsed and parsed["model"])
        task = run.get("task") or (parsed and parsed["task"])
        lr = run.get("lr") or (parsed and parsed["lr"])
        variant = run.get("variant") if "model" in run else (parsed and parsed["variant"])
        seed = seed_of(run, parsed or {})
        failure = Failure(run.get("run_id", path.parent.name), path.parent, (model, task, lr, variant, seed),
                          str(run.get("error") or "no error recorded"))
        if model not in MODELS or task not in TASKS or lr not in LEARNING_RATES:
            warnings.append(f"{path}: failed run of unknown model/task/lr ({model}, {task}, {lr}): "
                            f"{failure.error}; left out")
            continue
        found[failure.key] = failure
    return found, warnings
