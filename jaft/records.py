"""Typed records: the shape of every file jaft reads back (a task entry, a model entry, the grid, run.json, a
run's scores.json and an epoch's scores.json, a data row and a predictions row).

Each is a pydantic model that refuses an unknown key and a value outside a closed set, nested blocks
included; `check(...)` turns pydantic's error into one line naming the file, the entry, the key and the
nearest valid name:

    prompts/tasks.yaml: task 'marc': unknown key 'table.metrcs'; did you mean 'metrics'?

run.json and both scores.json carry `schema_version`. They are read and written only through
`read_*` / `write_*` here: a read migrates an older version in memory (`migrate_*`) and checks the result;
a write checks the record and writes it atomically. A version newer than this jaft knows is refused in one
line (update jaft). docs/structure.md lists the records and their versions.
"""
from __future__ import annotations

import copy
import types
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jaft.common import DataError, atomic_write_json, did_you_mean, read_json

# ---- closed sets: one list each, extended by adding a name ---------------------------------------------------
# Model families the memory planner and the recipes know (a new family: its name here + its memory formula).
ARCHS = ["llama", "gpt2", "qwen2", "qwen3", "gemma2"]
SPLITS = ["train", "validation", "test"]
ATTENTION = ["eager", "sdpa", "flash_attention_2"]
ADAPTERS = ["lora", "qlora"]
# pruned: a `just tune` trial the tuner stopped after an epoch (pipeline/tune.py)
RUN_STATUS = ["running", "finished", "failed", "interrupted", "pruned"]
BOLD = ["row", "block"]                                    # report/tables.py: bold the best of a row or a block
RULES = ["task-metric", "val-loss", "tuning-split"]        # how scores.json selects its best epoch

# 2: every key typed and no other allowed (1 and 0 were open: an unknown key was kept, unread).
RUN_SCHEMA = 2
SCORES_SCHEMA = 2
EPOCH_SCORES_SCHEMA = 1   # eval/epoch-<k>/scores.json; 0: written before it had a version (same keys)


class Record(BaseModel):
    """A strict record: an unknown key is an error, not silently ignored."""
    model_config = ConfigDict(extra="forbid", frozen=True)


def _closed(kind: str, valid: list[str]):
    def check(value):
        if value is not None and value not in valid:
            raise ValueError(f"unknown {kind} '{value}'{did_you_mean(value, valid)} (valid: {', '.join(valid)})")
        return value
    return check


Split = Annotated[str, AfterValidator(_closed("split", SPLITS))]
Positive = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Number = int | float   # an int stays an int (written back as it was read)


# ---- the task registry: prompts/tasks.yaml, JAFT_TASKS files ---------------------------------------------------

class Generate(Record):
    max_new_tokens: int = Field(ge=1)
    stop: list[str] = []


class SourceFile(Record):
    """One split's published file and the facts known about it (prompts/sources.py checks a download)."""
    url: str
    rows: Count | None = None
    bytes: Count | None = None
    sha256: str | None = None
    git_blob: str | None = None


class SourceVersion(Record):
    origin: dict[str, str | int | None] = {}   # where it is published: copied into source.json and the card
    files: dict[Split, SourceFile] = Field(min_length=1)


class Source(Record):
    """Where a task's data comes from (prompts/sources.py, prompts/data.py, report/card.py)."""
    licence: str
    default: str | None = None                 # the version `just data` downloads without --version
    versions: dict[str, SourceVersion] = {}
    local_files: dict[Split, str] = {}         # other names `--from DIR` accepts for a split

    @model_validator(mode="after")
    def _default_is_a_version(self):
        if self.versions and self.default not in self.versions:
            names = list(self.versions)
            said = "no default version" if self.default is None else f"default {self.default!r} is not a version"
            raise ValueError(f"{said}{did_you_mean(self.default, names) if self.default else ''} "
                             f"(valid: {', '.join(names)})")
        return self


class Table(Record):
    """Where a task's results go in the report (report/tables.py)."""
    name: str
    title: str
    metrics: list[str] = Field(min_length=1)   # shown in each cell; the last decides bold
    scale: float = Field(gt=0)
    digits: int = Field(ge=0, le=10)
    bold: Annotated[str, AfterValidator(_closed("bold", BOLD))] = "row"
    lengths: bool = False                      # train/inference length columns (Table 6)


