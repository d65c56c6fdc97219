"""An Axolotl plugin that lets `just tune` stop a trial's training after any epoch (recipes/gate.py).

After each checkpoint is saved, every rank waits for the tuner's verdict on that epoch and, when it says
stop, sets the Trainer's `should_training_stop`: the training ends there, with the checkpoints it saved.
An unpruned trial is untouched: the same steps, the same cosine schedule over `num_epochs` as a grid run.
A recipe turns it on with

    plugins: [recipes.epoch_gate.EpochGatePlugin]
    epoch_gate_dir: runs/<study>/<run-id>/tune-gate

(`just train ... --trial N` writes both; a grid run has neither).
"""
from __future__ import annotations

import logging

from axolotl.integrations.base import BasePlugin
from pydantic import BaseModel
from transformers import TrainerCallback

from recipes.gate import wait_verdict

LOG = logging.getLogger("axolotl.integrations.jaft_epoch_gate")


class EpochGateArgs(BaseModel):
    """The recipe key this plugin adds to Axolotl's config schema."""

    epoch_gate_dir: str | None = None


class EpochGate(TrainerCallback):
    def __init__(self, gate_dir: str):
        self.gate_dir = gate_dir

    def on_save(self, args, state, control, **kwargs):
        epoch = round(state.epoch or 0)
        if epoch < 1:
            return control
        LOG.info("jaft epoch gate: epoch %d saved; waiting for the tuner's verdict", epoch)
        verdict = wait_verdict(self.gate_dir, epoch)
        if verdict.get("stop"):
            LOG.info("jaft epoch gate: stopped after epoch %d (%s)", epoch, verdict.get("why") or "tuner")
            control.should_training_stop = True
        return control


class EpochGatePlugin(BasePlugin):
    def get_input_args(self) -> str:
        return "recipes.epoch_gate.EpochGateArgs"

    def add_callbacks_post_trainer(self, cfg, trainer):
        return [EpochGate(cfg.epoch_gate_dir)] if cfg.epoch_gate_dir else []
