"""One run of the grid: its id, its folder, the settings that follow from model × task × lr × variant × seed."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jaft.common import UsageError, data_root, runs_root  # noqa: F401 - re-exported for the stages after recipes
from prompts.tasks import TASKS, Task, get_task
from recipes.models import LEARNING_RATES, PAPER_MODELS, Model, get_model, parse_lr, parse_variant

# The recipe's seed when none is given (Axolotl's examples use 42); runs with it keep the plain run id.
DEFAULT_SEED = 42
MAX_SEED = 2**32 - 1  # numpy's seeding limit, which transformers' set_seed reaches


def parse_seed(value) -> int:
    """A training seed: a whole number from 0 to 2**32 - 1 (None: the default)."""
    if value is None:
        return DEFAULT_SEED
    try:
        seed = int(str(value), 10)
    except ValueError:
        seed = -1
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"bad seed '{value}'; expected a whole number from 0 to {MAX_SEED}, e.g. 43")
    return seed


def parse_trial_lr(value) -> str:
    """A tuning trial's learning rate (`just tune`): any positive number, written with 3 significant digits
    ('3.16e-05'), the spelling its run.json and the report show; a paper rate keeps the paper's spelling."""
    try:
        return parse_lr(str(value))
    except UsageError:
        pass
    try:
        lr = float(str(value))
    except ValueError:
        lr = -1.0
    if not 0 < lr < 1:
        raise UsageError(f"bad trial learning rate '{value}'; expected a number between 0 and 1, e.g. 3.2e-5")
    return f"{lr:.3g}"


def parse_trial(value) -> int | None:
    if value is None:
        return None
    if not str(value).isdigit():
        raise UsageError(f"bad trial number '{value}'; expected a whole number from 0, e.g. 3")
    return int(value)


def run_id(model: str, task: str, lr: str, variant: str | None = None, seed: int = DEFAULT_SEED,
           trial: int | None = None) -> str:
    """`<model>-<task>-lr<lr>[-<variant>][-s<seed>]`: the default seed keeps the paper-grid ids; a tuning
    trial is `<model>-<task>-tune-<trial>[-<variant>][-s<seed>]` (its lr is in run.json). The one place a
    run id is spelled; `parse_run_id` is the one place it is read back."""
    base = f"{model}-{task}-" + (f"lr{lr}" if trial is None else f"tune-{trial}")
    base = f"{base}-{variant}" if variant else base
    return base if seed == DEFAULT_SEED else f"{base}-s{seed}"


def parse_run_id(text: str) -> dict | None:
    """{model, task, lr, variant, seed, trial} of a run id (tasks and rates from the registries), or None.
    A tuning trial's id has no lr (None: its run.json has it) and a trial number."""
    pattern = re.compile(r"(?P<model>.+?)-(?P<task>" + "|".join(map(re.escape, TASKS)) + r")-(?:lr(?P<lr>"
                         + "|".join(map(re.escape, LEARNING_RATES)) + r")|tune-(?P<trial>\d+))"
                         r"(?:-(?P<variant>len\d+|full|qlora|lora))?(?:-s(?P<seed>\d+))?")
    m = pattern.fullmatch(str(text))
    if not m:
        return None
    return {**m.groupdict(), "seed": int(m["seed"]) if m["seed"] else DEFAULT_SEED,
            "trial": int(m["trial"]) if m["trial"] else None}


@dataclass(frozen=True)
class RunSpec:
    model: Model
    task: Task
    lr: str
    variant: str | None = None
    seed: int = DEFAULT_SEED
    trial: int | None = None  # a trial of `just tune` (pipeline/tune.py): any lr, id `-tune-<trial>`

    @classmethod
    def parse(cls, model: str, task: str, lr: str, variant: str | None = None, seed=None,
              trial=None) -> "RunSpec":
        """Validate every name first, so that a typo writes nothing."""
        trial = parse_trial(trial)
        rate = parse_lr(lr) if trial is None else parse_trial_lr(lr)
        m, variant = get_model(model), parse_variant(variant)
        if variant in ("qlora", "lora") and m.adapter == variant:
            # the same recipe under a second run id (…-qlora) would train and be scored twice
            plain = run_id(m.name, get_task(task).name, rate, None, parse_seed(seed), trial)
            kind = "QLoRA" if variant == "qlora" else "LoRA"
            raise UsageError(f"{m.name}'s plain recipe is already {kind} (adapter: {m.adapter} in its registry "
                             f"entry): drop --variant {variant}; its run is {plain}")
        return cls(m, get_task(task), rate, variant, parse_seed(seed), trial)

    @property
    def id(self) -> str:
        """`<model>-<task>-lr<lr>[-<variant>][-s<seed>]`, or `-tune-<trial>` for a tuning trial (run_id)."""
        return run_id(self.model.name, self.task.name, self.lr, self.variant, self.seed, self.trial)

    @property
    def dir(self) -> Path:
        return runs_root() / self.id

    @property
    def learning_rate(self) -> float:
        return LEARNING_RATES[self.lr] if self.lr in LEARNING_RATES else float(self.lr)

    @property
    def full(self) -> bool:
        return self.variant == "full"

    @property
    def sequence_len(self) -> int:
        """The paper gives train lengths for XL-Sum only (1,700 for 7B, 1,024 for 13B); jaft applies the
        same per-model length to MARC-ja and JSQuAD, whose rows nearly all fit (docs/scoring.md: conventions)."""
        if self.full:
            return self.model.native_context
        if self.variant and self.variant.startswith("len"):
            return int(self.variant[3:])
        return self.model.train_len

    @property
    def attn_implementation(self) -> str:
        # The paper's setting is plain eager attention (what limits 7B to ~1,700 tokens under the cap);
        # for 13B models eager does not fit 1,024 tokens under the cap, so their entry says sdpa. Soft-capped
        # attention (Gemma-2) is eager only: SDPA would silently drop the cap (recipes/architecture.py).
        if self.model.facts.eager_only:
            return "eager"
        return "sdpa" if self.full else self.model.paper_attn

    @property
    def load_in_4bit(self) -> bool:
        """QLoRA: by `--variant qlora`, or because the entry's plain recipe is QLoRA (calm3-22b) and
        `--variant lora` does not ask for its bf16 weights."""
        return self.variant == "qlora" or (self.model.adapter == "qlora" and self.variant != "lora")

    @property
    def gradient_checkpointing(self) -> bool:
        return self.full

    @property
    def liger(self) -> bool:
        return self.full and self.model.liger


def paper_grid(models=None, tasks=None, lrs=None, seeds=(DEFAULT_SEED,)) -> list[RunSpec]:
    """models × tasks × lrs, plus each model's `paper_variants` (the 7B models' XL-Sum `len1024`), once per
    seed: 56 runs for the paper's four models and one seed."""
    models, tasks, lrs = models or PAPER_MODELS, tasks or tuple(TASKS), lrs or tuple(LEARNING_RATES)
    grid = []
    for m in models:
        for t in tasks:
            for lr in lrs:
                for variant in [None, *get_model(m).paper_variants.get(t, [])]:
                    for seed in seeds:
                        grid.append(RunSpec.parse(m, t, lr, variant, seed))
    return grid
