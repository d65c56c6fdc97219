"""One trial of a `just tune` study: a real jaft run (`just train ... --trial N`) driven epoch by epoch.

The trial trains with the grid's recipe (same `num_epochs`, same cosine schedule), its learning rate and
LoRA rank from the sampler. Each epoch's checkpoint is scored on the study's tuning split (`just eval`'s scoring, with
JAFT_DATA at `<study>/data`, where the evaluation split's file holds the tuning rows) while the training
waits at the epoch gate (recipes/gate.py); the score goes to Optuna, and the pruner's verdict goes back to
the training: go on, or stop now. A pruned trial's run.json says `pruned`, and its cost counts only the
epochs it trained.

Example (what `just tune` runs for each trial): `Objective(study_cfg, env={})(trial)`; by hand, an epoch
is scored with `python -m pipeline.trial score runs/tiny-marc-tune/tiny-marc-tune-0 1`.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jaft.common import DataError, UsageError, run
from jaft.records import read_epoch_scores, write_scores
from prompts.tasks import get_task
from recipes import (DEFAULT_SEED, GATE_DIR, RECIPE_DEFAULTS, RunSpec, checkpoints, clear_gate, die_with_parent,
                     fingerprint, read_manifest, same_checkpoint, write_verdict)
from recipes.runs import parse_trial_lr

# A trial without --ranks trains the recipe's rank; with --ranks, alpha keeps the recipe's alpha/rank ratio (2).
DEFAULT_RANK = RECIPE_DEFAULTS["lora"]["r"]
ALPHA_PER_RANK = RECIPE_DEFAULTS["lora"]["alpha"] // RECIPE_DEFAULTS["lora"]["r"]
POLL_S = 1.0
STOP_GRACE_S = 60  # after Ctrl-C, how long the training has to record itself interrupted


class TrialFailed(Exception):
    """A trial whose training or scoring failed: Optuna records it FAIL and the study goes on."""


@dataclass(frozen=True)
class StudyConfig:
    """What every trial of one study shares, here or on a Ray node (picklable; paths absolute)."""
    model: str
    task: str
    dir: str
    epochs: int
    lr_min: float
    lr_max: float
    ranks: tuple = ()
    seed: int = DEFAULT_SEED
    batch_size: int = 16
    deepspeed: str | None = None
    parallel: bool = False  # trials in flight at once (Ray): TPE's constant liar

    @property
    def name(self) -> str:
        return Path(self.dir).name

    @property
    def journal(self) -> Path:
        return Path(self.dir) / "study.journal"

    def trial_env(self) -> dict:
        """A trial's run lives in the study folder and reads the study's data (train minus the tuning rows)."""
        return {"JAFT_RUNS": self.dir, "JAFT_DATA": str(Path(self.dir) / "data")}


def seeded_sampler(seed: int, parallel: bool = False):
    import optuna
    return optuna.samplers.TPESampler(seed=seed, constant_liar=parallel)


def run_number(trial) -> int:
    """The run a trial trains: its own number, or the number of the killed trial it retries (whose run
    folder it resumes from the last checkpoint)."""
    return int(trial.user_attrs.get("retry_of", trial.number))


def lock_path(study_dir: str | Path, number: int) -> Path:
    return Path(study_dir) / "locks" / f"trial-{number}.lock"


class TrialLock:
    """Held by the process driving a trial (flock: the kernel drops it when that process dies), so that a
    later `just tune` tells a trial still running elsewhere from one whose driver was killed."""

    def __init__(self, study_dir, number: int):
        self.path = lock_path(study_dir, number)
        self.fd = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _preexec():
    """SIGINT unblocked (a Ray worker blocks it, and children inherit the mask), and the training's jaft
    ends with its driver (Linux)."""
    dies = die_with_parent()

    def setup() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        if dies:
            dies()
    return setup


def train_command(cfg: StudyConfig, spec: RunSpec, rank: int) -> list[str]:
    cmd = [sys.executable, "-m", "recipes", "train", cfg.model, cfg.task, spec.lr, "--trial", str(spec.trial),
           "--epochs", str(cfg.epochs), "--set", f"lora_r={rank}", "--set", f"lora_alpha={ALPHA_PER_RANK * rank}"]
    return cmd + (["--deepspeed", cfg.deepspeed] if cfg.deepspeed else [])


def metric_of(task: str) -> str:
    return get_task(task).metrics[0]


class Objective:
    """Optuna's objective: one trial, start to end. `env` adds to the environment of its steps (GPU ids,
    thread counts); the study's folders are added here."""

    def __init__(self, cfg: StudyConfig, env: dict | None = None):
        self.cfg, self.env = cfg, dict(env or {})

    def __call__(self, trial) -> float:
        cfg = self.cfg
        # Each trial draws with a sampler seeded by --seed and its own number: the same study history gives
        # the same rates, and a resumed study or a parallel task never repeats another trial's draw.
        trial.study.sampler = seeded_sampler(cfg.seed + trial.number, cfg.parallel)
        lr = parse_trial_lr(trial.suggest_float("lr", cfg.lr_min, cfg.lr_max, log=True))
        rank = trial.suggest_categorical("rank", list(cfg.ranks)) if cfg.ranks else DEFAULT_RANK
        spec = RunSpec.parse(cfg.model, cfg.task, lr, trial=run_number(trial))
        trial.set_user_attr("run_id", spec.id)
        trial.set_user_attr("lr_trained", spec.lr)
        trial.set_user_attr("rank_trained", rank)
        lock = TrialLock(cfg.dir, spec.trial)
        if not lock.try_acquire():
            raise TrialFailed(f"{spec.id} is driven by another `just tune` ({lock.path})")
        try:
            return self._drive(trial, spec, rank)
        finally:
            lock.release()

    def _drive(self, trial, spec: RunSpec, rank: int) -> float:
        import optuna
        cfg = self.cfg
        run_dir = Path(cfg.dir) / spec.id
        env = {**os.environ, **self.env, **cfg.trial_env()}
        clear_gate(run_dir)
        logs = Path(cfg.dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        say(f"trial {trial.number}: {spec.id}, lr {spec.lr}, rank {rank}, up to {cfg.epochs} epochs")
        with (logs / f"{spec.id}-train.log").open("a", encoding="utf-8") as log:
            # A session of its own: Ctrl-C reaches the tuner alone, which passes one SIGINT on (a second one
            # would make the training's jaft kill Axolotl at once instead of letting it record the stop).
            cmd = train_command(cfg, spec, rank)
            if read_manifest(run_dir).get("status") == "finished":  # a retry whose training had ended: score only
                cmd = [sys.executable, "-c", "pass"]
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_preexec(),
                                    start_new_session=True)
            try:
                values, pruned, problem = self._epochs(trial, proc, run_dir)
                code = proc.wait()
            except KeyboardInterrupt:  # Ctrl-C (or ray.cancel): the training records itself interrupted
                stop_training(proc)
                trial.set_user_attr("interrupted", True)
                say(f"trial {trial.number}: interrupted; `just tune` again resumes it")
                raise
        record_cost(trial, run_dir)
        trial.set_user_attr("epochs_reached", len(values))
        if values:
            best = max(values, key=lambda k: (values[k], -k))  # ties: the earlier epoch, as just eval's rule
            trial.set_user_attr("best_epoch", best)
        if problem or code != 0:
            raise TrialFailed(problem or f"training exited {code}; log: {logs / (spec.id + '-train.log')}")
        if pruned:
            status = read_manifest(run_dir).get("status")
            say(f"trial {trial.number}: pruned after epoch {max(values)} (run.json: {status})")
            raise optuna.TrialPruned(f"pruned after epoch {max(values)}")
        if len(values) < cfg.epochs:
            raise TrialFailed(f"only {len(values)} of {cfg.epochs} epochs trained")
        say(f"trial {trial.number}: complete, best epoch {best} ({values[best]:.4f} on the tuning split)")
        return values[best]

    def _score(self, run_dir: Path, epoch: int) -> tuple[float | None, str | None]:
        """The epoch's tuning score, scored in this process (the model and libraries stay loaded between
        epochs and trials) with JAFT_DATA at the study's data: the tuning split."""
        try:
            with data_root_at(Path(self.cfg.dir) / "data"):
                score(run_dir, epoch, self.cfg.batch_size)
        except (DataError, UsageError, OSError, RuntimeError, ValueError) as e:
            return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
        finally:
            free_device_memory()
        value = epoch_value(run_dir, epoch, metric_of(self.cfg.task))
        return value, None if value is not None else "no score written"

    def _epochs(self, trial, proc, run_dir: Path) -> tuple[dict, bool, str | None]:
        """Score each epoch as its checkpoint appears, report it, tell the training the verdict. Returns
        (epoch -> tuning score, pruned, problem or None)."""
        cfg = self.cfg
        values: dict[int, float] = {}
        gate = run_dir / GATE_DIR
        for epoch in range(1, cfg.epochs + 1):
            checkpoint = None
            while checkpoint is None:
                checkpoint = dict(checkpoints(run_dir)).get(epoch) if run_dir.is_dir() else None
                if checkpoint is None and proc.poll() is not None:
                    checkpoint = dict(checkpoints(run_dir)).get(epoch) if run_dir.is_dir() else None
                    if checkpoint is None:
                        return values, False, None  # training ended before this epoch (its code says why)
                if checkpoint is None:
                    time.sleep(POLL_S)
            value, problem = self._score(run_dir, epoch)
            if value is None:
                write_verdict(gate, epoch, stop=True, why="scoring failed")
                return values, False, f"scoring epoch {epoch} failed: {problem}"
            values[epoch] = value
            trial.report(value, epoch)
            if epoch < cfg.epochs and trial.should_prune():
                write_verdict(gate, epoch, stop=True, why="pruned: below the median of earlier trials")
                return values, True, None
            write_verdict(gate, epoch, stop=False)
        return values, False, None


