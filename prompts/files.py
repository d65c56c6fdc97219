"""Atomic file writes and strict JSONL reading, shared by every stage (later stages import from here)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from prompts.tasks import DataError


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Write via a temp file in the same directory, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: Path | str, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def atomic_write_jsonl(path: Path | str, rows) -> Path:
    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: Path | str, required: tuple = ()) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object); a broken line or a missing required key raises DataError naming both."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object")
            missing = [k for k in required if k not in obj]
            if missing:
                raise DataError(f"{path}:{lineno}: missing field {', '.join(missing)}")
            yield lineno, obj
