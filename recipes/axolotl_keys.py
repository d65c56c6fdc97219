"""The recipe keys Axolotl knows, and the values no run can train with: `--set` checked when the recipe is
rendered, without importing Axolotl (seconds of imports that `just render` does not pay).

The keys live in `recipes/axolotl_keys.txt`, one a line, generated from the installed Axolotl's own schema:
the fields of `AxolotlConfigWCapabilities` (what `validate_config` checks) with their aliases, and the input
arguments of every plugin Axolotl ships (`axolotl.integrations.*`) and of jaft's own plugins.
tests/test_safety_inputs.py regenerates the list and compares, so it cannot go stale after an upgrade.

Example: `python -m recipes.axolotl_keys` rewrites the list from the installed Axolotl.
"""
from __future__ import annotations

import difflib
import math
import sys
from functools import lru_cache
from pathlib import Path

from jaft.common import UsageError

KEYS_FILE = Path(__file__).with_name("axolotl_keys.txt")
JAFT_PLUGIN_ARGS = ("recipes.vram_cap.VramCapArgs",)


@lru_cache(maxsize=1)
def valid_keys() -> frozenset[str]:
    lines = KEYS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def check_key(key: str) -> None:
    """A key Axolotl does not know would be written into the recipe and ignored: refused, naming the nearest."""
    keys = valid_keys()
    if key in keys:
        return
    near = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    hint = f"did you mean '{near[0]}'?" if near else "see recipes/axolotl_keys.txt for the valid keys"
    raise UsageError(f"--set {key}: not a key Axolotl knows; {hint}")


# What no run can train with, whatever Axolotl's schema accepts: (key, what is allowed, test on a number).
# Only numbers are judged here; a value of the wrong type (lora_r=abc) is left to Axolotl's own check.
LIMITS = (
    ("micro_batch_size", "at least 1", lambda v: v >= 1),
    ("gradient_accumulation_steps", "at least 1", lambda v: v >= 1),
    ("eval_batch_size", "at least 1", lambda v: v >= 1),
    ("lora_r", "at least 1", lambda v: v >= 1),
    ("lora_alpha", "positive", lambda v: v > 0),
    ("lora_dropout", "in [0, 1)", lambda v: 0 <= v < 1),
    ("num_epochs", "positive", lambda v: v > 0),
    ("learning_rate", "positive", lambda v: v > 0),
    ("sequence_len", "at least 1", lambda v: v >= 1),
)


def check_values(cfg: dict) -> None:
    """Impossible values refused in one line before any work (micro_batch_size 0 failed in Axolotl after a
    minute with a ZeroDivisionError)."""
    for key, allowed, ok in LIMITS:
        value = cfg.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not (math.isfinite(value) and ok(value)):
            raise UsageError(f"{key}={value!r} is impossible: it must be {allowed}")


# ---- generating the list (imports Axolotl) ---------------------------------------------------------------

def _fields(model) -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        for alias in (field.alias, field.validation_alias):
            if isinstance(alias, str):
                names.add(alias)
    return names


def _import(dotted: str):
    import importlib
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def generate() -> tuple[list[str], list[str]]:
    """(keys, notes) from the installed Axolotl: the schema's fields and aliases, every plugin's arguments."""
    import importlib
    import inspect
    import pkgutil

    import axolotl
    import axolotl.integrations
    from axolotl.integrations.base import BasePlugin
    from axolotl.utils.schemas.config import AxolotlConfigWCapabilities

    keys = _fields(AxolotlConfigWCapabilities)
    notes = [f"axolotl {axolotl.__version__}: AxolotlConfigWCapabilities"]
    for info in sorted(pkgutil.iter_modules(axolotl.integrations.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        name = f"axolotl.integrations.{info.name}"
        try:
            module = importlib.import_module(name)
            plugins = [c for _, c in inspect.getmembers(module, inspect.isclass)
                       if issubclass(c, BasePlugin) and c is not BasePlugin and c.__module__.startswith(name)]
            for plugin in plugins:
                args = plugin().get_input_args()
                if args:
                    keys |= _fields(_import(args))
                    notes.append(f"{plugin.__module__}.{plugin.__name__}: {args}")
        except Exception as e:  # an integration whose own dependency is not installed cannot be used either
            notes.append(f"{name}: not read ({type(e).__name__})")
    for args in JAFT_PLUGIN_ARGS:
        keys |= _fields(_import(args))
        notes.append(f"jaft: {args}")
    return sorted(keys), notes


def render_file(keys: list[str], notes: list[str]) -> str:
    head = ["# Recipe keys Axolotl knows: generated by `python -m recipes.axolotl_keys`; do not edit.",
            *(f"# {n}" for n in notes)]
    return "\n".join(head + keys) + "\n"


def main() -> int:
    from jaft.common import atomic_write_text
    keys, notes = generate()
    atomic_write_text(KEYS_FILE, render_file(keys, notes))
    print(f"{KEYS_FILE}: {len(keys)} keys", file=sys.stderr)
    return 0


# Keys a command-line argument owns: a `--set` of one (or a model entry's recipe_overrides) would train with
# a value that the run id, run.json and the report (which read the argument) do not show, so it is refused,
# naming the argument to use.
OWNED_KEYS = {
    "learning_rate": "the LR argument",  # + the grid's rates (owner())
    "num_epochs": "--epochs",
    "base_model": "the MODEL argument",
    "tokenizer_config": "the MODEL argument",
    "datasets": "the TASK argument (rows come from data/<task>/, fitted into the run folder)",
    "test_datasets": "the TASK argument (rows come from data/<task>/, fitted into the run folder)",
    "dataset_prepared_path": "the run id (everything of a run lives in runs/<run-id>/)",
    "output_dir": "the run id (everything of a run lives in runs/<run-id>/)",
    "vram_cap_mb": "--cap-mb",
    "deepspeed": "--deepspeed",
    "seed": "--seed",
    "epoch_gate_dir": "--trial (a `just tune` trial's run folder)",
}


if __name__ == "__main__":
    sys.exit(main())
