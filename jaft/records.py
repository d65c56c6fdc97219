"""Typed records: the shape of every file jaft reads back (a task entry, a model entry, the grid, run.json,
scores.json).

Each is a pydantic model that refuses an unknown key and a value outside a closed set, nested blocks
included; `check(...)` turns pydantic's error into one line naming the file, the entry, the key and the
nearest valid name:

    prompts/tasks.yaml: task 'marc': unknown key 'table.metrcs'; did you mean 'metrics'?

run.json and scores.json carry `schema_version`; a record without one was written by the jaft before
records had versions and is read as version 0, migrated in memory (`migrate_*`). A version newer than this
jaft knows is refused in one line (update jaft). docs/structure.md lists the records and their versions.
"""
from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jaft.common import DataError, did_you_mean

# ---- closed sets: one list each, extended by adding a name ---------------------------------------------------
# Model families the memory planner and the recipes know (a new family: its name here + its memory formula).
ARCHS = ["llama", "gpt2", "qwen2", "qwen3", "gemma2"]
SPLITS = ["train", "validation", "test"]
ATTENTION = ["eager", "sdpa", "flash_attention_2"]
ADAPTERS = ["lora", "qlora"]
# pruned: a `just tune` trial the tuner stopped after an epoch (pipeline/tune.py)
RUN_STATUS = ["running", "finished", "failed", "interrupted", "pruned"]
BOLD = ["row", "block"]                                    # report/tables.py: bold the best of a row or a block

RUN_SCHEMA = 1
SCORES_SCHEMA = 1


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


# ---- runs/<run-id>/run.json and scores.json -------------------------------------------------------------------

class RunRecord(BaseModel):
    """runs/<run-id>/run.json. Open to keys later jafts add (extra allowed, kept), typed where it is read."""
    model_config = ConfigDict(extra="allow")
    schema_version: int = RUN_SCHEMA
    run_id: str | None = None
    model: str | None = None
    task: str | None = None
    lr: str | None = None
    variant: str | None = None
    seed: int | None = None
    status: Annotated[str | None, AfterValidator(_closed("status", RUN_STATUS))] = None


class ScoresRecord(BaseModel):
    """runs/<run-id>/scores.json: every epoch's metrics and the best epoch."""
    model_config = ConfigDict(extra="allow")
    schema_version: int = SCORES_SCHEMA
    run_id: str | None = None
    model: str
    task: str
    lr: str
    variant: str | None = None
    epochs: list[dict[str, Any]] | dict[str, Any] = []


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


_MODELS = {m.__name__: m for m in (Generate, TaskEntry, ModelEntry, Grid, RunRecord, ScoresRecord)}


def check(kind: type[BaseModel], data, where: str):
    """`kind` built from `data`, or a one-line DataError naming `where` (file and entry)."""
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return kind.model_validate(data)
    except ValidationError as e:
        raise DataError(one_line(e, where, kind)) from None


# ---- versions --------------------------------------------------------------------------------------------------

def _versioned(data: dict, path: Path | str, what: str, newest: int) -> dict:
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or version < 0:
        raise DataError(f"{path}: damaged {what} (schema_version {version!r}); repair or delete it")
    if version > newest:
        raise DataError(f"{path}: {what} schema_version {version} is newer than this jaft reads ({newest}); "
                        f"update jaft (git pull, then `bash setup.sh`)")
    return data


def migrate_run(data: dict, path: Path | str = "run.json") -> dict:
    """A run.json of any known version, as the current version (in memory; the file is not rewritten).
    Version 0 (no schema_version) had the same keys: only the version is added."""
    data = _versioned(data, path, "run.json", RUN_SCHEMA)
    return {**data, "schema_version": RUN_SCHEMA}


def migrate_scores(data: dict, path: Path | str = "scores.json") -> dict:
    """A scores.json of any known version, as the current version (in memory)."""
    data = _versioned(data, path, "scores.json", SCORES_SCHEMA)
    return {**data, "schema_version": SCORES_SCHEMA}


def run_record(data: dict, path: Path | str) -> dict:
    """run.json read back: migrated, checked (status in its closed set), as a plain dict."""
    migrated = migrate_run(data, path)
    check(RunRecord, migrated, str(path))
    return migrated


def scores_record(data: dict, path: Path | str) -> dict:
    migrated = migrate_scores(data, path)
    check(ScoresRecord, migrated, str(path))
    return migrated