class TaskEntry(Record):
    """One entry of prompts/tasks.yaml (or a JAFT_TASKS file)."""
    title: str
    source: Source | None = None
    splits: list[Split]
    eval_split: Split
    template: str
    fields: dict[str, str]
    id_field: str
    cut_field: str
    label_field: str | None = None
    label_words: list[str] = []
    skip_labels: list[str] = []
    class_ids: list[str] = []
    answers_field: str | None = None
    response_field: str | None = None
    generate: Generate
    postprocess: str       # a step registered in eval/postprocess.py (checked there and by `jaft validate`)
    metrics: list[str] = Field(min_length=1)   # registered in eval/metrics.py; the first selects
    table: Table | None = None
    cluster_field: str | None = None   # examples sharing this field's value resample together

    @model_validator(mode="after")
    def _consistent(self):
        """A source version lacking one of the task's splits: `just data` would fail after the downloads. (A
        table showing a metric the task does not score is `jaft validate`'s, beside the metrics' names.)"""
        for name, version in (self.source.versions if self.source else {}).items():
            missing = [s for s in self.splits if s not in version.files]
            if missing:
                raise ValueError(f"key 'source.versions.{name}.files': lacks split {missing[0]!r} "
                                 f"(the task's splits: {', '.join(self.splits)})")
        return self


# ---- the model registry: recipes/models.yaml, JAFT_MODELS files --------------------------------------------------

class Shape(Record):
    """What the memory planner counts (recipes/memory.py), and the tiny model's size (recipes/tiny.py)."""
    hidden: Positive
    layers: Positive
    heads: Positive
    intermediate: Positive
    vocab: Positive


class ModelEntry(Record):
    """One entry of recipes/models.yaml (or a JAFT_MODELS file). `architecture` is checked key by key by
    recipes/architecture.py (`Architecture`, as strict as this), `recipe_overrides` against Axolotl's keys
    and `paper_variants` against the variants by recipes/models.py; its task names by `jaft validate`."""
    hub_id: str | None
    display: str
    arch: Annotated[str, AfterValidator(_closed("arch", ARCHS))]
    size: str
    shape: Shape | None = None                     # optional when `architecture` gives the facts
    lora_targets: list[str] = Field(min_length=1)
    native_context: Positive
    train_len: Positive
    infer_len: Positive
    liger: bool
    trust_remote_code: bool
    cpu: bool = False
    paper_attn: Annotated[str, AfterValidator(_closed("attention", ATTENTION))] = "eager"
    recipe_overrides: dict[str, Any] = {}          # Axolotl recipe keys (recipes/axolotl_keys.txt)
    paper: bool = False
    paper_variants: dict[str, list[str]] = {}      # task -> extra variants of the grid (len<N>, full, qlora)
    group: str | None = None                       # e.g. `successors`: a set of models swept together
    architecture: dict[str, Any] | None = None     # config.json facts (recipes/architecture.py checks them)
    license: str | None = None
    adapter: Annotated[str, AfterValidator(_closed("adapter", ADAPTERS))] = "lora"

    @model_validator(mode="after")
    def _facts(self):
        if self.shape is None and self.architecture is None:
            raise ValueError("lacks shape (or architecture): the memory planner needs one")
        return self


class Grid(Record):
    """recipes/grid.yaml: the learning rates of the grid, as the paper writes them; the tables' columns."""
    learning_rates: list[str] = Field(min_length=1)

    @field_validator("learning_rates")
    @classmethod
    def _rates(cls, value):
        for text in value:
            try:
                rate = float(text)
            except ValueError:
                raise ValueError(f"'{text}' is not a number (write rates as the paper does, e.g. 2e-4)") from None
            if not 0 < rate < 1:
                raise ValueError(f"'{text}' is not a learning rate between 0 and 1")
        if len(set(map(float, value))) != len(value):
            raise ValueError("a learning rate is listed twice")
        return value


# ---- runs/<run-id>/run.json ------------------------------------------------------------------------------------

class Cost(Record):
    """run.json `cost` (recipes/cost.py `combine`)."""
    wall_s: Number | None = None
    device: str | None = None
    gpus: Count | None = None
    gpu_hours: Number | None = None
    peak_mem_mib: Number | None = None
    peak_mem_of: str | None = None
    tokens: Count | None = None
    tokens_per_s: Number | None = None
    sessions: Count | None = None


class CostSession(Record):
    started: Number   # wall-clock seconds: a session killed with its jaft still counts (recipes/cost.py)


class MlflowRun(Record):
    run_id: str
    experiment_id: str | None = None
    tracking_uri: str | None = None


class WandbRun(Record):
    run_id: str
    project: str | None = None
    entity: str | None = None
    epochs_logged: list[int] = []


class Tracking(Record):
    """run.json `tracking`: the tracker runs of this run (recipes/tracking.py)."""
    mlflow: MlflowRun | None = None
    wandb: WandbRun | None = None


