"""An Axolotl plugin that enforces the run's VRAM cap inside the training process.

Axolotl's `max_memory` only places weights; the paper's budget (46,000 MB as nvidia-smi counts MB, i.e.
MiB) has to hold for activations too, so the caching allocator itself is capped with
`torch.cuda.set_per_process_memory_fraction` before the model loads. A recipe turns it on with

    plugins: [recipes.vram_cap.VramCapPlugin]
    vram_cap_mb: 46000

It also measures what the cap is about: at the end of training each rank writes its peak memory and device
into `cost.rank<k>.json` in the run folder, and it has the trainer count the non-padding tokens it trains
on (`trainer_state.json`: num_input_tokens_seen). recipes/cost.py turns both into run.json's `cost`.
"""
from __future__ import annotations

import logging
import os

from axolotl.integrations.base import BasePlugin
from pydantic import BaseModel

# Under the `axolotl` logger tree so that Axolotl's handlers print it in the training log.
LOG = logging.getLogger("axolotl.integrations.jaft_vram_cap")
from recipes.models import DEFAULT_CAP_MB  # noqa: E402 - after the logger, as Axolotl's plugins do

MIB = 2**20


class VramCapArgs(BaseModel):
    """The recipe key this plugin adds to Axolotl's config schema."""

    vram_cap_mb: int | None = DEFAULT_CAP_MB


def cap_fraction(cap_mb: int, total_bytes: int) -> tuple[float, bool]:
    """The fraction of the card that `cap_mb` MiB is, clamped to 1.0; and whether it had to be clamped."""
    if cap_mb <= 0:
        raise ValueError(f"vram_cap_mb must be positive, got {cap_mb}")
    fraction = cap_mb * MIB / total_bytes
    return (1.0, True) if fraction > 1.0 else (fraction, False)


def apply_cap(cap_mb: int | None, torch_module=None) -> float | None:
    """Cap every visible CUDA device; return the fraction used (None when there is no cap or no CUDA)."""
    if torch_module is None:
        import torch as torch_module
    if cap_mb is None:
        LOG.info("jaft vram cap: none set")
        return None
    if not torch_module.cuda.is_available():
        LOG.info("jaft vram cap: no CUDA device, cap of %d MB not applied", cap_mb)
        return None
    fraction = None
    for device in range(torch_module.cuda.device_count()):
        total = torch_module.cuda.get_device_properties(device).total_memory
        fraction, clamped = cap_fraction(cap_mb, total)
        if clamped:
            LOG.warning("jaft vram cap: %d MB is more than GPU %d has (%d MB); using the whole card",
                        cap_mb, device, total // MIB)
        torch_module.cuda.set_per_process_memory_fraction(fraction, device)
        LOG.info("jaft vram cap: GPU %d capped at %d MB (fraction %.4f of %d MB)",
                 device, min(cap_mb, total // MIB), fraction, total // MIB)
    return fraction


def write_rank_cost(output_dir: str, torch_module=None) -> dict:
    """This rank's device and peak memory, into `cost.rank<k>.json`: on CUDA the caching allocator's peak
    reservation (what the cap limits, and what nvidia-smi shows beside the context), on a CPU the process's
    peak resident memory."""
    from jaft.common import atomic_write_json
    from recipes.cost import max_rss_mib, rank_file
    if torch_module is None:
        import torch as torch_module
    rank = int(os.environ.get("RANK", "0"))
    if torch_module.cuda.is_available():
        device = torch_module.cuda.current_device()
        record = {"device": torch_module.cuda.get_device_name(device),
                  "peak_mem_mib": torch_module.cuda.max_memory_reserved(device) / MIB,
                  "peak_mem_of": "torch.cuda.max_memory_reserved"}
    else:
        record = {"device": "cpu", "peak_mem_mib": max_rss_mib(), "peak_mem_of": "trainer process max RSS"}
    record = {"rank": rank, "world_size": int(os.environ.get("WORLD_SIZE", "1")), **record}
    atomic_write_json(rank_file(output_dir, rank), record)
    LOG.info("jaft cost: rank %d peak memory %.0f MiB (%s)", rank, record["peak_mem_mib"], record["peak_mem_of"])
    return record


class VramCapPlugin(BasePlugin):
    def get_input_args(self) -> str:
        return "recipes.vram_cap.VramCapArgs"

    def pre_model_load(self, cfg):
        apply_cap(cfg.vram_cap_mb)

    def get_training_args(self, cfg):
        # The Trainer counts the tokens it trains on (attention-mask sums, gathered over ranks), and restores
        # the count from the checkpoint on resume: the run's `cost.tokens`, exact.
        return {"include_num_input_tokens_seen": "non_padding"}

    def post_train(self, cfg, model):
        write_rank_cost(cfg.output_dir)
