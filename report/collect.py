"""Gather every scored run: runs/<run-id>/scores.json -> one Result per run, bad files warned about; and
every failed run (run.json status "failed") with its error, for the tables' ✗.

Two scored runs for one cell with the same seed are an error naming both folders: the report never picks
one silently.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from jaft.common import DataError, read_jsonl
from prompts.tasks import TASKS
from recipes import read_manifest
from recipes.models import LEARNING_RATES, MODELS

DEFAULT_SEED = 42  # the recipe's seed when a run recorded none

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
    seed: int = DEFAULT_SEED
    problem: str | None = None  # set when the selected epoch's predictions file is damaged (cell marked)

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
    result = Result(run_id=s.get("run_id", path.parent.name), run_dir=path.parent, model=model, task=task,
                    lr=lr, variant=s.get("variant"), best=best, scores=s, seed=seed_of(path.parent, s))
    return replace(result, problem=predictions_problem(result.predictions))


def seed_of(run_dir: Path, scores: dict) -> int:
    """The run's seed: scores.json, else run.json, else the recipe's default."""
    if isinstance(scores.get("seed"), int):
        return scores["seed"]
    try:
        seed = read_manifest(run_dir).get("seed")
    except DataError:
        seed = None
    return seed if isinstance(seed, int) else DEFAULT_SEED


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
    """(results by (model, task, lr, variant), warnings about the files left out or damaged).

    Raises DataError when two scored runs fill the same cell with the same seed. Runs of one cell with
    different seeds: the default seed's run is shown (else the lowest seed), with a warning."""
    by_cell, warnings = {}, []
    for path in sorted(Path(runs_root).glob("*/scores.json")):
        result = load(path, select)
        if isinstance(result, str):
            warnings.append(result)
            continue
        same = next((r for r in by_cell.get(result.key, []) if r.seed == result.seed), None)
        if same is not None:
            raise DataError(f"two scored runs for one cell ({', '.join(str(k) for k in result.key if k)}, seed "
                            f"{result.seed}): {same.run_dir} and {result.run_dir}; move one out of {runs_root}")
        by_cell.setdefault(result.key, []).append(result)
        if result.problem:
            warnings.append(f"{result.problem}; its cell ({result.run_id}) is marked † (number from "
                            f"scores.json, unchecked)")
    results = {}
    for key, found in by_cell.items():
        found.sort(key=lambda r: (r.seed != DEFAULT_SEED, r.seed))
        results[key] = found[0]
        if len(found) > 1:
            warnings.append(f"{found[0].run_id}: runs with seeds {', '.join(str(r.seed) for r in found)} fill one "
                            f"cell; showing seed {found[0].seed} ({found[0].run_dir})")
    return results, warnings


@dataclass(frozen=True)
class Failure:
    run_id: str
    run_dir: Path
    key: tuple
    error: str


RUN_ID = re.compile(r"(?P<model>.+?)-(?P<task>" + "|".join(map(re.escape, TASKS)) + r")-lr(?P<lr>"
                    + "|".join(map(re.escape, LEARNING_RATES)) + r")(?:-(?P<variant>.+))?")


def failures(runs_root: Path) -> tuple[dict[tuple, Failure], list[str]]:
    """Runs whose run.json says "failed", by (model, task, lr, variant), with their recorded error."""
    found, warnings = {}, []
    for path in sorted(Path(runs_root).glob("*/run.json")):
        try:
            run = read_manifest(path.parent)
        except DataError as e:
            warnings.append(f"{e}; left out")
            continue
        if run.get("status") != "failed":
            continue
        parsed = RUN_ID.fullmatch(str(run.get("run_id", path.parent.name)))
        model = run.get("model") or (parsed and parsed["model"])
        task = run.get("task") or (parsed and parsed["task"])
        lr = run.get("lr") or (parsed and parsed["lr"])
        variant = run.get("variant") if "model" in run else (parsed and parsed["variant"])
        failure = Failure(run.get("run_id", path.parent.name), path.parent, (model, task, lr, variant),
                          str(run.get("error") or "no error recorded"))
        if model not in MODELS or task not in TASKS or lr not in LEARNING_RATES:
            warnings.append(f"{path}: failed run of unknown model/task/lr ({model}, {task}, {lr}): "
                            f"{failure.error}; left out")
            continue
        found[failure.key] = failure
    return found, warnings