@contextmanager
def data_root_at(path: Path):
    """The settings' data folder at `path` for the duration (trials run one at a time per process: here, or
    one per Ray task). Through the settings object, not JAFT_DATA: a command holds its settings."""
    from jaft import settings
    with settings.use(settings.changed(data=Path(path))):
        yield


def free_device_memory() -> None:
    """What the scoring model left in this process's CUDA cache goes back to the card (the training, in
    another process, needs it for its next epoch)."""
    import gc
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def stop_training(proc: subprocess.Popen) -> None:
    """SIGINT to the training's jaft (it forwards to Axolotl and records the run interrupted), SIGKILL after
    the grace."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def record_cost(trial, run_dir: Path) -> None:
    try:
        cost = read_manifest(run_dir).get("cost") or {}
    except DataError:
        cost = {}
    for key in ("gpu_hours", "wall_s", "gpus", "device"):
        if key in cost:
            trial.set_user_attr(key, cost[key])


def epoch_value(run_dir: Path, epoch: int, metric: str) -> float | None:
    path = run_dir / "eval" / f"epoch-{epoch}" / "scores.json"
    try:
        return float(read_epoch_scores(path)["metrics"][metric])
    except (DataError, KeyError, TypeError, ValueError):
        return None


def say(msg: str) -> None:
    sys.stderr.write(f"[jaft tune] {msg}\n")
    sys.stderr.flush()


# ---- the steps a trial runs as subprocesses ----------------------------------------------------------------

def score(run_dir: Path, epoch: int, batch_size: int) -> None:
    """Score one epoch's checkpoint of a trial on the split JAFT_DATA holds (the tuning split), unless it is
    scored already from this very checkpoint; then refresh the run's scores.json."""
    from eval.runner import epoch_done, score_epochs, write_run_scores
    run_info = read_manifest(run_dir)
    checkpoint = dict(checkpoints(run_dir)).get(epoch)
    if not run_info or checkpoint is None:
        raise DataError(f"{run_dir}: no run.json or no complete checkpoint for epoch {epoch}")
    if not epoch_done(run_dir / "eval" / f"epoch-{epoch}", None, checkpoint):
        score_epochs(run_dir, run_info, [(epoch, checkpoint)], batch_size=batch_size, backend="hf", limit=None,
                     max_new_tokens=None)
    write_run_scores(run_dir, run_info)


