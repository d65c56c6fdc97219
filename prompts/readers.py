"""Data files in the formats the sources publish -> (where, record) pairs in the hub's schema.

Formats: JSON lines (`.jsonl`, or `.json` holding one object a line: JGLUE's MARC-ja build), a JSON array,
JGLUE's SQuAD-style nesting (JSQuAD), parquet (the hub's conversions). `where` is `file:line` (or
`file:row N` in a parquet file, `file:data[i].paragraphs[j].qas[k]` in SQuAD nesting, whose files are one
line), so that every error names the place at fault. A file that cannot be read as its format at all is a
`CorruptFile` (a download cut short, a wrong encoding): the caller discards a cached copy of it.

Example: `python -m prompts data jsquad --from ~/JGLUE/datasets/jsquad-v1.1`
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

from jaft.common import DataError, read_jsonl

Row = tuple[str, dict]  # (where: "file:line", hub-schema record)


class CorruptFile(DataError):
    """The file is not readable as its format (truncated, not UTF-8, not parquet)."""


def read_rows(path: Path) -> Iterator[Row]:
    """Every record of a data file, by its suffix."""
    if path.suffix == ".parquet":
        return _parquet_rows(path)
    if path.suffix == ".jsonl":
        return _jsonl_rows(path)
    return _json_rows(path)


def _jsonl_rows(path: Path) -> Iterator[Row]:
    try:
        for lineno, obj in read_jsonl(path):
            yield f"{path}:{lineno}", obj
    except DataError as e:  # a line that is not JSON, or bytes that are not UTF-8
        raise CorruptFile(str(e)) from None


def _text(path: Path) -> str:
    """The file as text; a BOM (Windows tools write one) is accepted, other encodings are refused."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        if e.end == len(data) and e.reason == "unexpected end of data":
            raise CorruptFile(f"{path}:{line}: the file ends inside a character (cut short?)") from None
        raise CorruptFile(f"{path}:{line}: not UTF-8 text (save the file as UTF-8)") from None


def _json_rows(path: Path) -> Iterator[Row]:
    """A `.json` file: a JSON array, SQuAD nesting (an object with `data`), or JSON lines."""
    text = _text(path)
    head = text.lstrip()[:1]
    if head == "[":
        yield from _array_rows(path, text)
        return
    if head == "{":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as e:
            if e.msg != "Extra data":  # not several objects a line apart (JSON lines) but a broken object
                raise CorruptFile(f"{path}:{e.lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
            whole = None
        if isinstance(whole, dict):
            yield from _squad_rows(path, whole) if "data" in whole else [(f"{path}:1", whole)]
            return
    yield from _jsonl_rows(path)


def _array_rows(path: Path, text: str) -> Iterator[Row]:
    """The items of a JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1

    def skip(p: int) -> int:
        while p < len(text) and text[p] in " \t\r\n":
            p += 1
        return p

    def broken(p: int, msg: str) -> CorruptFile:
        return CorruptFile(f"{path}:{text.count(chr(10), 0, p) + 1}: not valid JSON ({msg})")

    line, counted = 1, 0
    pos = skip(pos)
    if text[pos:pos + 1] == "]":
        pos += 1
    else:
        while True:
            try:
                obj, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as e:
                raise CorruptFile(f"{path}:{e.lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
            line += text.count("\n", counted, pos)
            counted = pos
            yield f"{path}:{line}", obj
            pos = skip(end)
            if text[pos:pos + 1] == ",":
                pos = skip(pos + 1)
                continue
            if text[pos:pos + 1] == "]":
                pos += 1
                break
            raise broken(pos, "expected ',' or ']' after an item" if pos < len(text) else "the array is not closed")
    if skip(pos) != len(text):
        raise broken(skip(pos), "text after the closing ']'")


def _squad_rows(path: Path, whole: dict) -> Iterator[Row]:
    """JGLUE's own JSQuAD files (SQuAD v1 nesting) flattened into the hub's one-question-a-row schema."""
    def items(value, where: str, what: str) -> list:
        if not isinstance(value, list):
            raise DataError(f"{where}: expected a list of {what}, got {type(value).__name__}")
        return value

    def obj(value, where: str) -> dict:
        if not isinstance(value, dict):
            raise DataError(f"{where}: expected an object, got {type(value).__name__}")
        return value

    for i, article in enumerate(items(whole["data"], f"{path}:data", "articles")):
        at = f"{path}:data[{i}]"
        article = obj(article, at)
        for j, paragraph in enumerate(items(article.get("paragraphs"), f"{at}.paragraphs", "paragraphs")):
            pat = f"{at}.paragraphs[{j}]"
            paragraph = obj(paragraph, pat)
            for k, qa in enumerate(items(paragraph.get("qas"), f"{pat}.qas", "questions")):
                where = f"{pat}.qas[{k}]"
                qa = obj(qa, where)
                answers = [obj(a, f"{where}.answers[{n}]")
                           for n, a in enumerate(items(qa.get("answers"), f"{where}.answers", "answers"))]
                yield where, {
                    "id": qa.get("id"), "title": article.get("title", ""),
                    "context": paragraph.get("context"), "question": qa.get("question"),
                    "answers": {"text": [a.get("text") for a in answers],
                                "answer_start": [a.get("answer_start") for a in answers]},
                    "is_impossible": qa.get("is_impossible", False),
                }


def _parquet_rows(path: Path) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        first = re.sub(r"^Could not open Parquet input source '.*?': ", "", first)[:160]  # it repeats the path
        raise CorruptFile(f"{path}: not a readable parquet file ({first})") from None
    for i, obj in enumerate(table.to_pylist(), 1):
        yield f"{path}:row {i}", obj
