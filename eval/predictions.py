"""predictions.jsonl: appended one batch at a time, so an interrupted eval resumes where it stopped."""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from jaft.common import atomic_write_text, read_jsonl
from jaft.common import DataError
from eval.postprocess import extract, postprocess

FIELDS = ("id", "prompt", "raw", "new_tokens", "prediction", "references", "label_loglik", "cluster")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_line(obj) -> str:
    """One JSON line, Japanese kept readable; a lone surrogate (which UTF-8 cannot hold) is written as its
    \\uXXXX escape, so the line reads back as the very same text."""
    text = json.dumps(obj, ensure_ascii=False)
    return LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def repair_tail(path: Path) -> int:
    """Drop a half-written last line (no newline: the process died mid-write); return bytes dropped."""
    if not path.is_file():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with path.open("r+b") as f:
        f.truncate(keep)
    return len(data) - keep


def dedupe(path: Path) -> int:
    """Rewrite the file (atomically) keeping the first line of each id; return the lines dropped. Two
    evals writing one file (before runs had locks) left every id twice."""
    if not path.is_file():
        return 0
    first, total = {}, 0
    for _, obj in read_jsonl(path, required=("id",)):
        total += 1
        first.setdefault(str(obj["id"]), obj)
    if len(first) < total:
        atomic_write_text(path, "".join(json_line(o) for o in first.values()))
    return total - len(first)


def done_ids(path: Path) -> set[str]:
    repair_tail(path)
    if not path.is_file():
        return set()
    return {str(obj["id"]) for _, obj in read_jsonl(path, required=("id",))}


def append(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write("".join(json_line({k: r[k] for k in FIELDS if k in r}) for r in rows))
        f.flush()
        os.fsync(f.fileno())


def load_for_scoring(task: str, path: Path) -> list[dict]:
    """Rows with `raw` and `references`; `prediction` (and `extracted`, what the leaderboard metrics read)
    is recomputed from `raw` by the task's named post-processing step, so a file from anywhere (or an older
    jaft) is scored the same way."""
    rows, seen, repeated = [], set(), 0
    for lineno, obj in read_jsonl(path, required=("raw", "references")):
        if "id" in obj:  # an id met again is a duplicate line: scored once (the first), never twice
            if str(obj["id"]) in seen:
                repeated += 1
                continue
            seen.add(str(obj["id"]))
        refs = obj["references"]
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise DataError(f"{path}:{lineno}: 'references' must be a non-empty list of strings")
        if not isinstance(obj["raw"], str):
            raise DataError(f"{path}:{lineno}: 'raw' must be a string")
        ll = obj.get("label_loglik")
        if ll is not None and not (isinstance(ll, dict) and ll and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in ll.values())):
            raise DataError(f"{path}:{lineno}: 'label_loglik' must map each label word to a number")
        rows.append({**obj, "prediction": postprocess(task, obj["raw"]), "extracted": extract(task, obj["raw"])})
    if repeated:
        print(f"[jaft] warning: {path}: {repeated} lines repeat an id already seen; each id scored once "
              f"(its first line)", file=sys.stderr)
    return rows