def final(study_dir: Path, run_dir: Path, epoch: int, batch_size: int, limit: int | None, info: dict) -> dict:
    """The best trial's selected epoch, scored once on the task's evaluation split (JAFT_DATA: the real
    data): `<study>/eval/epoch-<k>/` and `<study>/scores.json`, the `tuned` cell of the tables."""
    from eval.runner import score_epochs
    run_info = read_manifest(run_dir)
    checkpoint = dict(checkpoints(run_dir)).get(epoch)
    if checkpoint is None:
        raise DataError(f"{run_dir}: no complete checkpoint for epoch {epoch}")
    out = study_dir / "eval" / f"epoch-{epoch}"
    done = out / "scores.json"
    s = read_epoch_scores(done) if done.is_file() else {}
    if not (same_checkpoint(s.get("checkpoint_fingerprint"), checkpoint) and s.get("limit") == limit):
        score_epochs(study_dir, run_info, [(epoch, checkpoint)], batch_size=batch_size, backend="hf", limit=limit,
                     max_new_tokens=None)
        s = read_epoch_scores(done)
    task = get_task(run_info["task"])
    entry = {"epoch": epoch, "n": s["n"], "limit": s.get("limit"), "metrics": s["metrics"],
             "diagnostics": s.get("diagnostics"), "val_loss": None, "eval_wall_s": s.get("wall_s"),
             "eval_examples_per_s": s.get("examples_per_s")}
    scores = {
        "run_id": study_dir.name, "model": run_info["model"], "task": task.name, "lr": "tuned",
        "tuned_lr": run_info["lr"], "rank": run_info.get("lora_r"), "trial_run": run_dir.name,
        "checkpoint_fingerprint": fingerprint(checkpoint), "variant": None, "seed": info["seed"],
        "split": task.eval_split, "metric": metric_of(task.name), "epochs": [entry], "best": entry,
        "best_by_val_loss": entry, "selection_rule": "tuning-split",
        "rules": {"tuning-split": f"the trial and epoch with the highest {metric_of(task.name)} on the tuning "
                                  f"split ({info['rows']} rows carved from train by seed {info['seed']})"},
        "tuning": info,
    }
    return write_scores(study_dir / "scores.json", scores)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.trial", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="verb", required=True)
    s = sub.add_parser("score", help="score one epoch of a trial on the tuning split (JAFT_DATA)")
    s.add_argument("run_dir", type=Path)
    s.add_argument("epoch", type=int)
    s.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args(argv)
    if not args.run_dir.is_dir():
        raise UsageError(f"no such run folder '{args.run_dir}'")
    score(args.run_dir, args.epoch, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
