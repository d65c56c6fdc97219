"""`runs/<run-id>/run.json`: what a run is, what it was made with, and where it stands."""
from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import yaml

from jaft.records import read_run, write_run

PACKAGES = ("jaft", "axolotl", "torch", "transformers", "peft", "datasets", "accelerate")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def versions(packages=PACKAGES) -> dict:
    """Python and each package's installed version (None when absent)."""
    out = {"python": sys.version.split()[0]}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# The recipe keys a run.json records as trained with, read back from the written recipe.yaml (Axolotl's
# names; a key the recipe leaves out is recorded as null: Axolotl's default applied).
EFFECTIVE_KEYS = ("learning_rate", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "sequence_len",
                  "micro_batch_size", "gradient_accumulation_steps", "num_epochs", "seed", "attn_implementation",
                  "gradient_checkpointing", "vram_cap_mb")


def read(run_dir: Path) -> dict:
    """The run's manifest ({} when there is none); a damaged one is a one-line DataError naming the file."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return {}
    return read_run(path)  # an older version migrated in memory; a newer one refused


def effective(recipe: Path) -> dict:
    """The values a run trains with, as Axolotl will read them from `recipe` (not as jaft meant them)."""
    cfg = yaml.safe_load(Path(recipe).read_text(encoding="utf-8"))
    return {key: cfg.get(key) for key in EFFECTIVE_KEYS}


def update(run_dir: Path, **fields) -> dict:
    """run.json with `fields` changed, checked as a run record before it is written (jaft.records)."""
    return write_run(Path(run_dir) / "run.json", {**read(run_dir), **fields, "updated": now()})


ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")


def _numbered(run_dir: Path) -> list[Path]:
    return [p for p in Path(run_dir).glob("checkpoint-*") if re.fullmatch(r"checkpoint-\d+", p.name) and p.is_dir()]


def has_checkpoints(run_dir: Path) -> bool:
    """Any checkpoint-N folder, complete or not: the run has trained, and its recipe is a record."""
    return bool(_numbered(run_dir))


def checkpoint_problem(path: Path) -> str | None:
    """Why a checkpoint folder cannot be used (a save cut short, e.g. by a full disk), or None.

    The Trainer writes trainer_state.json after the weights and optimizer state, so a folder without it
    (or without adapter weights, or with a damaged one) is a save that never finished."""
    state = path / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json"
    try:
        epoch = float(json.loads(state.read_text(encoding="utf-8"))["epoch"])
    except (ValueError, KeyError, TypeError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return f"damaged trainer_state.json ({type(e).__name__}: {str(e).splitlines()[0][:80]})"
    if not math.isfinite(epoch):  # Python's json reads NaN and Infinity; no epoch is either
        return f"damaged trainer_state.json (epoch {epoch})"
    if not any((path / name).is_file() for name in ADAPTER_FILES):
        return "no adapter weights"
    return None


def damaged_checkpoints(run_dir: Path) -> list[tuple[Path, str]]:
    """(folder, reason) for every checkpoint-N folder that is not a complete save."""
    found = ((p, checkpoint_problem(p)) for p in sorted(_numbered(run_dir), key=lambda p: int(p.name[11:])))
    return [(p, why) for p, why in found if why]


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(epoch, folder) for each of Axolotl's complete per-epoch checkpoints, in epoch order.

    The epoch comes from the checkpoint's own `trainer_state.json` (rounded: with saves_per_epoch 1 it is
    a whole number up to float noise); incomplete saves (`damaged_checkpoints`) are skipped.
    """
    found = {}
    for path in _numbered(run_dir):
        if checkpoint_problem(path):
            continue
        epoch = round(float(json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))["epoch"]))
        if epoch >= 1:
            found[epoch] = path
    return sorted(found.items())


def weights_problem(checkpoint: Path) -> str | None:
    """Why a checkpoint's adapter weights cannot be loaded (a file cut short, a damaged header), or None. A
    safetensors file is an 8-byte header length, a JSON header naming each tensor's byte range, then the
    data: checked without reading the tensors."""
    weights = adapter_file(checkpoint)
    if weights.suffix != ".safetensors":
        return None  # a pickled .bin: only loading it tells
    try:
        size = weights.stat().st_size
        with weights.open("rb") as f:
            head = f.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if length < 2 or 8 + length > size:
                return f"{weights.name} is cut short or damaged ({size:,} bytes; no whole header)"
            header = json.loads(f.read(length).decode("utf-8"))
        ends = [int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"]
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        return f"{weights.name} is damaged ({type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''})"
    need = 8 + length + max(ends, default=0)
    if size < need:
        return f"{weights.name} is cut short ({size:,} of {need:,} bytes)"
    return None


def adapter_file(checkpoint: Path) -> Path:
    return next((checkpoint / n for n in ADAPTER_FILES if (checkpoint / n).is_file()), checkpoint / ADAPTER_FILES[0])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def fingerprint(checkpoint: Path) -> dict:
    """What identifies a checkpoint's weights: recorded beside every score made from it, so that scores
    of a checkpoint that was since replaced (a retrain) are recognised as stale."""
    weights = adapter_file(checkpoint)
    st = weights.stat()
    return {"checkpoint": checkpoint.name, "weights": weights.name, "bytes": st.st_size,
            "mtime_ns": st.st_mtime_ns, "sha256": _sha256(weights)}


def same_checkpoint(recorded: dict | None, checkpoint: Path) -> bool:
    """True when `recorded` (a `fingerprint`) describes the weights now in `checkpoint`. Size and mtime
    decide cheaply; when only the mtime differs (a copy), the content hash decides."""
    if not isinstance(recorded, dict) or "sha256" not in recorded:
        return False
    weights = adapter_file(checkpoint)
    try:
        st = weights.stat()
    except OSError:
        return False
    if weights.name != recorded.get("weights") or st.st_size != recorded.get("bytes"):
        return False
    return st.st_mtime_ns == recorded.get("mtime_ns") or _sha256(weights) == recorded["sha256"]
