"""Resume only what matches: the options that define a run are recorded in run.json (`identity`) and must
be the same before Axolotl may continue from a run's checkpoints; incomplete checkpoints are set aside.

Example: `just train tiny marc 2e-4 --set lora_r=8` on a run interrupted with lora_r 16 is refused:
  error: run tiny-marc-lr2e-4 has checkpoints trained with lora_r 16; this command gives lora_r 8: resuming ...
(`--seed 7` is no such case: another seed is a run of its own, `tiny-marc-lr2e-4-s7`.)
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from jaft.common import UsageError
from recipes.lock import LOCK_NAME
from recipes.manifest import damaged_checkpoints

# Recipe keys that change what a checkpoint holds; two trainings that differ in one must never be mixed.
IDENTITY_KEYS = ("learning_rate", "seed", "adapter", "lora_r", "lora_alpha", "lora_dropout",
                 "lora_target_modules", "lora_target_linear", "sequence_len", "num_epochs", "micro_batch_size",
                 "gradient_accumulation_steps", "optimizer", "lr_scheduler", "warmup_ratio", "weight_decay",
                 "train_on_inputs")


def file_sha256(path: Path) -> str:
    """The hash of a split's fitted rows: the very bytes copied into the run folder for Axolotl."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def identity(cfg: dict, rows: dict[str, Path]) -> dict:
    """What defines a run: the recipe's training options and the hashes of the rows it trains on."""
    out = {key: cfg.get(key) for key in IDENTITY_KEYS}
    out.update({f"{split}_rows_sha256": file_sha256(path) for split, path in sorted(rows.items())})
    return out


def _show(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def check_resume(run_id: str, recorded: dict | None, wanted: dict) -> None:
    """Refuse (one line) to resume checkpoints made with other options than `wanted`."""
    if not recorded:
        raise UsageError(f"run {run_id} has checkpoints but no record of the options they were trained with "
                         f"(killed before jaft recorded them, or an older jaft); --force to start it clean")
    differ = [k for k in sorted(set(recorded) | set(wanted)) if recorded.get(k) != wanted.get(k)]
    if not differ:
        return
    said = ", ".join(f"{k} {_show(recorded.get(k))}" for k in differ)
    asked = ", ".join(f"{k} {_show(wanted.get(k))}" for k in differ)
    raise UsageError(f"run {run_id} has checkpoints trained with {said}; this command gives {asked}: "
                     f"resuming would mix two trainings. Repeat the run's own options (header of its "
                     f"recipe.yaml), or --force to start it clean")


def set_aside_incomplete(run_dir: Path) -> list[str]:
    """Rename checkpoint folders whose save never finished to `incomplete-checkpoint-N`, so that neither
    Axolotl's auto-resume (the highest `checkpoint-N`) nor the Trainer's rotation (which counts every
    `checkpoint-*` against save_total_limit, and would delete a good epoch) ever sees them. Returns lines
    to print."""
    lines = []
    for path, why in damaged_checkpoints(run_dir):
        target, k = path.with_name(f"incomplete-{path.name}"), 1
        while target.exists():
            k += 1
            target = path.with_name(f"incomplete{k}-{path.name}")
        path.rename(target)
        lines.append(f"{path.name} is an incomplete save ({why}); set aside as {target.name}, not resumed")
    return lines


def clean(run_dir: Path) -> None:
    """Empty a run folder for a fresh start (`--force`), keeping only the lock this process holds."""
    for path in Path(run_dir).iterdir():
        if path.name == LOCK_NAME:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
