"""The task registry: `tasks.yaml` plus the byte-exact prompt templates in `templates/`."""
from __future__ import annotations

import hashlib
import os
import re
import sys
import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from jaft.common import UsageError, choose

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


REQUIRED = ("title", "splits", "eval_split", "template", "fields", "id_field", "cut_field", "generate",
            "postprocess", "metrics")


def registry_files(builtin: Path, variable: str) -> list[Path]:
    """The package's own registry, then any extra files named in `variable` (os.pathsep-separated): a
    user's private tasks or models live outside the package, and an entry there replaces a built-in one."""
    extra = [Path(p) for p in os.environ.get(variable, "").split(os.pathsep) if p.strip()]
    return [builtin, *extra]


def registry_error(message: str) -> SystemExit:
    """A broken registry is found at import, before any CLI runner: one line, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return SystemExit(2)


def read_registry(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise registry_error(f"{path}: cannot read the registry ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise registry_error(f"{path}: expected a mapping of name -> entry")
    return raw


def _load() -> dict[str, Task]:
    tasks = {}
    for path in registry_files(HERE / "tasks.yaml", "JAFT_TASKS"):
        for name, e in read_registry(path).items():
            missing = [k for k in REQUIRED if k not in e]
            if missing:
                raise registry_error(f"{path}: task '{name}' lacks {', '.join(missing)}")
            tasks[name] = _task(name, e, path.parent / "templates")
            if not (tasks[name].template_dir / tasks[name].template_file).is_file():
                raise registry_error(f"{path}: task '{name}': template {tasks[name].template_file} not found "
                                     f"in {tasks[name].template_dir}")
    return tasks


def _task(name: str, e: dict, template_dir: Path) -> Task:
    return Task(
            name=name, title=e["title"], splits=tuple(e["splits"]), eval_split=e["eval_split"],
            template_file=e["template"], fields=e["fields"], id_field=e["id_field"], cut_field=e["cut_field"],
            label_field=e.get("label_field"), label_words=tuple(e.get("label_words", ())),
            skip_labels=tuple(e.get("skip_labels", ())), class_ids=tuple(e.get("class_ids", ())),
            answers_field=e.get("answers_field"), response_field=e.get("response_field"),
            source=e.get("source", {}),
            generate=e["generate"], postprocess=e["postprocess"], metrics=tuple(e["metrics"]),
            table=e.get("table"), cluster_field=e.get("cluster_field"), template_dir=template_dir,
        )


TASKS: dict[str, Task] = _load()


def get_task(name: str) -> Task:
    return TASKS[choose("task", name, TASKS)]
