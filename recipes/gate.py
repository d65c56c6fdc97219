"""The epoch gate of a tuning trial: files through which `just tune` tells a training whether to go on.

A trial trains with the grid's schedule (the recipe's `num_epochs`, cosine over all of them). After each
epoch's checkpoint is saved, the training waits (recipes/epoch_gate.py, an Axolotl plugin) for
`tune-gate/epoch-<k>.json` in its run folder; the tuner writes it after scoring that checkpoint on the
tuning split: `{"stop": false}` goes on, `{"stop": true}` (the pruner's verdict) ends the training there,
so a pruned trial costs only the epochs it trained. Nothing here imports Axolotl: the launcher reads it too.

Example: `write_verdict(run_dir / GATE_DIR, 1, stop=True, why="pruned by the median rule")`
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from jaft.common import atomic_write_json

GATE_DIR = "tune-gate"
POLL_S = 0.5


def verdict_path(gate_dir: Path, epoch: int) -> Path:
    return Path(gate_dir) / f"epoch-{epoch}.json"


def write_verdict(gate_dir: Path, epoch: int, *, stop: bool, why: str = "") -> Path:
    return atomic_write_json(verdict_path(gate_dir, epoch), {"epoch": epoch, "stop": bool(stop), "why": why})


def read_verdict(gate_dir: Path, epoch: int) -> dict | None:
    try:
        verdict = json.loads(verdict_path(gate_dir, epoch).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not written yet (writes are atomic: a file that exists is whole)
    return verdict if isinstance(verdict, dict) else None


def wait_verdict(gate_dir: Path, epoch: int, poll_s: float = POLL_S) -> dict:
    """Block until the tuner's verdict on `epoch` exists. A tuner that dies takes the training with it
    (recipes.supervise), so there is no timeout to guess."""
    while True:
        verdict = read_verdict(gate_dir, epoch)
        if verdict is not None:
            return verdict
        time.sleep(poll_s)


def stopped_at(run_dir: Path) -> int | None:
    """The epoch after which the tuner stopped this run (its first stop verdict), or None."""
    stops = []
    for path in (Path(run_dir) / GATE_DIR).glob("epoch-*.json"):
        verdict = read_verdict(path.parent, int(path.stem[6:])) if path.stem[6:].isdigit() else None
        if verdict and verdict.get("stop"):
            stops.append(int(path.stem[6:]))
    return min(stops) if stops else None


def clear(run_dir: Path) -> None:
    """Verdicts of an earlier attempt are forgotten: a resumed trial is judged again, epoch by epoch."""
    shutil.rmtree(Path(run_dir) / GATE_DIR, ignore_errors=True)
