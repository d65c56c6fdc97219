"""`jaft validate [PATH ...]`: check files against their typed shapes (jaft.records), one line per problem.

Without PATH: the registries (tasks, models, the grid, with the JAFT_TASKS / JAFT_MODELS files), each task's
post-processing step and metrics against eval's registries. A PATH may be a run folder (run.json,
scores.json), a data folder (data/<task>/*.jsonl) or a predictions file (*.jsonl). Exit 2 when anything is
wrong, else 0 with one summary line.

Examples:
  jaft validate
  jaft validate runs/calm2-marc-lr2e-4 data/marc runs/calm2-marc-lr2e-4/eval/epoch-1/predictions.jsonl
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from jaft.common import DataError, UsageError, did_you_mean, read_json, read_jsonl
from jaft.records import run_record, scores_record

EXAMPLE_KEYS = ("id", "prompt", "response", "references")
PREDICTION_KEYS = ("id", "raw", "references")


def add_arguments(verb: str, p) -> None:
    from jaft.cli import user_path
    p.add_argument("paths", nargs="*", type=user_path, metavar="PATH",
                   help="a run folder, a data folder or a predictions file (default: the registries)")


def registries() -> tuple[list[str], int]:
    """Problems with the registries, and how many entries were checked."""
    problems, checked = [], 0
    for module, names in (("prompts.tasks", "TASKS"), ("recipes.models", "MODELS"),
                          ("recipes.models", "LEARNING_RATES")):
        try:
            checked += len(getattr(importlib.import_module(module), names))
        except (DataError, UsageError) as e:
            problems.append(str(e))
    if problems:
        return problems, checked
    tasks = importlib.import_module("prompts.tasks")
    steps = importlib.import_module("eval.postprocess").STEPS
    metrics = importlib.import_module("eval.metrics").METRICS
    for name, task in tasks.TASKS.items():
        where = f"task '{name}' ({', '.join(str(p) for p in tasks.task_files())})"
        if task.postprocess not in steps:
            problems.append(f"{where}: key 'postprocess': unknown step '{task.postprocess}'"
                            f"{did_you_mean(task.postprocess, steps)} (valid: {', '.join(steps)})")
        for m in task.metrics:
            if m not in metrics:
                problems.append(f"{where}: key 'metrics': unknown metric '{m}'{did_you_mean(m, metrics)} "
                                f"(valid: {', '.join(metrics)})")
    return problems, checked


def _jsonl(path: Path, required: tuple) -> list[str]:
    try:
        n = sum(1 for _ in read_jsonl(path, required))
    except DataError as e:
        return [str(e)]
    except OSError as e:
        return [f"{path}: cannot read ({e.strerror or e})"]
    return [] if n else [f"{path}: no rows"]


def _record(path: Path, read, what: str) -> list[str]:
    try:
        read(read_json(path, what), path)
    except DataError as e:
        return [str(e)]
    return []


def check_path(path: Path) -> list[str]:
    if not path.exists():
        return [f"{path}: no such file or folder"]
    if path.is_file():
        if path.name == "run.json":
            return _record(path, run_record, "run.json")
        if path.name == "scores.json":
            return _record(path, scores_record, "scores.json")
        if path.suffix == ".jsonl":
            return _jsonl(path, PREDICTION_KEYS)
        return [f"{path}: not a file jaft checks (run.json, scores.json, *.jsonl)"]
    if (path / "run.json").is_file() or (path / "recipe.yaml").is_file():  # a run folder
        problems = [] if not (path / "run.json").is_file() else _record(path / "run.json", run_record, "run.json")
        if (path / "scores.json").is_file():
            problems += _record(path / "scores.json", scores_record, "scores.json")
        for preds in sorted(path.glob("eval/epoch-*/predictions.jsonl")):
            problems += _jsonl(preds, PREDICTION_KEYS)
        return problems
    splits = sorted(path.glob("*.jsonl"))
    if splits:  # a data folder: data/<task>/<split>.jsonl
        return [p for split in splits for p in _jsonl(split, EXAMPLE_KEYS)]
    return [f"{path}: neither a run folder, a data folder nor a predictions file"]


def run_verb(verb: str, args) -> int:
    problems, checked = registries()
    for path in args.paths:
        problems += check_path(Path(path))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    what = f"{len(args.paths)} path(s)" if args.paths else "no paths"
    print(f"[jaft validate] ok: registries ({checked} entries) and {what}", file=sys.stderr)
    return 0
