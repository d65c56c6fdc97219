"""Model registry, Axolotl recipes, the VRAM cap plugin, the memory planner and the train launcher.

Example: `python -m recipes train calm2 marc 2e-4`

What later stages (eval, report, pipeline) need from recipes is offered here, so that they never reach
into the modules that build and launch training.
"""
from recipes.gate import GATE_DIR, clear as clear_gate, write_verdict
from recipes.hub import load_or_explain
from recipes.lock import RunLock
from recipes.manifest import (checkpoints, damaged_checkpoints, fingerprint, read as read_manifest, same_checkpoint,
                              weights_problem)
from recipes.models import LEARNING_RATES, MODELS, PAPER_MODELS, get_model
from recipes.render import DEFAULTS as RECIPE_DEFAULTS, base_model_path
from recipes.rows import eval_prompts
from recipes.runs import DEFAULT_SEED, RunSpec, paper_grid, parse_seed
from recipes.supervise import die_with_parent
from recipes.tiny import ensure_tiny

__all__ = ["RunLock", "checkpoints", "damaged_checkpoints", "fingerprint", "same_checkpoint", "read_manifest",
           "weights_problem",
           "LEARNING_RATES", "MODELS", "PAPER_MODELS", "get_model", "base_model_path", "eval_prompts", "RunSpec",
           "paper_grid", "ensure_tiny", "die_with_parent", "DEFAULT_SEED", "parse_seed", "GATE_DIR", "clear_gate",
           "write_verdict", "RECIPE_DEFAULTS", "load_or_explain"]
