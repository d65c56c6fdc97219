"""`jaft validate [PATH ...]`: check files against their typed shapes (jaft.records), one line per problem.

Without PATH: the registries (tasks, models, the grid, with the JAFT_TASKS / JAFT_MODELS files), every entry
of each file; each task's post-processing step and metrics against eval's registries; each model's
`paper_variants` against the tasks. A PATH may be a run folder (run.json, scores.json, each epoch's
scores.json and predictions), a run's eval/ folder or one epoch folder of it (eval/epoch-N/: its scores.json
and predictions), a data folder (data/<task>/*.jsonl), a predictions file (*.jsonl), a record
(run.json, scores.json) or a registry file (a tasks, models or grid YAML file). Exit 2 when anything is
wrong, else 0 with one summary line.

Examples:
  jaft validate
  jaft validate runs/calm2-marc-lr2e-4 data/marc runs/calm2-marc-lr2e-4/eval/epoch-1/predictions.jsonl
  jaft validate mytasks.yaml
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import yaml

from jaft.common import DataError, UsageError, did_you_mean, read_json
from jaft.records import (RECORDS, SPLITS, DataRow, EpochScoresRecord, Grid, PredictionRow, RunRecord, ScoresRecord,
                          check, known_keys, read_record, unknown_keys)

MAX_ROW_PROBLEMS = 20   # a file with a wrong shape is wrong on every line: the first ones, then a count
DATA_KEYS = ("id", "prompt", "response", "references", "meta")
PREDICTION_KEYS = ("id", "raw", "references")
TUNED = "tuned"          # the lr of a `just tune` study's scores.json (its rate is `tuned_lr`)


def add_arguments(verb: str, p) -> None:
    from jaft.cli import user_path
    p.add_argument("paths", nargs="*", type=user_path, metavar="PATH",
                   help="a run folder, its eval/ or eval/epoch-N/ folder, a data folder, a predictions file, a record "
                        "or a registry file (default: the registries only)")


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


# ---- records: run.json, scores.json ----------------------------------------------------------------------------------

def _record(path: Path, kind) -> tuple[dict | None, list[str]]:
    """(the record's data, its problems). A key an older version allowed is read without it; it is still a
    problem here, named with the nearest key. A record jaft refuses still has its names checked."""
    try:
        raw = read_json(path, RECORDS[kind][0])
    except DataError as e:
        return None, [str(e)]
    problems = []
    try:
        read_record(kind, path)
    except DataError as e:
        problems.append(str(e))
    if not isinstance(raw, dict):
        return None, problems
    version = raw.get("schema_version", 0)
    if isinstance(version, int) and version < kind.model_fields["schema_version"].default:
        problems += [_left_out(path, kind, key, version) for key in unknown_keys(kind, raw)]
    return raw, problems


def _left_out(path: Path, kind, key: str, version: int) -> str:
    *parents, last = key.split(".")
    return (f"{path}: unknown key '{key}'{did_you_mean(last, known_keys(kind, parents))} (schema_version "
            f"{version}: read without it; jaft leaves it out when it next writes the file)")


def _names(path: Path, record: dict, what: str) -> list[str]:
    """The model, task, learning rate and variant a record names, against the registries and the grid."""
    models_mod, tasks_mod = _module("recipes.models"), _module("prompts.tasks")
    problems = []

    def closed(key: str, kind: str, value, valid, hint: str = ""):
        if isinstance(value, str) and value not in valid:  # another type: the record's own line says so
            valid = list(valid)
            problems.append(f"{path}: {what}: key '{key}': unknown {kind} '{value}'{did_you_mean(value, valid)} "
                            f"(valid: {', '.join(valid)}{hint})")
    closed("model", "model", record.get("model"), models_mod.MODELS)
    closed("task", "task", record.get("task"), tasks_mod.TASKS)
    lr = record.get("lr")
    if record.get("trial") is not None or lr == TUNED:  # a tuning trial's rate is any rate; a study's is `tuned`
        rate = record.get("tuned_lr") if lr == TUNED else lr
        try:
            if isinstance(rate, str):
                _module("recipes.runs").parse_trial_lr(rate)
        except UsageError as e:
            problems.append(f"{path}: {what}: key '{'tuned_lr' if lr == TUNED else 'lr'}': {e}")
    else:
        closed("lr", "learning rate", lr, models_mod.LEARNING_RATES, "; the grid: recipes/grid.yaml")
    try:
        if isinstance(record.get("variant"), str):
            models_mod.parse_variant(record["variant"])
    except UsageError as e:
        problems.append(f"{path}: {what}: key 'variant': {e}")
    task = tasks_mod.TASKS.get(record["task"]) if isinstance(record.get("task"), str) else None
    if task is not None and record.get("metric") is not None:
        closed("metric", "metric", record["metric"], task.metrics, f"; the metrics of task '{task.name}'")
    return problems


def check_record(path: Path, kind) -> list[str]:
    """run.json or a run's scores.json: the record, and the names it gives; an epoch's scores.json."""
    record, problems = _record(path, kind)
    if record is not None and kind is not EpochScoresRecord:
        problems += _names(path, record, f"run '{path.parent.name}'")
    return problems


def check_run(path: Path) -> list[str]:
    """A run folder (or a study's): its records and names, each epoch's scores and predictions."""
    problems = []
    for name, kind in (("run.json", RunRecord), ("scores.json", ScoresRecord)):
        if (path / name).is_file():
            problems += check_record(path / name, kind)
    return problems + check_evals(path / "eval")


def is_epoch(path: Path) -> bool:
    """An epoch folder of a run (eval/epoch-N/): its per-epoch scores.json, its predictions.jsonl."""
    return path.name.startswith("epoch-") and any((path / n).is_file() for n in ("scores.json", "predictions.jsonl"))


def check_epoch(path: Path) -> list[str]:
    """An epoch folder: its scores.json as the per-epoch record, its predictions.jsonl row by row."""
    problems = []
    if (path / "scores.json").is_file():
        problems += _record(path / "scores.json", EpochScoresRecord)[1]
    if (path / "predictions.jsonl").is_file():
        problems += check_rows(path / "predictions.jsonl", PredictionRow, PREDICTION_KEYS)
    return problems


def check_evals(path: Path) -> list[str]:
    """A run's eval/ folder: each of its epoch folders."""
    return [p for epoch in sorted(path.glob("epoch-*")) if epoch.is_dir() for p in check_epoch(epoch)]


# ---- rows: data folders and predictions files --------------------------------------------------------------------

def _lines(path: Path):
    """(line number, object or the line's problem) for each non-empty line, as jaft.common.read_jsonl reads."""
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                if not line.strip():
                    continue
                obj = json.loads(line)
            except UnicodeDecodeError:
                yield lineno, "not UTF-8 text (save the file as UTF-8)"
                continue
            except (ValueError, RecursionError) as e:
                yield lineno, f"not valid JSON ({getattr(e, 'msg', type(e).__name__)})"
                continue
            yield lineno, obj if isinstance(obj, dict) else "expected a JSON object"


def check_rows(path: Path, kind, required: tuple, task=None) -> list[str]:
    """Each row of a JSONL file as `kind` (one line per bad row, the first MAX_ROW_PROBLEMS, then a count);
    with `task`, a data row's template values are the task's fields."""
    problems, rows = [], 0
    try:
        for lineno, obj in _lines(path):
            rows += 1
            where = f"{path}:{lineno}"
            if isinstance(obj, str):
                problems.append(f"{where}: {obj}")
                continue
            missing = [k for k in required if k not in obj]
            if missing:
                problems.append(f"{where}: missing field {', '.join(missing)}")
                continue
            try:
                row = check(kind, obj, where)
            except DataError as e:
                problems.append(str(e))
                continue
            if task is not None and set(row.meta.fields) != set(task.fields):
                problems.append(f"{where}: key 'meta.fields': has {', '.join(sorted(row.meta.fields))}; task "
                                f"'{task.name}' fills {', '.join(sorted(task.fields))}")
    except OSError as e:
        return [f"{path}: cannot read ({e.strerror or e})"]
    if not rows:
        return [f"{path}: no rows"]
    if len(problems) > MAX_ROW_PROBLEMS:
        problems = problems[:MAX_ROW_PROBLEMS] + [f"{path}: {len(problems) - MAX_ROW_PROBLEMS} more rows with problems"]
    return problems


def _task_of(folder: Path):
    """The task whose data a folder holds: data/<task>/, or a run folder's data/ (its run.json's task)."""
    tasks = _module("prompts.tasks").TASKS
    if folder.name in tasks:
        return tasks[folder.name]
    try:
        return tasks.get(read_record(RunRecord, folder.parent / "run.json").get("task"))
    except (OSError, DataError):
        return None


def check_data(folder: Path) -> list[str]:
    """A data folder: each split file's name is a split, each row a data row of the folder's task."""
    task, problems = _task_of(folder), []
    for split in sorted(folder.glob("*.jsonl")):
        if split.stem not in SPLITS:
            problems.append(f"{split}: '{split.stem}' is not a split{did_you_mean(split.stem, SPLITS)} "
                            f"(valid: {', '.join(SPLITS)})")
        problems += check_rows(split, DataRow, DATA_KEYS, task)
    return problems


def _first_row(path: Path) -> dict:
    try:
        return next((obj for _, obj in _lines(path) if isinstance(obj, dict)), {})
    except OSError:
        return {}


def check_jsonl(path: Path) -> list[str]:
    """A JSONL file: a split of a data folder (its rows have `meta`, no `raw`) or a predictions file."""
    first = _first_row(path)
    if "meta" in first and "raw" not in first:
        return check_rows(path, DataRow, DATA_KEYS, _task_of(path.parent))
    return check_rows(path, PredictionRow, PREDICTION_KEYS)


# ---- any path --------------------------------------------------------------------------------------------------

def check_path(path: Path) -> list[str]:
    if not path.exists():
        return [f"{path}: no such file or folder"]
    if path.is_file():
        if path.name == "run.json":
            return check_record(path, RunRecord)
        if path.name == "scores.json":
            return check_record(path, EpochScoresRecord if path.parent.name.startswith("epoch-") else ScoresRecord)
        if path.suffix == ".jsonl":
            return check_jsonl(path)
        if path.suffix in (".yaml", ".yml"):
            return check_registry_file(path)
        return [f"{path}: not a file jaft checks (run.json, scores.json, *.jsonl, a registry *.yaml)"]
    if is_epoch(path):
        return check_epoch(path)
    if any((path / name).is_file() for name in ("run.json", "recipe.yaml", "scores.json")):
        return check_run(path)
    if any(is_epoch(epoch) for epoch in path.glob("epoch-*")):
        return check_evals(path)
    if any(path.glob("*.jsonl")):
        return check_data(path)
    return [f"{path}: neither a run folder, an eval or epoch folder, a data folder nor a predictions file"]


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
