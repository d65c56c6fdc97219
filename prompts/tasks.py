"""The task registry: `tasks.yaml` plus the byte-exact prompt templates in `templates/`."""
from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from jaft.common import DataError, UsageError, choose
from jaft.records import TaskEntry, check

HERE = Path(__file__).parent
RESPONSE = "{response}"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    splits: tuple
    eval_split: str
    template_file: str
    fields: dict
    id_field: str
    cut_field: str
    label_field: str | None = None
    label_words: tuple = ()
    skip_labels: tuple = ()
    class_ids: tuple = ()
    answers_field: str | None = None
    response_field: str | None = None
    source: dict = field(default_factory=dict)     # where the data comes from: licence, versions -> file URLs
    generate: dict = field(default_factory=dict)   # {max_new_tokens: N, stop: [...]}
    postprocess: str = ""                          # a step registered in eval/postprocess.py
    metrics: tuple = ()                            # registered in eval/metrics.py; the first selects
    table: dict | None = None                      # the report's table for this task, or None
    cluster_field: str | None = None               # examples sharing this field's value resample together
    template_dir: Path = HERE / "templates"        # beside the YAML file that defines the task
    registry_file: Path = HERE / "tasks.yaml"      # the file that defines it: errors about the entry name it

    @property
    def versions(self) -> dict:
        return self.source.get("versions", {})

    def version(self, name: str | None = None) -> tuple[str, dict]:
        """(name, entry) of a source version; None gives the default (the paper's)."""
        if not self.versions:
            raise UsageError(f"task {self.name} has no `source:` to download from; prepare it from local files: "
                             f"`just data {self.name} --from DIR`")
        name = self.source["default"] if name is None else name
        return choose(f"{self.name} version", name, self.versions), self.versions[name]

    @property
    def selection_metric(self) -> str:
        return self.metrics[0]

    @property
    def template(self) -> str:
        return (self.template_dir / self.template_file).read_text(encoding="utf-8")

    @property
    def template_hash(self) -> str:
        return hashlib.sha256(self.template.encode("utf-8")).hexdigest()[:16]

    def render(self, values: dict, response: str = "") -> tuple[str, str]:
        """Fill the template; return (prompt, response_part).

        The prompt is everything before `{response}`; the response part is the answer plus whatever the
        template puts after it (XL-Sum's closing `\"\"\"`, which the model learns to emit and eval stops at).
        A missing placeholder value raises KeyError rather than rendering a blank.
        """
        head, tail = self.template.split(RESPONSE)
        names = {n for _, n, _, _ in string.Formatter().parse(head + tail) if n}
        missing = names - set(values)
        if missing:
            raise KeyError(f"template {self.template_file} needs {sorted(missing)}")
        # One regex pass, not str.format or chained replace: dataset text may itself contain braces.
        def fill(part: str) -> str:
            return PLACEHOLDER.sub(lambda m: values[m.group(1)], part)
        return fill(head), response + fill(tail)


def registry_files(builtin: Path, extra) -> list[Path]:
    """The package's own registry, then a user's extra files (JAFT_TASKS / JAFT_MODELS, os.pathsep-separated,
    read by jaft.settings): a user's private tasks or models live outside the package, and an entry there
    replaces a built-in one."""
    return [builtin, *extra]


def registry_error(message: str) -> DataError:
    """A broken registry: one line (file, entry, key), exit code 2 through the CLI runner."""
    return DataError(message)


def read_registry(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise registry_error(f"{path}: cannot read the registry ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise registry_error(f"{path}: expected a mapping of name -> entry")
    return raw


def read_entries(files, build) -> tuple[dict, list[str]]:
    """Every entry of `files` built by `build(path, name, entry)`, and one line per problem: a file that
    cannot be read, an entry that does not build (`jaft validate` prints them all; a command stops at the
    first)."""
    entries, problems = {}, []
    for path in files:
        try:
            raw = read_registry(path)
        except DataError as e:
            problems.append(str(e))
            continue
        for name, e in raw.items():
            try:
                entries[name] = build(path, name, e)
            except (DataError, UsageError) as err:
                problems.append(str(err))
    return entries, problems


def load_entries(files, build) -> dict:
    """The registry of `files`, or its first problem as a one-line error (exit code 2)."""
    entries, problems = read_entries(files, build)
    if problems:
        raise registry_error(problems[0])
    return entries


class Registry(Mapping):
    """A registry read on first use (not at import), from the files the settings name; read again when the
    settings name other files (a test, the demo). `load(files) -> dict` reads them."""

    def __init__(self, files, load):
        self._files, self._load, self._cache = files, load, None

    def _entries(self) -> dict:
        files = tuple(self._files())
        if self._cache is None or self._cache[0] != files:
            self._cache = (files, self._load(files))
        return self._cache[1]

    def __getitem__(self, name):
        return self._entries()[name]

    def __iter__(self):
        return iter(self._entries())

    def __len__(self):
        return len(self._entries())

    def __repr__(self):
        return f"Registry({list(self)})"


class Names(Sequence):
    """A tuple of names computed from a registry on first use (e.g. the paper's models)."""

    def __init__(self, names):
        self._names = names

    def __getitem__(self, i):
        return tuple(self._names())[i]

    def __len__(self):
        return len(tuple(self._names()))

    def __repr__(self):
        return repr(tuple(self._names()))


def task_files() -> list[Path]:
    from jaft.settings import current
    return registry_files(HERE / "tasks.yaml", current().task_files)


def build_task(path: Path, name: str, raw) -> Task:
    """One entry of the tasks file `path`, checked (its keys, nested blocks and closed sets; its template)."""
    entry = check(TaskEntry, raw, f"{path}: task '{name}'")
    task = _task(name, entry, path)
    if not (task.template_dir / task.template_file).is_file():
        raise registry_error(f"{path}: task '{name}': template {task.template_file} not found in {task.template_dir}")
    return task


def _task(name: str, e: TaskEntry, path: Path) -> Task:
    return Task(
            name=name, title=e.title, splits=tuple(e.splits), eval_split=e.eval_split,
            template_file=e.template, fields=dict(e.fields), id_field=e.id_field, cut_field=e.cut_field,
            label_field=e.label_field, label_words=tuple(e.label_words),
            skip_labels=tuple(e.skip_labels), class_ids=tuple(e.class_ids),
            answers_field=e.answers_field, response_field=e.response_field,
            # the keys the entry gives, and only those (prompts/sources.py checks a file's `bytes` if given)
            source=e.source.model_dump(exclude_none=True) if e.source else {},
            generate=e.generate.model_dump(exclude_unset=True), postprocess=e.postprocess,
            metrics=tuple(e.metrics), table=e.table.model_dump() if e.table else None,
            cluster_field=e.cluster_field, template_dir=path.parent / "templates", registry_file=path,
        )


TASKS: Mapping[str, Task] = Registry(task_files, lambda files: load_entries(files, build_task))


def get_task(name: str) -> Task:
    return TASKS[choose("task", name, TASKS)]
