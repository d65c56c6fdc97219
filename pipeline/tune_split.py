"""The tuning split of a `just tune` study: rows held out of train, deterministically by the seed.

The study's trials read `<study>/data/<task>/` (JAFT_DATA points there for them): `train.jsonl` is the
task's train split minus the tuning rows; the task's evaluation split file holds the tuning rows, so that
`just eval`'s machinery scores a trial on them and never on the split the tables report. A task whose
evaluation split is not `validation` (XL-Sum: test) keeps its real validation split for Axolotl's loss.

Example: `carve_into(TASKS["marc"], data_root() / "marc", study / "data" / "marc", k=None, seed=42)`
"""
from __future__ import annotations

import hashlib
import random
from pathlib import Path

from jaft.common import DataError, UsageError, atomic_write_json, atomic_write_jsonl, read_json, read_jsonl
from prompts.data import SOURCE_FILE
from prompts.tasks import Task

DEFAULT_ROWS = 500
SHARE = 10  # a train split smaller than DEFAULT_ROWS × SHARE gives a tenth of its rows
SPLIT_FILE = "tuning.json"


def tune_size(n_train: int, asked: int | None = None) -> int:
    """`--tune-rows K`, or the default: 500 rows, or 10% of a train split under 5,000 rows (at least 1).
    The train split must keep at least one row."""
    if asked is None:
        return max(1, min(DEFAULT_ROWS, n_train // SHARE))
    if not 1 <= asked < n_train:
        raise UsageError(f"--tune-rows {asked}: expected 1 to {n_train - 1} (the train split has {n_train} rows)")
    return asked


def carve(rows: list[dict], k: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(train rows, tuning rows): `k` rows drawn by `seed` from the rows sorted by id, so the draw depends
    on the seed and the ids only, not on the file's order. Both lists keep the file's order."""
    ids = [str(r["id"]) for r in rows]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"train split: id '{dup}' appears more than once; the tuning split needs unique ids")
    chosen = set(random.Random(seed).sample(sorted(ids), k))
    return [r for r in rows if str(r["id"]) not in chosen], [r for r in rows if str(r["id"]) in chosen]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def carve_into(task: Task, src: Path, out: Path, k: int | None, seed: int) -> dict:
    """Write the trials' data folder `out` from the prepared task folder `src` (once: a second call with
    the same inputs reads it back). Returns the split's record (`tuning.json`): seed, rows, tuning ids."""
    train = src / "train.jsonl"
    if not train.is_file():
        raise DataError(f"{train} not found; run `just data {task.name}` first (or pass --data-from DIR)")
    record_path = out / SPLIT_FILE
    if record_path.is_file():
        record = read_json(record_path, SPLIT_FILE)
        if record.get("source_sha256") == _sha(train) and record.get("seed") == seed and (
                k is None or record.get("rows") == k):
            return record
        raise UsageError(f"{out} holds a tuning split made from other data or settings (seed "
                         f"{record.get('seed')}, {record.get('rows')} rows); a study keeps its split: use another "
                         f"--seed (a new study) or delete {out.parent.parent}")
    rows = [obj for _, obj in read_jsonl(train, required=("id", "prompt", "response", "references", "meta"))]
    keep, tune = carve(rows, tune_size(len(rows), k), seed)
    atomic_write_jsonl(out / "train.jsonl", keep)
    atomic_write_jsonl(out / f"{task.eval_split}.jsonl", tune)
    if task.eval_split != "validation":  # Axolotl's per-epoch loss: the real validation split, never the eval split
        atomic_write_jsonl(out / "validation.jsonl", [obj for _, obj in read_jsonl(src / "validation.jsonl")])
    record = {"task": task.name, "seed": seed, "rows": len(tune), "train_rows": len(keep),
              "source": str(train), "source_sha256": _sha(train), "tuning_split": task.eval_split,
              "tuning_ids": [str(r["id"]) for r in tune]}
    source = src / SOURCE_FILE
    provenance = read_json(source, "provenance file") if source.is_file() else {}
    atomic_write_json(out / SOURCE_FILE, {**provenance, "tuning_split": {k_: v for k_, v in record.items()
                                                                        if k_ != "tuning_ids"}})
    atomic_write_json(record_path, record)
    return record
