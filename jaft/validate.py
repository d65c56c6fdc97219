"""`jaft validate [PATH ...]`: check files against their typed shapes (jaft.records), one line per problem.

Without PATH: the registries (tasks, models, the grid, with the JAFT_TASKS / JAFT_MODELS files), every entry
of each file; each task's post-processing step and metrics against eval's registries; each model's
`paper_variants` against the tasks. A PATH may be a run folder (run.json, scores.json), a data folder
(data/<task>/*.jsonl), a predictions file (*.jsonl) or a registry file (a tasks, models or grid YAML file).
Exit 2 when anything is wrong, else 0 with one summary line.

Examples:
  jaft validate
  jaft validate runs/calm2-marc-lr2e-4 data/marc runs/calm2-marc-lr2e-4/eval/epoch-1/predictions.jsonl
  jaft validate mytasks.yaml
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import yaml

from jaft.common import DataError, UsageError, did_you_mean, read_json, read_jsonl
from jaft.records import Grid, check, run_record, scores_record

EXAMPLE_KEYS = ("id", "prompt", "response", "references")
PREDICTION_KEYS = ("id", "raw", "references")


def add_arguments(verb: str, p) -> None:
    from jaft.cli import user_path
    p.add_argument("paths", nargs="*", type=user_path, metavar="PATH",
                   help="a run folder, a data folder, a predictions file or a registry file "
                        "(default: the registries only)")


def _module(name: str):
    """A later stage's module (jaft is the first stage: it may not import them at the top)."""
    return importlib.import_module(name)


# ---- the registries ----------------------------------------------------------------------------------------------

def registries() -> tuple[list[str], int]:
    """Problems with the registries (every entry of every file), and how many entries were checked."""
    tasks_mod, models_mod = _module("prompts.tasks"), _module("recipes.models")
    tasks, problems = tasks_mod.read_entries(tasks_mod.task_files(), tasks_mod.build_task)
    models, more = tasks_mod.read_entries(models_mod.model_files(), models_mod.build_model)
    problems += more + eval_names(tasks.values()) + variant_tasks(models.values())
    try:
        rates = len(models_mod.LEARNING_RATES)
    except (DataError, UsageError) as e:
        problems.append(str(e))
        rates = 0
    return problems, len(tasks) + len(models) + rates


def eval_names(tasks) -> list[str]:
    """Each task's post-processing step and metrics, checked by eval as it checks them at score time."""
    get_step, task_metrics = _module("eval.postprocess").get_step, _module("eval.metrics").task_metrics
    problems = []
    for task in tasks:
        for use in (get_step, task_metrics, _table_metrics):
            try:
                use(task)
            except UsageError as e:
                problems.append(str(e))
                break  # a table's metrics are checked against the task's once those are known
    return problems


def _table_metrics(task) -> None:
    """A table showing a metric the task does not score would leave every run of the task out of the report."""
    shown = [m for m in (task.table or {}).get("metrics", []) if m not in task.metrics]
    if shown:
        raise UsageError(f"{task.registry_file}: task '{task.name}': key 'table.metrics': '{shown[0]}' is not one "
                         f"of the task's metrics{did_you_mean(shown[0], task.metrics)} "
                         f"(valid: {', '.join(task.metrics)})")


def task_names() -> list[str]:
    """The task names the registry files hold (those of a broken entry too: its own line says what is wrong)."""
    tasks_mod = _module("prompts.tasks")
    names = []
    for path in tasks_mod.task_files():
        try:
            names += [n for n in tasks_mod.read_registry(path) if n not in names]
        except DataError:
            continue
    return names


def variant_tasks(models) -> list[str]:
    """`paper_variants` names a task of the task registry (both registries known only here)."""
    known, problems = task_names(), []
    for m in models:
        for task in m.paper_variants:
            if task not in known:
                problems.append(f"{m.registry_file}: model '{m.name}': key 'paper_variants.{task}': unknown task "
                                f"'{task}'{did_you_mean(task, known)} (valid: {', '.join(known)})")
    return problems


def registry_kind(path: Path, raw) -> str | None:
    """'tasks', 'models' or 'grid' for a registry file, by its shape (an entry's keys), else by its name."""
    if isinstance(raw, dict) and "learning_rates" in raw:
        return "grid"
    entries = [e for e in raw.values() if isinstance(e, dict)] if isinstance(raw, dict) else []
    tasks = sum(bool({"template", "eval_split", "splits"} & set(e)) for e in entries)
    models = sum(bool({"arch", "hub_id", "lora_targets"} & set(e)) for e in entries)
    if tasks != models:
        return "tasks" if tasks > models else "models"
    name = path.stem.lower()
    return next((kind for kind in ("tasks", "models", "grid") if kind.rstrip("s") in name), None)


def check_registry_file(path: Path) -> list[str]:
    """A tasks, models or grid file given as a PATH, checked as the registry checks it."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        return [f"{path}: cannot read the registry ({type(e).__name__}: {(str(e).splitlines() or [''])[0]})"]
    kind = registry_kind(path, raw)
    if kind is None:
        return [f"{path}: not a registry file jaft knows (a tasks file's entries have template:, a models "
                f"file's arch:, a grid file has learning_rates:)"]
    if kind == "grid":
        try:
            check(Grid, raw, str(path))
        except DataError as e:
            return [str(e)]
        return []
    tasks_mod = _module("prompts.tasks")
    build = tasks_mod.build_task if kind == "tasks" else _module("recipes.models").build_model
    entries, problems = tasks_mod.read_entries([path], build)
    check_names = eval_names if kind == "tasks" else variant_tasks
    return problems + check_names(entries.values())


# ---- run folders, data folders, predictions -----------------------------------------------------------------

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
        if path.suffix in (".yaml", ".yml"):
            return check_registry_file(path)
        return [f"{path}: not a file jaft checks (run.json, scores.json, *.jsonl, a registry *.yaml)"]
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
        try:
            problems += check_path(Path(path))
        except (DataError, UsageError) as e:  # a check that needs a broken registry: that one is said above
            problems.append(str(e))
    problems = list(dict.fromkeys(problems))  # a registry file named as a PATH too: each problem once
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    what = f"{len(args.paths)} path(s)" if args.paths else "no paths"
    print(f"[jaft validate] ok: registries ({checked} entries) and {what}", file=sys.stderr)
    return 0
