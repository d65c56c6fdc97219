"""Turn a task's data files (downloaded from their published URLs, or local files in the same schema) into
`data/<task>/<split>.jsonl` plus `data/<task>/source.json`, the provenance of every file used.

Each output line: id, prompt, response, references, meta (the dataset's own fields, untouched, so that a
later stage can shorten the cut field and render again). Text goes in unchanged: no normalisation.
Bad data is refused here, as one line naming the file and line, never later inside training.

Example: `python -m prompts data jsquad --version v1.3` (writes `$JAFT_DATA/jsquad/`, default `data/jsquad/`)
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from jaft.common import DataError, atomic_write_json, atomic_write_jsonl, data_root, read_json, read_jsonl
from prompts.download import discard
from prompts.readers import CorruptFile, Row, read_rows
from prompts.sources import local_split  # noqa: F401 - re-exported: callers read one split with it
from prompts.sources import downloaded_inputs, local_inputs, warn
from prompts.tasks import Task

SOURCE_FILE = "source.json"


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


def _answers(task: Task, row: dict, where: str) -> list[str]:
    """The gold answers: a list of non-empty strings (a bare string would become a list of characters)."""
    answers = row.get(task.answers_field)
    texts = answers.get("text") if isinstance(answers, dict) else None
    if isinstance(texts, str):
        raise DataError(f"{where}: field '{task.answers_field}.text' is a string; it must be a list of answers "
                        f"(e.g. [{texts!r}])")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise DataError(f"{where}: field '{task.answers_field}' needs a non-empty list of answer texts")
    return list(texts)


class AnswerNotInContext(DataError):
    """A question's answer (the first, which training teaches) does not occur in the text it is asked of."""


def _check_answer_in(task: Task, values: dict, answer: str, where: str) -> None:
    """An extractive answer lives in the cut field (JSQuAD: the context): a row whose answer is not there
    would train the model to answer from nowhere, and row fitting could not keep it in the window."""
    if task.cut_field in values and answer not in values[task.cut_field]:
        shown = answer if len(answer) <= 40 else answer[:37] + "..."
        raise AnswerNotInContext(f"{where}: the answer {shown!r} is not in the row's {task.cut_field}; fix the row, "
                                 f"or pass --drop-missing-answers to leave such rows out (counted)")


def to_example(task: Task, row: dict, where: str, index: int) -> dict | None:
    """One hub-schema record -> one example; None for rows the paper leaves out (MARC-ja neutral)."""
    values = {name: _text(row, column, where) for name, column in task.fields.items()}
    if task.label_field:
        label = _label(task, row, where)
        if label in task.skip_labels:
            return None
        references = [label]
    elif task.answers_field:
        references = _answers(task, row, where)
        _check_answer_in(task, values, references[0], where)
    else:
        references = [_text(row, task.response_field, where)]
    prompt, response = task.render(values, references[0])
    ident = row.get(task.id_field)
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, (str, int))):
        raise DataError(f"{where}: field '{task.id_field}' must be a string or an integer, "
                        f"got {type(ident).__name__}")
    return {
        "id": str(ident) if ident not in (None, "") else f"{index}",
        "prompt": prompt,
        "response": response,
        "references": references,
        "meta": {"fields": values},
    }


# ---- one split ------------------------------------------------------------------------------------------

def convert(task: Task, rows: Iterable[Row], drop_missing_answers: bool = False,
            dropped: list | None = None) -> tuple[list[dict], int]:
    """Examples plus the count of rows left out (neutral reviews); a repeated id is an error naming both rows.
    A row whose answer is not in its context is an error, or with `drop_missing_answers` left out and its
    place appended to `dropped`."""
    out, skipped, seen = [], 0, {}
    for index, (where, row) in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected an object")
        try:
            ex = to_example(task, row, where, index)
        except AnswerNotInContext:
            if not drop_missing_answers:
                raise
            if dropped is not None:
                dropped.append(where)
            continue
        if ex is None:
            skipped += 1
            continue
        if ex["id"] in seen:
            raise DataError(f"{where}: duplicate id '{ex['id']}' (first at {seen[ex['id']]})")
        seen[ex["id"]] = where
        out.append(ex)
    return out, skipped


