"""Fitted rows, computed once and shared: the four learning rates of a model and task train on the same
rows, and every evaluation of them reads the same prompts.

A cache entry is `$JAFT_DATA/<task>/fitted/<split>-<mode><limit>-<key>.jsonl` (the rows kept, as fitted)
plus `.json` beside it (the key in full and the counts). The key holds everything the fitted rows depend
on: the tokenizer (a hash of its full definition), the data file (a hash of its bytes), the task's template
and cut field, the split, the token limit, the measure ("train" or "prompt") and the fitting rule's version.
Anything else changed is a different entry; an entry of the same tokenizer for older data is removed.

Example: `python -m recipes prepare calm2 xlsum` fills it for a run without training (`just prepare`).
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jaft.common import DataError, atomic_write_json, atomic_write_jsonl, data_root, read_json, read_jsonl
from prompts.data import load_split, split_path
from prompts.fit import MEASURES, fit_rows
from prompts.tasks import Task

# Bump when prompts/fit.py would keep or cut rows differently: every entry is then rebuilt.
# 2: a training row's answer stays in the window (cut around it, or the row dropped); very long cut fields
#    are read as a bounded stretch (issue 24). Rows that fit are unchanged.
FIT_RULE = 2


def tokenizer_identity(tokenizer) -> str:
    """A hash of everything that decides how `tokenizer` counts tokens. A fast tokenizer is its Rust
    definition (vocabulary, merges, normalizer, pre-tokenizer, special tokens, post-processor); a slow one,
    the files `save_pretrained` writes."""
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        definition = json.loads(backend.to_str())
        # Padding and truncation are per-call state (a padded generation batch leaves them set); they do
        # not change how many tokens a text is.
        definition.pop("padding", None)
        definition.pop("truncation", None)
        h.update(json.dumps(definition, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer.save_pretrained(tmp)
            for path in sorted(Path(tmp).iterdir()):
                h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Fitted:
    path: Path            # the rows kept, one JSON object a line
    rows: int
    shortened: int
    dropped: int
    dropped_at: tuple     # positions of the dropped rows in the split
    hit: bool             # read from the cache rather than computed
    around_answer: int = 0  # rows cut around their answer (training rows of a task with answers)
    answer_lost: int = 0    # rows kept whose cut field lost their answer (evaluation prompts)

    @property
    def counts(self) -> dict:
        extra = {k: v for k, v in (("around_answer", self.around_answer), ("answer_lost", self.answer_lost)) if v}
        return {"rows": self.rows, "shortened": self.shortened, "dropped": self.dropped, **extra}

    def load(self) -> list[dict]:
        return [obj for _, obj in read_jsonl(self.path)]

    def first(self, n: int | None) -> tuple[list[dict], int, int]:
        """(rows, shortened, dropped) of the split's first `n` rows (all when n is None): what fitting
        only those rows gives, since each row is fitted on its own."""
        rows = self.load()
        if n is None:
            return rows, self.shortened, self.dropped
        dropped = sum(1 for i in self.dropped_at if i < n)
        rows = rows[: n - dropped]
        return rows, sum("cut_chars" in r["meta"] for r in rows), dropped


def cache_key(task: Task, split: str, tokenizer, limit: int, mode: str, source: Path) -> dict:
    return {"task": task.name, "split": split, "mode": mode, "limit": int(limit), "fit_rule": FIT_RULE,
            "tokenizer": tokenizer_identity(tokenizer), "data_sha256": file_sha256(source),
            "template_sha256": task.template_hash, "cut_field": task.cut_field}


def _entry(folder: Path, key: dict) -> tuple[Path, Path]:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    stem = f"{key['split']}-{key['mode']}{key['limit']}-{digest}"
    return folder / f"{stem}.jsonl", folder / f"{stem}.json"


def _read_entry(rows_path: Path, summary_path: Path, key: dict) -> Fitted | None:
    """The entry if it is whole and made for `key`; None (recompute) otherwise."""
    if not (rows_path.is_file() and summary_path.is_file()):
        return None
    try:
        summary = read_json(summary_path, "fitted-rows summary")
    except DataError:
        return None
    if not isinstance(summary, dict) or summary.get("key") != key or summary.get("bytes") != rows_path.stat().st_size:
        return None
    return Fitted(rows_path, summary["rows"], summary["shortened"], summary["dropped"],
                  tuple(summary["dropped_at"]), hit=True, around_answer=summary.get("around_answer", 0),
                  answer_lost=summary.get("answer_lost", 0))


def _remove_stale(folder: Path, key: dict, keep: Path) -> None:
    """Entries of the same tokenizer, split, limit and measure made from other data or by an older rule."""
    same = ("task", "split", "mode", "limit", "tokenizer")
    for summary_path in folder.glob(f"{key['split']}-{key['mode']}{key['limit']}-*.json"):
        if summary_path == keep:
            continue
        try:
            other = read_json(summary_path).get("key", {})
        except (DataError, AttributeError):
            continue
        if all(other.get(k) == key[k] for k in same):
            summary_path.unlink(missing_ok=True)
            summary_path.with_suffix(".jsonl").unlink(missing_ok=True)


def fit_split(task: Task, split: str, tokenizer, limit: int, mode: str = "train") -> Fitted:
    """The rows of `data/<task>/<split>.jsonl` fitted into `limit` tokens (measure `mode`), from the cache
    when an entry for exactly these inputs exists, else computed and stored."""
    if mode not in MEASURES:
        raise ValueError(f"unknown fitting mode {mode!r}; valid: {', '.join(MEASURES)}")
    source = split_path(task.name, split)
    key = cache_key(task, split, tokenizer, limit, mode, source)
    folder = data_root() / task.name / "fitted"
    rows_path, summary_path = _entry(folder, key)
    cached = _read_entry(rows_path, summary_path, key)
    if cached is not None:
        return cached
    fit = fit_rows(task, tokenizer, load_split(task.name, split), limit, mode)
    atomic_write_jsonl(rows_path, fit.rows)
    atomic_write_json(summary_path, {"key": key, "rows": len(fit.rows), "shortened": fit.shortened,
                                     "dropped": fit.dropped, "dropped_at": fit.dropped_at,
                                     "around_answer": fit.around_answer, "answer_lost": fit.answer_lost,
                                     "bytes": rows_path.stat().st_size})
    _remove_stale(folder, key, summary_path)
    return Fitted(rows_path, len(fit.rows), fit.shortened, fit.dropped, tuple(fit.dropped_at), hit=False,
                  around_answer=fit.around_answer, answer_lost=fit.answer_lost)
