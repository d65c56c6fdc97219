"""Turn a task's dataset (hub or local files in the hub's schema) into `data/<task>/<split>.jsonl`.

Each output line: id, prompt, response, references, meta (the dataset's own fields, untouched, so that a
later stage can shorten the cut field and render again). Text goes in unchanged: no normalisation.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

from jaft.common import atomic_write_jsonl, data_root, read_jsonl
from jaft.common import DataError
from prompts.tasks import Task

Row = tuple[str, dict]  # (where: "file:line", hub-schema record)


def _text(row: dict, column: str, where: str) -> str:
    if column not in row:
        raise DataError(f"{where}: missing field '{column}'")
    value = row[column]
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: empty or non-text field '{column}'")
    return value


def _label(task: Task, row: dict, where: str) -> str:
    if task.label_field not in row:
        raise DataError(f"{where}: missing field '{task.label_field}'")
    raw = row[task.label_field]
    # The hub stores ClassLabel ids (0 positive, 1 negative, 2 neutral); JGLUE's files store the words.
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < len(task.class_ids):
        raw = task.class_ids[raw]
    if raw in task.label_words or raw in task.skip_labels:
        return raw
    valid = list(task.label_words) + list(task.skip_labels)
    raise DataError(f"{where}: label {raw!r} is not one of {valid} (or their class ids)")


def to_example(task: Task, row: dict, where: str, index: int) -> dict | None:
    """One hub-schema record -> one example; None for rows the paper leaves out (MARC-ja neutral)."""
    values = {name: _text(row, column, where) for name, column in task.fields.items()}
    if task.label_field:
        label = _label(task, row, where)
        if label in task.skip_labels:
            return None
        references = [label]
    elif task.answers_field:
        answers = row.get(task.answers_field)
        texts = answers.get("text") if isinstance(answers, dict) else None
        if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise DataError(f"{where}: field '{task.answers_field}' needs a non-empty list of answer texts")
        references = list(texts)
    else:
        references = [_text(row, task.response_field, where)]
    prompt, response = task.render(values, references[0])
    ident = row.get(task.id_field)
    return {
        "id": str(ident) if ident not in (None, "") else f"{index}",
        "prompt": prompt,
        "response": response,
        "references": references,
        "meta": {"fields": values},
    }


# ---- sources -------------------------------------------------------------------------------------------

def _json_rows(path: Path) -> Iterator[Row]:
    """A `.json` file: JSON lines (the hub's and JGLUE's MARC export), a JSON array, or SQuAD nesting."""
    text = path.read_text(encoding="utf-8")
    head = text.lstrip()[:1]
    if head == "[":
        for i, obj in enumerate(json.loads(text), 1):
            yield f"{path}:item {i}", obj
        return
    if head == "{":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, dict) and "data" in whole:
            yield from _squad_rows(path, whole)
            return
    for lineno, obj in read_jsonl(path):
        yield f"{path}:{lineno}", obj


def _squad_rows(path: Path, whole: dict) -> Iterator[Row]:
    """JGLUE's own JSQuAD files (SQuAD v1 nesting) flattened into the hub's one-question-a-row schema."""
    for article in whole["data"]:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                answers = qa.get("answers", [])
                yield f"{path}:question {qa.get('id')}", {
                    "id": qa.get("id"), "title": article.get("title", ""),
                    "context": paragraph.get("context"), "question": qa.get("question"),
                    "answers": {"text": [a.get("text") for a in answers],
                                "answer_start": [a.get("answer_start") for a in answers]},
                    "is_impossible": qa.get("is_impossible", False),
                }


def _parquet_rows(path: Path) -> Iterator[Row]:
    import pyarrow.parquet as pq
    for i, obj in enumerate(pq.read_table(path).to_pylist(), 1):
        yield f"{path}:row {i}", obj


def local_split(task: Task, directory: Path, split: str) -> Iterator[Row] | None:
    """Rows of one split from DIR: `<split>.{jsonl,json,parquet}`, or JGLUE's own file names."""
    names = [f"{split}.jsonl", f"{split}.json", f"{split}.parquet"]
    if split in task.jglue_files:
        names.append(task.jglue_files[split])
    for name in names:
        path = directory / name
        if path.is_file():
            if path.suffix == ".parquet":
                return _parquet_rows(path)
            if path.suffix == ".jsonl":
                return ((f"{path}:{n}", o) for n, o in read_jsonl(path))
            return _json_rows(path)
    return None


def hub_split(task: Task, split: str) -> Iterator[Row]:
    """The real loading path (the hub is not reachable from the test machines: tests use local files)."""
    import datasets
    try:
        ds = datasets.load_dataset(task.hub["path"], task.hub.get("name"), split=task.splits[split])
    except Exception as e:  # noqa: BLE001 - any failure of the hub is reported the same way
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise DataError(f"could not load {task.hub['path']} ({task.hub.get('name')}) split '{split}' from the "
                        f"dataset hub: {first}; prepare local files and run `just data {task.name} --from DIR` "
                        f"(README: Datasets)") from None
    for i, obj in enumerate(ds, 1):
        yield f"{task.hub['path']}[{split}]:row {i}", obj


def convert(task: Task, rows: Iterable[Row]) -> tuple[list[dict], int]:
    """Examples plus the count of rows left out (neutral reviews)."""
    out, skipped = [], 0
    for index, (where, row) in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected an object")
        ex = to_example(task, row, where, index)
        if ex is None:
            skipped += 1
        else:
            out.append(ex)
    return out, skipped


def prepare(task: Task, source: Path | None, out_dir: Path) -> dict:
    """Write every split of `task`; returns per-split counts. Nothing is written unless all splits convert."""
    converted = {}
    for split in task.splits:
        if source is None:
            rows = hub_split(task, split)
        else:
            rows = local_split(task, source, split)
            if rows is None:  # every split is used: train, validation (loss each epoch), the scored split
                wanted = f"{split}.jsonl/.json/.parquet" + (
                    f" or {task.jglue_files[split]}" if split in task.jglue_files else "")
                raise DataError(f"{source}: no file for split '{split}' (looked for {wanted})")
        converted[split] = convert(task, rows)
    stats = {}
    for split, (examples, skipped) in converted.items():
        atomic_write_jsonl(out_dir / f"{split}.jsonl", examples)
        stats[split] = {"rows": len(examples), "left_out": skipped}
    return stats


def load_split(task_name: str, split: str) -> list[dict]:
    """A prepared split (`data/<task>/<split>.jsonl`, under JAFT_DATA), every line checked."""
    path = data_root() / task_name / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(f"{path} not found; run `just data {task_name}` first")
    return [obj for _, obj in read_jsonl(path, required=("id", "prompt", "response", "references", "meta"))]