class RunRecord(Record):
    """runs/<run-id>/run.json: what a run is, what it was made with, where it stands. Written by
    recipes/train.py (and `manifest.update` from the watchdog, the sweep, the cluster, eval's tracking)."""
    schema_version: int = RUN_SCHEMA
    run_id: str
    status: Annotated[str, AfterValidator(_closed("status", RUN_STATUS))]
    updated: str | None = None
    model: str | None = None
    task: str | None = None
    lr: str | None = None
    variant: str | None = None
    trial: Count | None = None
    base_model: str | None = None
    dataset: dict[str, Any] | None = None           # the task's source.json, copied (provenance)
    prompt_template: str | None = None
    prompt_template_sha256: str | None = None
    # the recipe's values as Axolotl reads them (recipes/manifest.py EFFECTIVE_KEYS; null: Axolotl's default)
    learning_rate: Number | None = None
    lora_r: Number | None = None
    lora_alpha: Number | None = None
    lora_dropout: Number | None = None
    lora_target_modules: list[str] | str | None = None
    sequence_len: Number | None = None
    micro_batch_size: Number | None = None
    gradient_accumulation_steps: Number | None = None
    num_epochs: Number | None = None
    seed: int | None = None
    attn_implementation: str | None = None
    gradient_checkpointing: bool | str | None = None
    vram_cap_mb: Number | None = None
    rows: dict[Split, dict[str, int]] | None = None  # per split: rows kept, shortened, dropped
    versions: dict[str, str | None] | None = None    # python and each package
    resumed: bool | None = None
    started: str | None = None
    finished: str | None = None
    epochs_saved: Count | None = None
    identity: dict[str, Any] | None = None          # compared whole before a resume (recipes/resume.py)
    error: str | None = None
    eval_error: str | None = None
    cost: Cost | None = None
    cost_session: CostSession | None = None
    tracking: Tracking | None = None


# ---- runs/<run-id>/scores.json and runs/<run-id>/eval/epoch-<k>/scores.json -------------------------------------

class Diagnostic(Record):
    count: Count | None = None
    share: Number | None = None
    what: str


class Epoch(Record):
    """One epoch of a run's scores.json (`epochs`, `best`, `best_by_val_loss`: eval/runner.py)."""
    epoch: Positive
    n: Count | None = None
    limit: Positive | None = None
    metrics: dict[str, Number]
    diagnostics: dict[str, Diagnostic] | None = None
    val_loss: Number | None = None
    eval_wall_s: Number | None = None
    eval_examples_per_s: Number | None = None
    rule: Annotated[str | None, AfterValidator(_closed("selection rule", RULES))] = None


class Fingerprint(Record):
    """A checkpoint's weights, recorded beside every score made from them (recipes/manifest.py)."""
    checkpoint: str | None = None
    weights: str | None = None
    bytes: Count | None = None
    mtime_ns: int | None = None
    sha256: str | None = None


class ScoresRecord(Record):
    """runs/<run-id>/scores.json: every epoch's metrics and the best epoch (eval/runner.py `run_scores`);
    a `just tune` study's (pipeline/trial.py `final`) has lr `tuned` and the keys after `rules`."""
    schema_version: int = SCORES_SCHEMA
    run_id: str | None = None
    model: str
    task: str
    lr: str
    variant: str | None = None
    seed: int | None = None
    split: Split | None = None
    metric: str | None = None
    epochs: list[Epoch] = []
    best: Epoch | None = None
    best_by_val_loss: Epoch | None = None
    selection_rule: Annotated[str | None, AfterValidator(_closed("selection rule", RULES))] = None
    rules: dict[str, str] | None = None
    tuned_lr: str | None = None
    rank: int | None = None
    trial_run: str | None = None
    checkpoint_fingerprint: Fingerprint | None = None
    tuning: dict[str, Any] | None = None            # the study's choice: trial, value, rows, seed, lr, rank


class EpochScoresRecord(Record):
    """runs/<run-id>/eval/epoch-<k>/scores.json: one epoch's scores and what made them (eval/runner.py)."""
    schema_version: int = EPOCH_SCORES_SCHEMA
    epoch: Positive
    split: Split | None = None
    n: Count
    metrics: dict[str, Number]
    diagnostics: dict[str, Diagnostic] | None = None
    checkpoint: str | None = None
    checkpoint_fingerprint: Fingerprint | None = None
    prompts_shortened: Count | None = None
    prompts_dropped: Count | None = None
    max_new_tokens: Positive | None = None
    backend: str | None = None
    limit: Positive | None = None
    inputs: dict[str, Any] | None = None            # data and generation settings, compared whole (eval/inputs.py)
    wall_s: Number | None = None
    generated: Count | None = None
    examples_per_s: Number | None = None


