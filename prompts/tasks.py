"""The task registry: `tasks.yaml` plus the byte-exact prompt templates in `templates/`."""
from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from jaft.common import choose

HERE = Path(__file__).parent
RESPONSE = "{response}"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    hub: dict
    splits: dict
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
    jglue_files: dict = field(default_factory=dict)

    @property
    def template(self) -> str:
        return (HERE / "templates" / self.template_file).read_text(encoding="utf-8")

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


def _load() -> dict[str, Task]:
    raw = yaml.safe_load((HERE / "tasks.yaml").read_text(encoding="utf-8"))
    tasks = {}
    for name, e in raw.items():
        tasks[name] = Task(
            name=name, title=e["title"], hub=e["hub"], splits=e["splits"], eval_split=e["eval_split"],
            template_file=e["template"], fields=e["fields"], id_field=e["id_field"], cut_field=e["cut_field"],
            label_field=e.get("label_field"), label_words=tuple(e.get("label_words", ())),
            skip_labels=tuple(e.get("skip_labels", ())), class_ids=tuple(e.get("class_ids", ())),
            answers_field=e.get("answers_field"), response_field=e.get("response_field"),
            jglue_files=e.get("jglue_files", {}),
        )
    return tasks


TASKS: dict[str, Task] = _load()


def get_task(name: str) -> Task:
    return TASKS[choose("task", name, TASKS)]