def _check_split(task: Task, split: str, where: str, examples: list, skipped: int) -> None:
    """An empty split, or one left empty by the neutral rows, would only fail later inside training."""
    if not examples and not skipped:
        raise DataError(f"{where}: no rows (split '{split}' is empty)")
    if not examples:
        raise DataError(f"{where}: all {skipped} rows are {'/'.join(task.skip_labels)}; "
                        f"split '{split}' has no labelled rows")


# ---- the whole task -------------------------------------------------------------------------------------

def prepare(task: Task, source: Path | None, out_dir: Path, version: str | None = None,
            drop_missing_answers: bool = False) -> dict:
    """Write every split of `task` and its `source.json`; returns per-split counts.

    `source` None downloads the published files (`version`, default the paper's); a folder reads local files.
    Nothing is written unless every split converts. `drop_missing_answers`: rows whose answer is not in their
    context are left out and counted (`answer_not_in_context`) instead of refused.
    """
    if source is None:
        version, entry = task.version(version)
        inputs = downloaded_inputs(task, version, entry)
    else:
        entry = None
        inputs = local_inputs(task, source, version)
    converted, files = {}, {}
    for inp in inputs:
        where = inp.fetched.url if inp.fetched else str(inp.path)
        dropped: list[str] = []
        try:
            examples, skipped = convert(task, read_rows(inp.path), drop_missing_answers, dropped)
            _check_split(task, inp.split, str(inp.path), examples, skipped)
        except DataError as e:
            if inp.fetched is None:
                raise
            # name the URL, not the cache path: the URL is what the user can act on
            message = str(e).replace(str(inp.path), where)
            if isinstance(e, CorruptFile):  # cut short or damaged: never use this copy again
                discard(inp.path)
                message += "; the cached copy was removed: run again to download it anew"
            raise DataError(message) from None
        rows = len(examples) + skipped + len(dropped)
        known = entry["files"][inp.split].get("rows") if entry else None
        if known is not None and rows != known:
            warn(f"{task.name} {inp.split}: {where} has {rows:,} rows, the published file {known:,}")
        converted[inp.split] = (examples, skipped, dropped)
        files[inp.split] = {**inp.record, "rows": rows, **({"published_rows": known} if known else {}),
                            "examples": len(examples), "left_out": skipped,
                            **({"answer_not_in_context": len(dropped)} if drop_missing_answers else {})}
    record = {"task": task.name, "title": task.title, "kind": "download" if entry else "local",
              "version": version, "licence": task.source["licence"] if entry else None,
              "origin": entry.get("origin") if entry else None,
              "prepared": datetime.now(timezone.utc).isoformat(timespec="seconds"), "files": files}
    stale = (out_dir / SOURCE_FILE).is_file()
    for split, (examples, _, _) in converted.items():
        atomic_write_jsonl(out_dir / f"{split}.jsonl", examples)
    atomic_write_json(out_dir / SOURCE_FILE, record)
    if stale:  # a folder jaft prepared before: a split this version lacks must not linger from the last one
        for split in ("train", "validation", "test"):
            if split not in converted:
                (out_dir / f"{split}.jsonl").unlink(missing_ok=True)
    return {split: {"rows": len(ex), "left_out": skipped,
                    **({"answer_not_in_context": dropped} if dropped else {})}
            for split, (ex, skipped, dropped) in converted.items()}


def provenance(task_name: str) -> dict | None:
    """The `source.json` of a prepared task (under JAFT_DATA), or None when it has none."""
    path = data_root() / task_name / SOURCE_FILE
    return read_json(path, "provenance file") if path.is_file() else None


def split_path(task_name: str, split: str) -> Path:
    """Where a prepared split lives (`data/<task>/<split>.jsonl`, under JAFT_DATA); missing: DataError."""
    path = data_root() / task_name / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(f"{path} not found; run `just data {task_name}` first")
    return path


def load_split(task_name: str, split: str) -> list[dict]:
    """A prepared split, every line checked."""
    path = split_path(task_name, split)
    return [obj for _, obj in read_jsonl(path, required=("id", "prompt", "response", "references", "meta"))]
