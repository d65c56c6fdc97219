"""An Axolotl plugin for the GPU proof: measures a training run from inside its own process and writes
`<output_dir>/proof.json` when training ends: peak memory, tokens/s after warm-up, the device and the
package versions the run really used (the GPU machine's differ from this project's .venv).

bench/gpu_proof.py adds it to a recipe with `--set plugins=[..., bench.proof_plugin.ProofPlugin]`.
Tokens are Axolotl's own count (`include_tkps`, on by default): every token slot of every training batch,
the anchors' measure (micro-batch × sequence length).
"""
from __future__ import annotations

import resource
import time
from pathlib import Path

from axolotl.integrations.base import BasePlugin
from transformers import TrainerCallback

from jaft.common import atomic_write_json
from recipes.manifest import versions as manifest_versions

MIB = 2**20
WARMUP_STEPS = 2  # the first steps pay for CUDA context, kernel selection and allocator growth
PACKAGES = ("torch", "transformers", "peft", "accelerate", "axolotl", "trl", "datasets", "liger-kernel",
            "bitsandbytes", "triton")


def versions() -> dict:
    out = manifest_versions(PACKAGES)
    import torch
    out["cuda"] = torch.version.cuda
    return out


def throughput(marks: list[tuple[float, float]], warmup: int = WARMUP_STEPS) -> dict:
    """Tokens/s over the steps after the first `warmup`, from (time, cumulative tokens) at each step's end
    (marks[i] ends step i + 1). With too few steps, fewer are left out (`warmup_steps` says how many)."""
    if len(marks) < 2:
        return {"tokens_per_s": None, "timed_steps": 0, "warmup_steps": len(marks)}
    skip = min(warmup, len(marks) - 1)
    (t0, n0), (t1, n1) = marks[skip - 1], marks[-1]
    return {"tokens_per_s": round((n1 - n0) / (t1 - t0), 1) if t1 > t0 else None,
            "timed_steps": len(marks) - skip, "warmup_steps": skip}


class ProofCallback(TrainerCallback):
    def __init__(self, out: Path):
        self.out = out
        self.marks: list[tuple[float, float]] = []
        self.started = None

    def _sync(self):
        import torch
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # a step's kernels are queued: time them done

    def on_train_begin(self, args, state, control, **kwargs):
        self._sync()
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._sync()
        tokens = getattr(state, "tokens", {}).get("total")
        self.marks.append((time.perf_counter(), float(tokens.sum()) if tokens is not None else float("nan")))

    def on_train_end(self, args, state, control, **kwargs):
        import torch
        cuda = torch.cuda.is_available()
        tokens = self.marks[-1][1] if self.marks else 0.0
        record = {
            "steps": len(self.marks), "tokens": int(tokens) if tokens == tokens else None,
            "train_seconds": round(time.perf_counter() - self.started, 2) if self.started else None,
            **throughput(self.marks),
            "peak_reserved_mib": round(torch.cuda.max_memory_reserved() / MIB) if cuda else None,
            "peak_allocated_mib": round(torch.cuda.max_memory_allocated() / MIB) if cuda else None,
            # Linux reports ru_maxrss in KiB.
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "device": torch.cuda.get_device_name(0) if cuda else "cpu",
            "versions": versions(),
        }
        if args.process_index == 0:
            atomic_write_json(self.out, record)


class ProofPlugin(BasePlugin):
    def add_callbacks_post_trainer(self, cfg, trainer):
        return [ProofCallback(Path(cfg.output_dir) / "proof.json")]