# ---- rows: data/<task>/<split>.jsonl and predictions.jsonl --------------------------------------------------------

class Meta(Record):
    fields: dict[str, str]          # the template's values (prompts/data.py)
    cut_chars: Count | None = None  # a fitted row (prompts/fit.py): characters cut from the cut field
    cut_from: Count | None = None


class DataRow(Record):
    """One line of data/<task>/<split>.jsonl (prompts/data.py `to_example`)."""
    id: str
    prompt: str
    response: str
    references: list[str] = Field(min_length=1)
    meta: Meta


class PredictionRow(Record):
    """One line of predictions.jsonl (eval/predictions.py FIELDS; a file scored by `jaft score` needs id,
    raw and references)."""
    id: str | int
    raw: str
    references: list[str] = Field(min_length=1)
    prompt: str | None = None
    new_tokens: Count | None = None
    prediction: str | None = None
    label_loglik: dict[str, Number] | None = None
    cluster: str | None = None


# ---- one-line errors ---------------------------------------------------------------------------------------------

def one_line(error: ValidationError, where: str, kind: type[BaseModel] | None = None, prefix: str = "") -> str:
    """pydantic's error as one line: `where: key 'x': what is wrong` (unknown keys with the nearest name).
    `prefix`: where the checked block sits in its entry (`architecture`)."""
    kind = kind or _MODELS.get(error.title)
    parts, missing = [], []
    for err in error.errors():
        loc = [str(x) for x in err.get("loc", ()) if x != "[key]"]
        key = ".".join([prefix, *loc] if prefix else loc) or prefix or "entry"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}'{did_you_mean(loc[-1], known_keys(kind, loc[:-1]))}")
        elif err["type"] == "missing":
            missing.append(key)
        else:
            msg = err.get("msg", "?").removeprefix("Value error, ")
            parts.append(msg if not loc and msg.startswith(("key '", "lacks ")) else f"key '{key}': {msg}")
    if missing:
        parts.insert(0, f"lacks {', '.join(missing)}")
    return f"{where} " + "; ".join(parts) if missing and not parts[1:] else f"{where}: " + "; ".join(parts)


def _inner(ann):
    """The record, dict or list inside Optional[...] / Annotated[...]."""
    while True:
        origin = typing.get_origin(ann)
        if origin is Annotated:
            ann = typing.get_args(ann)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            nested = [a for a in args if typing.get_origin(a) in (dict, list) or
                      (isinstance(a, type) and issubclass(a, BaseModel))]
            if not nested:
                return ann
            ann = nested[0]
        else:
            return ann


