"""One run of the grid: its id, its folder, the settings that follow from model × task × lr × variant."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jaft.common import data_root, runs_root  # noqa: F401 - re-exported for the stages after recipes
from prompts.tasks import TASKS, Task, get_task
from recipes.models import LEARNING_RATES, PAPER_MODELS, Model, get_model, parse_lr, parse_variant


@dataclass(frozen=True)
class RunSpec:
    model: Model
    task: Task
    lr: str
    variant: str | None = None

    @classmethod
    def parse(cls, model: str, task: str, lr: str, variant: str | None = None) -> "RunSpec":
        """Validate every name first, so that a typo writes nothing."""
        return cls(get_model(model), get_task(task), parse_lr(lr), parse_variant(variant))

    @property
    def id(self) -> str:
        base = f"{self.model.name}-{self.task.name}-lr{self.lr}"
        return f"{base}-{self.variant}" if self.variant else base

    @property
    def dir(self) -> Path:
        return runs_root() / self.id

    @property
    def learning_rate(self) -> float:
        return LEARNING_RATES[self.lr]

    @property
    def full(self) -> bool:
        return self.variant == "full"

    @property
    def sequence_len(self) -> int:
        """The paper gives train lengths for XL-Sum only (1,700 for 7B, 1,024 for 13B); jaft applies the
        same per-model length to MARC-ja and JSQuAD, whose rows nearly all fit (README: conventions)."""
        if self.full:
            return self.model.native_context
        if self.variant and self.variant.startswith("len"):
            return int(self.variant[3:])
        return self.model.train_len

    @property
    def attn_implementation(self) -> str:
        # The paper's setting is plain eager attention (what limits 7B to ~1,700 tokens under the cap);
        # for 13B models eager does not fit 1,024 tokens under the cap, so their entry says sdpa.
        return "sdpa" if self.full else self.model.paper_attn

    @property
    def gradient_checkpointing(self) -> bool:
        return self.full

    @property
    def liger(self) -> bool:
        return self.full and self.model.liger


def paper_grid(models=PAPER_MODELS, tasks=tuple(TASKS), lrs=tuple(LEARNING_RATES)) -> list[RunSpec]:
    """models × tasks × lrs, plus each model's `paper_variants` (the 7B models' XL-Sum `len1024`):
    56 runs for the paper's four models."""
    grid = []
    for m in models:
        for t in tasks:
            for lr in lrs:
                for variant in [None, *get_model(m).paper_variants.get(t, [])]:
                    grid.append(RunSpec.parse(m, t, lr, variant))
    return grid
