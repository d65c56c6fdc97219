"""An Axolotl plugin that makes `num_epochs: 10` train ten whole epochs.

Axolotl passes the Trainer `max_steps = ceil(rows × epochs / batch)`, but an epoch is `ceil(rows / batch)`
optimizer steps (the last batch of every epoch may be short). Whenever the rows do not fill the last batch,
training stops early in the last epoch, and because `saves_per_epoch` becomes a fraction of those steps,
checkpoints stop matching epochs: 6 rows at batch 4 train 15 steps, 7.5 epochs, and leave 8 checkpoints.
With `max_steps: -1` the Trainer counts `epochs × steps per epoch` itself, from the real dataloader (any
number of GPUs). Axolotl's own estimate still sizes the warm-up. A recipe turns it on with

    plugins: [recipes.whole_epochs.WholeEpochsPlugin]

and an explicit `max_steps` in the recipe (e.g. `--set max_steps=100`) still wins.
"""
from __future__ import annotations

from axolotl.integrations.base import BasePlugin


def epoch_based_args(cfg) -> dict | None:
    """The Trainer arguments that replace Axolotl's step estimate (None when the recipe sets max_steps)."""
    if cfg.max_steps:
        return None
    return {"max_steps": -1}


class WholeEpochsPlugin(BasePlugin):
    def get_training_args(self, cfg):
        return epoch_based_args(cfg)
