"""One run of a sweep, wherever it runs (this machine or a Ray node): where it stands, and its steps
(`just train`, then `just eval`), each a subprocess logged into the run folder.

The local sweep (`pipeline.sweep`) and the cluster executor (`pipeline.cluster`) both call `run_one`, so a
run is the same two commands on either path. Example: `python -m pipeline sweep --models tiny --lrs 2e-4`
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

from eval import inputs
from eval.runner import epoch_done
from jaft import settings
from jaft.common import DataError, UsageError
from recipes import RunLock, die_with_parent, manifest
from recipes.runs import DEFAULT_SEED, RunSpec


def say(msg: str) -> None:
    sys.stderr.write(f"[jaft sweep] {msg}\n")  # one write: lines from parallel runs never interleave
    sys.stderr.flush()


def state(spec: RunSpec, limit: int | None) -> str:
    """'done' (finished and every epoch scored over the same rows), 'eval' (finished, scores missing) or 'train'."""
    if manifest.read(spec.dir).get("status") != "finished":
        return "train"
    wanted = inputs.current(spec.task.name, "hf", None)  # what the sweep's eval step generates with
    scored = all(epoch_done(spec.dir / "eval" / f"epoch-{k}", limit, p, wanted)
                 for k, p in manifest.checkpoints(spec.dir))
    return "done" if scored and (spec.dir / "scores.json").is_file() else "eval"


@dataclass(frozen=True)
class StepOptions:
    """What every run of one sweep shares, on this machine or on a cluster node (picklable for Ray)."""
    epochs: int | None = None
    batch_size: int = 16
    limit: int | None = None
    deepspeed: str | None = None  # absolute path: a cluster task may start in another folder


def train_command(spec: RunSpec, opts: StepOptions) -> list[str]:
    """`just train` for one run; a per-run option (a seed, say) belongs in the spec and is spelled here."""
    cmd = [sys.executable, "-m", "recipes", "train", spec.model.name, spec.task.name, spec.lr]
    cmd += ["--variant", spec.variant] if spec.variant else []
    cmd += ["--seed", str(spec.seed)] if spec.seed != DEFAULT_SEED else []
    cmd += ["--epochs", str(opts.epochs)] if opts.epochs else []
    cmd += ["--deepspeed", opts.deepspeed] if opts.deepspeed else []
    return cmd


def eval_command(spec: RunSpec, opts: StepOptions) -> list[str]:
    cmd = [sys.executable, "-m", "eval", "eval", str(spec.dir), "--batch-size", str(opts.batch_size)]
    return cmd + (["--limit", str(opts.limit)] if opts.limit else [])


def call_step(cmd: list[str], env: dict, log) -> int:
    """Run one step here; Ctrl-C on the terminal reaches the step too (same process group), and a sweep
    that dies sends the step SIGTERM (which stops its training cleanly)."""
    return subprocess.call(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent())


def record_failure(spec: RunSpec, reason: str, step: str = "train") -> None:
    """The run's own record of a failed step, if it made none; never while another process holds the run
    (a step refused because the run is busy must not mark someone else's training failed). A failed eval
    of a finished training is recorded as `eval_error`: the training stays finished (the next sweep evaluates
    it again, it does not relaunch Axolotl)."""
    try:
        with RunLock(spec.dir):
            status = manifest.read(spec.dir).get("status")
            if step == "eval" and status == "finished":
                manifest.update(spec.dir, eval_error=reason)
            elif status not in ("failed", "interrupted"):
                manifest.update(spec.dir, run_id=spec.id, status="failed", error=reason)
    except (UsageError, DataError):
        pass  # busy, or a damaged run.json: the step's log says what happened


def clear_eval_error(spec: RunSpec) -> None:
    """After an eval that succeeded: the run's earlier eval failure is no longer its state."""
    try:
        with RunLock(spec.dir):
            if manifest.read(spec.dir).get("eval_error"):
                manifest.update(spec.dir, eval_error=None)
    except (UsageError, DataError):
        pass


def run_one(spec: RunSpec, todo: str, opts: StepOptions, env: dict | None = None,
            call: Callable[[list[str], dict, object], int] = call_step) -> tuple[bool, str]:
    """Train (when `todo` is 'train') then eval one run, each a subprocess logged to sweep-<step>.log.

    `env` adds to this process's environment (CUDA_VISIBLE_DEVICES, OMP_NUM_THREADS); `call` runs a step
    and returns its exit code (the cluster executor passes one that also handles cancellation)."""
    env = {**os.environ, **settings.current().environ(), **(env or {})}
    steps = ([("train", train_command(spec, opts))] if todo == "train" else []) + [("eval", eval_command(spec, opts))]
    spec.dir.mkdir(parents=True, exist_ok=True)
    for step, cmd in steps:
        log = spec.dir / f"sweep-{step}.log"
        with log.open("w", encoding="utf-8") as f:
            code = call(cmd, env, f)
        if code != 0:
            tail = [l for l in log.read_text(errors="replace").splitlines() if l.strip()][-1:] or [""]
            reason = f"{step} exited {code}: {tail[0][:300]}"
            record_failure(spec, reason, step)
            return False, f"{reason} (log: {log})"
    clear_eval_error(spec)
    return True, "ok"

