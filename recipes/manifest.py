"""`runs/<run-id>/run.json`: what a run is, what it was made with, and where it stands."""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import yaml

from jaft.common import DataError, atomic_write_json, read_json

PACKAGES = ("jaft", "axolotl", "torch", "transformers", "peft", "datasets", "accelerate")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
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
    manifest = read_json(path, "run.json")
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: damaged run.json (not a JSON object); repair or delete it")
    return manifest


def effective(recipe: Path) -> dict:
    """The values a run trains with, as Axolotl will read them from `recipe` (not as jaft meant them)."""
    cfg = yaml.safe_load(Path(recipe).read_text(encoding="utf-8"))
    return {key: cfg.get(key) for key in EFFECTIVE_KEYS}


def update(run_dir: Path, **fields) -> dict:
    manifest = {**read(run_dir), **fields, "updated": now()}
    atomic_write_json(Path(run_dir) / "run.json", manifest)
    return manifest


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(epoch, folder) for each of Axolotl's per-epoch checkpoints, in epoch order.

    The epoch comes from the checkpoint's own `trainer_state.json` (rounded: with saves_per_epoch 1 it is
    a whole number up to float noise); folders without one are partial saves and are skipped.
    """
    found = {}
    for path in Path(run_dir).glob("checkpoint-*"):
        if not re.fullmatch(r"checkpoint-\d+", path.name):
            continue
        state = path / "trainer_state.json"
        if not state.is_file():
            continue
        epoch = round(float(json.loads(state.read_text()).get("epoch", 0)))
        if epoch >= 1:
            found[epoch] = path
    return sorted(found.items())