def known_keys(kind: type[BaseModel] | None, path: list[str]) -> list[str]:
    """The keys of the record at `path` inside `kind` (through nested records, dicts and lists)."""
    ann = kind
    for part in path:
        ann = _inner(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(part)
            if field is None:
                return []
            ann = field.annotation
        elif typing.get_origin(ann) in (dict, list):
            ann = typing.get_args(ann)[-1]
        else:
            return []
    ann = _inner(ann)
    return list(ann.model_fields) if isinstance(ann, type) and issubclass(ann, BaseModel) else []


_MODELS = {m.__name__: m for m in (Generate, TaskEntry, ModelEntry, Grid, RunRecord, ScoresRecord,
                                   EpochScoresRecord, DataRow, PredictionRow)}


def check(kind: type[BaseModel], data, where: str):
    """`kind` built from `data`, or a one-line DataError naming `where` (file and entry)."""
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return kind.model_validate(data)
    except ValidationError as e:
        raise DataError(one_line(e, where, kind)) from None


def unknown_keys(kind: type[BaseModel], data, path: tuple = ()) -> list[str]:
    """Every key of `data` (nested records included) that `kind` does not know, as dotted paths."""
    if not isinstance(data, dict):
        return []
    out = []
    for key, value in data.items():
        field = kind.model_fields.get(key)
        if field is None:
            out.append(".".join([*path, str(key)]))
            continue
        out += _unknown_in(field.annotation, value, (*path, str(key)))
    return out


def _unknown_in(ann, value, path: tuple) -> list[str]:
    ann = _inner(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return unknown_keys(ann, value, path)
    if typing.get_origin(ann) is dict and isinstance(value, dict):
        return [k for key, v in value.items() for k in _unknown_in(typing.get_args(ann)[1], v, (*path, str(key)))]
    if typing.get_origin(ann) is list and isinstance(value, list):
        return [k for i, v in enumerate(value) for k in _unknown_in(typing.get_args(ann)[0], v, (*path, str(i)))]
    return []


def _without(data, dotted: list[str]) -> dict:
    """`data` with the keys at the dotted paths removed (a copy; `data` is left as it is)."""
    data = copy.deepcopy(data)
    for key in dotted:
        *parents, last = key.split(".")
        node = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node.pop(last, None)
    return data


# ---- versions ----------------------------------------------------------------------------------------------------

def _versioned(data: dict, path: Path | str, what: str, newest: int) -> int:
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise DataError(f"{path}: damaged {what} (schema_version {version!r}); repair or delete it")
    if version > newest:
        raise DataError(f"{path}: {what} schema_version {version} is newer than this jaft reads ({newest}); "
                        f"update jaft (git pull, then `bash setup.sh`)")
    return version


def _open_to_strict(data: dict, kind: type[BaseModel], version: int, newest: int) -> dict:
    """Versions 0 and 1 of run.json and scores.json were open records: a key jaft did not know was kept and
    never read. They had today's keys (no key was renamed or removed), so the step to version 2 only leaves
    out the unknown ones (`jaft validate` names them) and sets the version."""
    if version < 2:
        data = _without(data, unknown_keys(kind, data))
    return {**data, "schema_version": newest}


def migrate_run(data: dict, path: Path | str = "run.json") -> dict:
    """A run.json of any known version, as the current version (in memory; the file is not rewritten)."""
    version = _versioned(data, path, "run.json", RUN_SCHEMA)
    return _open_to_strict(data, RunRecord, version, RUN_SCHEMA)


def migrate_scores(data: dict, path: Path | str = "scores.json") -> dict:
    """A run's scores.json of any known version, as the current version (in memory)."""
    version = _versioned(data, path, "scores.json", SCORES_SCHEMA)
    return _open_to_strict(data, ScoresRecord, version, SCORES_SCHEMA)


def migrate_epoch_scores(data: dict, path: Path | str = "scores.json") -> dict:
    """An epoch's scores.json: version 0 (none written) had today's keys; only the version is added."""
    _versioned(data, path, "scores.json", EPOCH_SCORES_SCHEMA)
    return {**data, "schema_version": EPOCH_SCORES_SCHEMA}


# ---- reading and writing: the only way these files are touched -------------------------------------------------

RECORDS = {  # kind -> (what the file is called in errors, migration)
    RunRecord: ("run.json", migrate_run),
    ScoresRecord: ("scores.json", migrate_scores),
    EpochScoresRecord: ("scores.json", migrate_epoch_scores),
}


def from_data(kind: type[BaseModel], data, path: Path | str) -> dict:
    """A record's data as read from `path`: migrated to the current version, checked, as a plain dict (the
    keys the file has, values typed)."""
    what, migrate = RECORDS[kind]
    if not isinstance(data, dict):
        raise DataError(f"{path}: damaged {what} (not a JSON object); repair or delete it")
    return check(kind, migrate(data, path), str(path)).model_dump(exclude_unset=True)


def read_record(kind: type[BaseModel], path: Path | str) -> dict:
    return from_data(kind, read_json(path, RECORDS[kind][0]), path)


def write_record(kind: type[BaseModel], path: Path | str, data: dict) -> dict:
    """Check `data` as the current version of `kind` and write it atomically; returns what was written. A
    record jaft could not read back is never written."""
    record = check(kind, {**data, "schema_version": kind.model_fields["schema_version"].default}, str(path))
    out = record.model_dump(exclude_unset=True)
    atomic_write_json(path, out)
    return out


def read_run(path: Path | str) -> dict:
    return read_record(RunRecord, path)


def write_run(path: Path | str, data: dict) -> dict:
    return write_record(RunRecord, path, data)


def read_scores(path: Path | str) -> dict:
    return read_record(ScoresRecord, path)


def write_scores(path: Path | str, data: dict) -> dict:
    return write_record(ScoresRecord, path, data)


def read_epoch_scores(path: Path | str) -> dict:
    return read_record(EpochScoresRecord, path)


def write_epoch_scores(path: Path | str, data: dict) -> dict:
    return write_record(EpochScoresRecord, path, data)


def run_record(data: dict, path: Path | str) -> dict:
    """run.json's data read back: migrated, checked, as a plain dict."""
    return from_data(RunRecord, data, path)


def scores_record(data: dict, path: Path | str) -> dict:
    return from_data(ScoresRecord, data, path)
