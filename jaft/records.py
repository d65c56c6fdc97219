"""Typed records: the shape of every file jaft reads back (a task entry, a model entry, run.json, scores.json).

Each is a pydantic model that refuses an unknown key and a value outside a closed set; `check(...)` turns
pydantic's error into one line naming the file, the entry, the key and the nearest valid name:

    prompts/tasks.yaml: task 'marc': unknown key 'eval_splt'; did you mean 'eval_split'?

run.json and scores.json carry `schema_version`; a record without one was written by the jaft before
records had versions and is read as version 0, migrated in memory (`migrate_*`). A version newer than this
jaft knows is refused in one line (update jaft). docs/structure.md lists the records and their versions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jaft.common import DataError, did_you_mean

# ---- closed sets: one list each, extended by adding a name ---------------------------------------------------
# Model families the memory planner and the recipes know (a new family: its name here + its memory formula).
ARCHS = ["llama", "gpt2", "qwen2", "qwen3", "gemma2"]
SPLITS = ["train", "validation", "test"]
ATTENTION = ["eager", "sdpa", "flash_attention_2"]
ADAPTERS = ["lora", "qlora"]
# pruned: a `just tune` trial the tuner stopped after an epoch (pipeline/tune.py)
RUN_STATUS = ["running", "finished", "failed", "interrupted", "pruned"]

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


class Generate(Record):
    max_new_tokens: int = Field(ge=1)
    stop: list[str] = []


class TaskEntry(Record):
    """One entry of prompts/tasks.yaml (or a JAFT_TASKS file)."""
    title: str
    source: dict[str, Any] = {}
    splits: list[str]
    eval_split: str
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
    table: dict[str, Any] | None = None
    cluster_field: str | None = None   # examples sharing this field's value resample together

    @field_validator("splits")
    @classmethod
    def _splits(cls, value):
        for s in value:
            _closed("split", SPLITS)(s)
        return value

    _eval_split = field_validator("eval_split")(classmethod(lambda cls, v: _closed("split", SPLITS)(v)))


class ModelEntry(Record):
    """One entry of recipes/models.yaml (or a JAFT_MODELS file)."""
    hub_id: str | None
    display: str
    arch: str
    size: str
    shape: dict[str, int] | None = None            # optional when `architecture` gives the facts
    lora_targets: list[str] = Field(min_length=1)
    native_context: int = Field(ge=1)
    train_len: int = Field(ge=1)
    infer_len: int = Field(ge=1)
    liger: bool
    trust_remote_code: bool
    cpu: bool = False
    paper_attn: str = "eager"
    recipe_overrides: dict[str, Any] = {}
    paper: bool = False
    paper_variants: dict[str, list[str]] = {}
    group: str | None = None                       # e.g. `successors`: a set of models swept together
    architecture: dict[str, Any] | None = None     # config.json facts (recipes/architecture.py checks them)
    license: str | None = None
    adapter: str = "lora"

    _adapter = field_validator("adapter")(classmethod(lambda cls, v: _closed("adapter", ADAPTERS)(v)))

    _arch = field_validator("arch")(classmethod(lambda cls, v: _closed("arch", ARCHS)(v)))
    _attn = field_validator("paper_attn")(classmethod(lambda cls, v: _closed("attention", ATTENTION)(v)))


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
    status: str | None = None

    _status = field_validator("status")(classmethod(lambda cls, v: _closed("status", RUN_STATUS)(v)))


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


def one_line(error: ValidationError, where: str) -> str:
    """pydantic's error as one line: `where: key 'x': what is wrong` (unknown keys with the nearest name)."""
    parts, missing = [], []
    for err in error.errors():
        loc = [str(x) for x in err.get("loc", ())]
        key = ".".join(loc) or "entry"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}'{did_you_mean(loc[-1], _known_keys(error, loc))}")
        elif err["type"] == "missing":
            missing.append(key)
        else:
            msg = err.get("msg", "?").removeprefix("Value error, ")
            parts.append(f"key '{key}': {msg}")
    if missing:
        parts.insert(0, f"lacks {', '.join(missing)}")
    return f"{where} " + "; ".join(parts) if missing and not parts[1:] else f"{where}: " + "; ".join(parts)


_MODELS = {}


def _known_keys(error: ValidationError, loc: list[str]) -> list[str]:
    model = _MODELS.get(error.title)
    for part in loc[:-1]:  # a nested record (generate.stop)
        field = model.model_fields.get(part) if model else None
        ann = getattr(field, "annotation", None)
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return list(model.model_fields) if model else []


for _m in (Generate, TaskEntry, ModelEntry, Grid, RunRecord, ScoresRecord):
    _MODELS[_m.__name__] = _m


def check(kind: type[BaseModel], data, where: str):
    """`kind` built from `data`, or a one-line DataError naming `where` (file and entry)."""
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return kind.model_validate(data)
    except ValidationError as e:
        raise DataError(one_line(e, where)) from None


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
