"""Render a run's recipe, fit its rows into the sequence length, and run real Axolotl training on it.

Example: `python -m recipes train calm2 marc 2e-4` (what `just train calm2 marc 2e-4` runs).
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

from jaft.common import UsageError, choose, follow_umask
from recipes import manifest, resume, tracking
from recipes.cost import Meter
from recipes.gate import stopped_at
from recipes.lock import RunLock
from recipes.render import base_model_path, build_recipe, option_args, validate, write_recipe
from recipes.rows import SPLITS, fit_run_rows, load_tokenizer, write_run_data
from recipes.runs import RunSpec
from recipes.supervise import Interrupted, RunLog, run_training
from prompts import provenance, split_path

OOM_MARKERS = ("CUDA out of memory", "OutOfMemoryError")
LAUNCHERS = ("accelerate", "python")


def private_env() -> dict:
    """The environment Axolotl runs in: no telemetry, no tracker, nothing phoning home."""
    env = dict(os.environ)
    # Axolotl's accelerate launcher runs `accelerate` from PATH: this environment's, also when the venv is
    # not activated (`.venv/bin/just train ...`).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update({"AXOLOTL_DO_NOT_TRACK": "1", "DO_NOT_TRACK": "1", "WANDB_MODE": "disabled",
                "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"})
    return env


def launcher() -> str:
    """accelerate on GPUs (DeepSpeed and several GPUs need it), python on the CPU; JAFT_LAUNCHER picks one
    (the tests run the GPU's accelerate path on the CPU this way)."""
    from jaft.settings import current
    forced = current().launcher
    if forced:
        return choose("launcher (JAFT_LAUNCHER)", forced, LAUNCHERS)
    import torch
    return "accelerate" if torch.cuda.is_available() else "python"


def axolotl_command(recipe: Path) -> list[str]:
    """`axolotl train RECIPE`, through Axolotl's own CLI started as a module (recipes/axolotl_entry.py: why).
    `-P`: the user's folder is not put first on the path, so a folder of theirs named `recipes` shadows nothing."""
    return [sys.executable, "-P", "-m", "recipes.axolotl_entry", "train", str(recipe), "--launcher", launcher()]


def oom_advice(spec: RunSpec, cfg: dict) -> str:
    """What to change after an out-of-memory under the cap, from the memory planner."""
    from recipes.memory import longest_fit, recipe_setting, switched
    cap = cfg.get("vram_cap_mb") or 0
    setting = recipe_setting(spec.model, cfg)
    here = longest_fit(spec.model, setting, cap, step=100)
    full = longest_fit(spec.model, switched(setting, "SDPA+GC"), cap, step=100)
    return (f"out of GPU memory under the {cap:,} MB cap at sequence_len {cfg['sequence_len']} "
            f"({setting.name}, micro-batch {setting.micro_batch}); the planner fits {here:,} tokens with this "
            f"setting and {full:,} with SDPA + gradient checkpointing: use --variant len<N> with N at most "
            f"{here:,}, or --variant full (`just plan {spec.model.name}`)")


def refuse_finished(spec: RunSpec) -> UsageError:
    return UsageError(f"run {spec.id} already finished ({spec.dir}); pass --force to train it again")


def train(spec: RunSpec, *, force: bool = False, epochs: int | None = None, overrides=(),
          deepspeed: str | None = None, cap_mb: int | None = None, track: str | None = None) -> int:
    """Train one run; returns Axolotl's exit code, or raises Interrupted when a signal stopped it. A finished
    run is refused unless `force`; a run another train or eval holds (its lock) is refused, `force` or not."""
    lock = RunLock(spec.dir)
    try:
        lock.acquire_if_present()  # a busy run is refused at once, not after minutes of checks
        return _train_locked(spec, lock, force=force, epochs=epochs, overrides=overrides, deepspeed=deepspeed,
                             cap_mb=cap_mb, track=track)
    finally:
        lock.release()


def _train_locked(spec: RunSpec, lock: RunLock, *, force: bool, epochs: int | None, overrides,
                  deepspeed: str | None, cap_mb: int | None, track: str | None = None) -> int:
    state = {} if force else manifest.read(spec.dir)  # --force starts clean, even from a damaged run.json
    if state.get("status") == "finished":
        raise refuse_finished(spec)
    launcher()  # a bad JAFT_LAUNCHER fails before anything is written
    base_model = base_model_path(spec)
    # The recipe's own checks and the planner's cap are arithmetic: a setting that can never fit is said
    # before the user is sent to download data for it.
    cfg = build_recipe(spec, force=force, epochs=epochs, overrides=overrides, deepspeed=deepspeed,
                       cap_mb=cap_mb, base_model=base_model, axolotl_check=False)
    for split in SPLITS:  # a missing data file fails before anything is loaded or written
        split_path(spec.task.name, split)
    validate(cfg)  # Axolotl's own schema, before anything trains (its import takes seconds: after the above)
    cfg.update(tracking.recipe_keys(track, spec.id))  # --track: Axolotl's own MLflow / W&B integration
    # Fitting reads and checks the data: a broken file fails here, before the run folder is touched.
    print(f"[jaft] {spec.id}: fitting rows into sequence_len {cfg['sequence_len']}", file=sys.stderr)
    try:
        tokenizer = load_tokenizer(base_model, spec.model.trust_remote_code)
        fitted = fit_run_rows(spec, tokenizer, int(cfg["sequence_len"]), log=True)
    except KeyboardInterrupt:
        print(f"\n[jaft] {spec.id}: interrupted before training started; nothing changed", file=sys.stderr)
        return 130
    if lock.fd is None:  # the folder (and lock) of a new run is made only now that every check passed
        lock.acquire()
        state = {} if force else manifest.read(spec.dir)  # another train may have begun (and finished) it
        if state.get("status") == "finished":
            raise refuse_finished(spec)
    if force:
        resume.clean(spec.dir)  # a fresh run, whatever its status: old checkpoints never resumed or scored
        state = {}
    wanted = resume.identity(cfg, {split: f.path for split, f in fitted.items()})
    resumed = bool(manifest.checkpoints(spec.dir))  # complete saves only
    if resumed:
        resume.check_resume(spec.id, state.get("identity"), wanted)
    for line in resume.set_aside_incomplete(spec.dir):
        print(f"[jaft] {spec.id}: {line}", file=sys.stderr)
    if not resumed:  # Axolotl keys its tokenized cache by file names, not contents: never reuse an old one
        shutil.rmtree(spec.dir / "prepared", ignore_errors=True)
    rows = write_run_data(spec, fitted)
    recipe = write_recipe(spec, cfg, option_args(epochs=epochs, overrides=overrides, deepspeed=deepspeed,
                                                 cap_mb=cap_mb))
    # What the run trains with is read back from the recipe Axolotl reads, after every --set.
    manifest.update(
        spec.dir, run_id=spec.id, model=spec.model.name, task=spec.task.name, lr=spec.lr,
        variant=spec.variant, base_model=spec.model.hub_id or "tiny (local)",
        dataset=provenance(spec.task.name), prompt_template=spec.task.template_file,
        prompt_template_sha256=spec.task.template_hash, **manifest.effective(recipe),
        rows=rows, versions=manifest.versions(), status="running", resumed=resumed, started=manifest.now(),
        identity=wanted, error=None, **({"trial": spec.trial} if spec.trial is not None else {}),
    )
    # --- tracking (recipes/tracking.py): the tracker run, reused on resume, recorded in run.json
    try:
        track_env, tracked = tracking.start_train(spec.dir, manifest.read(spec.dir), cfg, track)
    except Exception as e:  # noqa: BLE001 - e.g. an unreachable MLflow server: nothing started, said in one line
        why = f"--track {track}: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"
        record(spec, status="failed", error=why)
        raise UsageError(f"{spec.id}: {why}") from None
    if tracked:
        manifest.update(spec.dir, tracking=tracked)
    return launch(spec, cfg, recipe, resumed, lock, track_env=track_env, track=track)


def record(spec: RunSpec, **fields) -> bool:
    """Update run.json at the end of a training; on a full disk, say so in one line instead of crashing."""
    try:
        manifest.update(spec.dir, **fields)
        return True
    except OSError as e:
        print(f"error: {spec.id}: could not record status '{fields.get('status')}' in {spec.dir / 'run.json'} "
              f"({e.strerror or e}); the next `just train` resumes from its last complete checkpoint",
              file=sys.stderr)
        return False


def _end_tracking(spec: RunSpec, cost: dict, track: str | None) -> None:
    if track:
        tracking.after_train(spec.dir, {**manifest.read(spec.dir), "cost": cost}, track)


def launch(spec: RunSpec, cfg: dict, recipe: Path, resumed: bool, lock: RunLock, *, track_env: dict | None = None,
           track: str | None = None) -> int:
    """Run Axolotl under supervision (recipes.supervise) and record how it ended."""
    cmd = axolotl_command(recipe)
    print(f"[jaft] {spec.id}: {' '.join(cmd)}" + (" (resuming)" if resumed else ""), file=sys.stderr)
    log = RunLog(spec.dir / "train.log")
    oom = []
    # Every session of this run folder counts: a resumed or retried run cost its earlier attempts too
    # (--force starts from an empty folder, so from zero).
    state = manifest.read(spec.dir)
    meter = Meter(spec.dir, before=state.get("cost"), open_session=state.get("cost_session"))
    # Recorded before Axolotl starts: a session killed with its jaft (and watchdog) still counts.
    record(spec, cost=meter.before or None, cost_session=meter.session)

    def on_line(line: str) -> None:
        sys.stderr.write(line)
        log.write(line)
        if not oom and any(m in line for m in OOM_MARKERS):
            oom.append(line)

    try:
        env = {k: v for k, v in {**private_env(), **(track_env or {})}.items() if v is not None}
        code, signum = run_training(cmd, env, on_line, spec.dir, keep_fds=(lock.fd,))
    finally:
        log.close()
        follow_umask(spec.dir)  # safetensors saves every checkpoint's weights 0600
    cost = meter.stop()
    try:
        _end_tracking(spec, cost, track)
    except Exception as e:  # noqa: BLE001 - a tracker that fails never fails the training it watched
        print(f"warning: {spec.id}: tracking: {type(e).__name__}: {str(e).splitlines()[0][:200]}", file=sys.stderr)
    if signum is not None:
        name = signal.Signals(signum).name
        record(spec, status="interrupted", error=f"stopped by {name}", cost=cost, cost_session=None)
        print(f"\n[jaft] {spec.id}: interrupted ({name}); `just train` again resumes from the last checkpoint",
              file=sys.stderr)
        raise Interrupted(signum)
    done = manifest.checkpoints(spec.dir)
    pruned = stopped_at(spec.dir) if spec.trial is not None else None
    if code == 0 and pruned is not None and len(done) >= pruned:  # `just tune` stopped it (recipes/gate.py)
        if not record(spec, status="pruned", finished=manifest.now(), epochs_saved=len(done), cost=cost,
                      cost_session=None):
            return 1
        print(f"[jaft] {spec.id}: pruned by the tuner after epoch {pruned}", file=sys.stderr)
        return 0
    if code == 0 and len(done) >= int(cfg["num_epochs"]):
        if not record(spec, status="finished", finished=manifest.now(), epochs_saved=len(done), cost=cost,
                      cost_session=None):
            return 1
        print(f"[jaft] {spec.id}: finished, {len(done)} epoch checkpoints in {spec.dir}", file=sys.stderr)
        return 0
    reason = f"axolotl exited {code}" if code else f"only {len(done)} of {cfg['num_epochs']} epochs saved"
    if oom:
        reason = oom_advice(spec, cfg)
    record(spec, status="failed", error=reason, epochs_saved=len(done), cost=cost, cost_session=None)
    print(f"error: {spec.id}: {reason}; log: {spec.dir / 'train.log'}", file=sys.stderr)
    return code or 1
