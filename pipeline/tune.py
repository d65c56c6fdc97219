"""`just tune MODEL TASK`: an Optuna search of the learning rate (and LoRA rank) for one model and task,
measured on a tuning split carved from train, never on the split the tables report.

- The study lives in `runs/<model>-<task>-tune[-s<seed>]/`: its Optuna journal (`study.journal`, Optuna's
  journal file storage, safe for trials in parallel on shared storage), its data (`data/<task>/`: train
  minus the tuning rows, and the tuning rows as the split a trial is scored on), and its trials, each a
  real jaft run `<model>-<task>-tune-<N>` (pipeline/trial.py). The same command resumes it: finished and
  pruned trials count toward --trials, a trial whose `just tune` was killed is marked and run again
  (resuming its run from the last checkpoint).
- Sampler: TPE seeded by --seed and the trial's number; lr log-uniform in [--lr-min, --lr-max]; rank
  from --ranks when given.
- Pruner: the median rule from the first epoch on (once 2 trials have reported): a trial whose best
  tuning score so far is below the median of the earlier trials at the same epoch stops training there.
- At the end, the best trial's best epoch is scored once on the task's evaluation split: the `tuned` cell
  of Tables 3/5/6, and `tune.md` in the report (pipeline runs `just report`).

Examples:
  python -m pipeline tune calm2 marc --trials 8
  python -m pipeline tune calm2 marc --trials 12 --ranks 8 16 32 --lr-min 1e-5 --lr-max 5e-4
  python -m pipeline tune tiny marc --trials 4 --epochs 2 --tune-rows 8 --data-from prompts/samples
  python -m pipeline tune llama2-13b jsquad --trials 16 --ray auto      # trials as Ray tasks
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from jaft.cli import at_least_one, user_path
from jaft.common import UsageError, choose, data_root, run, runs_root
from pipeline.sweep import deepspeed_config, ensure_data
from pipeline.trial import Objective, StudyConfig, TrialFailed, TrialLock, final, run_number, say, seeded_sampler
from pipeline.tune_split import carve_into
from prompts.tasks import TASKS
from recipes.models import MODELS
from recipes.runs import DEFAULT_SEED, parse_seed

PRUNER_STARTUP = 2   # trials that must have reported an epoch before the median rule prunes
DEFAULT_TRIALS = 8
SETTINGS = ("lr_min", "lr_max", "ranks", "epochs", "seed", "tune_rows")


def study_name(model: str, task: str, seed: int) -> str:
    return f"{model}-{task}-tune" + (f"-s{seed}" if seed != DEFAULT_SEED else "")


def pruner():
    import optuna
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP, n_warmup_steps=0)


def storage(cfg: StudyConfig):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    cfg.journal.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(cfg.journal)))


def open_study(cfg: StudyConfig):
    """The study, created or resumed (its sampler is seeded per trial: pipeline.trial.Objective)."""
    import optuna
    return optuna.create_study(study_name=cfg.name, storage=storage(cfg), direction="maximize",
                               sampler=seeded_sampler(cfg.seed, cfg.parallel), pruner=pruner(), load_if_exists=True)


def check_settings(study, settings: dict) -> None:
    """A study keeps the settings it began with (its trials were sampled from them)."""
    old = study.user_attrs.get("settings")
    if old is None:
        study.set_user_attr("settings", settings)
        return
    changed = [f"{k} {old.get(k)} -> {settings.get(k)}" for k in SETTINGS if old.get(k) != settings.get(k)]
    if changed:
        raise UsageError(f"study {study.study_name} was begun with other settings ({'; '.join(changed)}); run it "
                         f"with its own, or start a new study with another --seed")


def recover(study, study_dir: str) -> list[str]:
    """Trials left RUNNING by a `just tune` that was killed (their lock is free) are marked failed with
    `killed`; killed or interrupted trials not yet retried are queued again with the same parameters (the
    retry resumes the same run folder). Returns what was done, one line each."""
    from optuna.trial import TrialState
    lines = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        lock = TrialLock(study_dir, run_number(t))
        if lock.try_acquire():
            lock.release()
            study._storage.set_trial_user_attr(t._trial_id, "killed", True)
            study.tell(t.number, state=TrialState.FAIL)
            lines.append(f"trial {t.number} ({t.user_attrs.get('run_id', '?')}): its `just tune` was killed; "
                         f"marked failed (killed)")
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        stopped = t.user_attrs.get("killed") or t.user_attrs.get("interrupted")
        if t.state != TrialState.FAIL or not stopped or not t.params:
            continue
        number = run_number(t)
        if any(u.number > t.number and run_number(u) == number for u in trials):
            continue  # retried already
        study.enqueue_trial(t.params, user_attrs={"retry_of": number})
        lines.append(f"trial {t.number} queued again (lr {t.params['lr']:.3g}); it resumes "
                     f"{t.user_attrs.get('run_id', '?')}")
    return lines


def counted(study) -> int:
    """Trials that count toward --trials: finished (complete) or pruned."""
    from optuna.trial import TrialState
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def add_arguments(verb: str, ap) -> None:
    ap.add_argument("model", help=f"one of {', '.join(MODELS)}")
    ap.add_argument("task", help=f"one of {', '.join(TASKS)}")
    ap.add_argument("--trials", type=at_least_one, default=DEFAULT_TRIALS,
                    help=f"finished + pruned trials the study should have (default {DEFAULT_TRIALS})")
    ap.add_argument("--lr-min", type=float, default=1e-6, help="lowest learning rate (log-uniform; default 1e-6)")
    ap.add_argument("--lr-max", type=float, default=1e-3, help="highest learning rate (default 1e-3)")
    ap.add_argument("--ranks", type=at_least_one, nargs="+",
                    help="LoRA ranks to choose from (default: the recipe's 16)")
    ap.add_argument("--epochs", type=at_least_one, default=10, help="epochs per trial (default 10, the grid's)")
    ap.add_argument("--tune-rows", type=at_least_one, help="rows of train held out for tuning (default 500, or 10%% "
                                                          "of a train split under 5,000 rows)")
    ap.add_argument("--seed", help=f"seed of the sampler and the tuning split (default {DEFAULT_SEED}; another "
                                   "seed is another study, -s<N>)")
    ap.add_argument("--data-from", type=user_path, help="prepare missing task data from DIR/<task>/ (hub schema)")
    ap.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                    help="run trials as Ray tasks: auto, local or the cluster's address (as `just sweep --ray`)")
    ap.add_argument("--parallel", type=at_least_one, default=2, help="with --ray: trials at a time (default 2)")
    ap.add_argument("--gpus-per-run", type=at_least_one, default=1, help="with --ray: GPUs each trial asks for")
    ap.add_argument("--ray-cpus-per-run", type=at_least_one,
                    help="with --ray on a cluster without GPUs: CPUs per trial")
    ap.add_argument("--deepspeed", type=user_path, help="a DeepSpeed config for every trial's training")
    ap.add_argument("--batch-size", type=at_least_one, default=16, help="eval batch size")
    ap.add_argument("--limit", type=at_least_one, help="score the tuned model on the first N eval rows only")
    ap.add_argument("--no-report", action="store_true", help="skip `just report` at the end")


def parser():
    from jaft.cli import Parser
    ap = Parser(prog="just tune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments("tune", ap)
    return ap


def main(argv: list[str]) -> int:
    return run_verb("tune", parser().parse_args(argv))


def run_verb(verb: str, args) -> int:
    model, task = choose("model", args.model, MODELS), choose("task", args.task, TASKS)
    seed = parse_seed(args.seed)
    if not 0 < args.lr_min < args.lr_max < 1:
        raise UsageError(f"--lr-min {args.lr_min} / --lr-max {args.lr_max}: expected 0 < min < max < 1")
    deepspeed = deepspeed_config(args.deepspeed)
    if args.ray is not None:
        from pipeline import cluster
        cluster.require_ray()
    ensure_data([task], args.data_from)
    study_dir = (runs_root() / study_name(model, task, seed)).resolve()
    split = carve_into(TASKS[task], data_root() / task, study_dir / "data" / task, args.tune_rows, seed)
    say(f"{study_dir.name}: tuning split of {split['rows']} rows held out of train ({split['train_rows']} "
        f"train rows left), seed {seed}; trials score on it, never on {TASKS[task].eval_split}")
    cfg = StudyConfig(model=model, task=task, dir=str(study_dir), epochs=args.epochs, lr_min=args.lr_min,
                      lr_max=args.lr_max, ranks=tuple(args.ranks or ()), seed=seed, batch_size=args.batch_size,
                      deepspeed=deepspeed)
    study = open_study(cfg)
    check_settings(study, {"lr_min": args.lr_min, "lr_max": args.lr_max, "ranks": list(cfg.ranks),
                           "epochs": args.epochs, "seed": seed, "tune_rows": split["rows"]})
    for line in recover(study, cfg.dir):
        say(line)
    todo = max(0, args.trials - counted(study))
    say(f"study {cfg.name}: {counted(study)} of {args.trials} trials finished or pruned, {todo} to run")
    if args.ray is not None:
        from pipeline import tune_cluster
        with tune_cluster.session(cfg, args) as ask:
            failed, interrupted = tune_cluster.run_trials(cfg, todo, args, ask) if todo else (0, False)
            if interrupted:
                return 130
            code = finish(cfg, open_study(cfg), split, args, ask)
        return report_and_exit(args, failed, code)
    failed = 0
    if todo:
        before = len(study.trials)
        try:
            study.optimize(Objective(cfg), n_trials=todo, catch=(TrialFailed,))
        except KeyboardInterrupt:  # the trial in progress is marked interrupted; the next `just tune` resumes it
            say("interrupted; `just tune` with the same arguments resumes the study")
            return 130
        failed = sum(1 for t in study.trials[before:] if t.state.name == "FAIL")
    return report_and_exit(args, failed, finish(cfg, open_study(cfg), split, args))


def report_and_exit(args, failed: int, code: int) -> int:
    if not args.no_report:
        subprocess.call([sys.executable, "-m", "report"])
    return 1 if failed or code else 0


def finish(cfg: StudyConfig, study, split: dict, args, ask=None) -> int:
    """The best trial's selected epoch on the evaluation split (once), and a summary."""
    from optuna.trial import TrialState
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        say("no trial finished yet: nothing to evaluate on the eval split")
        return 1
    best = max(complete, key=lambda t: (t.value, -t.number))
    run_dir = Path(cfg.dir) / best.user_attrs["run_id"]
    epoch = int(best.user_attrs["best_epoch"])
    info = {"study": cfg.name, "trial": best.number, "value": best.value, "rows": split["rows"],
            "seed": cfg.seed, "lr": best.user_attrs.get("lr_trained"), "rank": best.user_attrs.get("rank_trained")}
    say(f"best: trial {best.number} ({run_dir.name}, lr {info['lr']}, rank {info['rank']}), epoch {epoch}, "
        f"{best.value:.4f} on the tuning split; scoring it on {TASKS[cfg.task].eval_split}")
    if ask is not None:
        from pipeline import tune_cluster
        scores = tune_cluster.run_final(cfg, run_dir, epoch, info, args, ask)
    else:
        scores = final(Path(cfg.dir), run_dir, epoch, args.batch_size, args.limit, info)
    metric = scores["metric"]
    say(f"tuned: {metric} {scores['best']['metrics'][metric]:.4f} on {scores['split']} ({scores['best']['n']} rows)"
        f" -> {Path(cfg.dir) / 'scores.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
