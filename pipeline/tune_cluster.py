"""`just tune --ray [ADDRESS]`: a study's trials as Ray tasks, sharing the study's journal file.

Each task opens the study from `<study>/study.journal` (Optuna's journal file storage takes a file lock
for every write, so trials on several nodes append safely) and runs one trial (pipeline/trial.py) on its
node, asking for the resources a sweep run asks for (`--gpus-per-run`, or `--ray-cpus-per-run`). At most
`--parallel` trials run at a time: TPE learns from the finished ones (constant liar for those in flight),
and each trial's sampler is seeded with the study's seed and the trial's number, so that parallel trials
differ.
Runs, data and the study must be on storage every node mounts at the same path (checked first, as by
`just sweep --ray`). A node lost mid-trial leaves it RUNNING; the next `just tune` marks it killed and
runs it again, resuming its run from the last checkpoint.

Example: `python -m pipeline tune calm2 marc --trials 16 --ray auto --parallel 4`
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from pipeline import cluster
from pipeline.trial import Objective, StudyConfig, TrialFailed, final, say


def trial_task(cfg: StudyConfig, ask: cluster.Ask) -> tuple[int | None, str, str]:
    """One trial on the node Ray picked: (trial number, its state, the node)."""
    from pipeline.tune import open_study
    node = cluster.node_label()
    env = {} if ask.gpus else {"OMP_NUM_THREADS": str(ask.cpus)}  # Ray sets CUDA_VISIBLE_DEVICES itself
    cfg = replace(cfg, parallel=True)
    study = open_study(cfg)
    ran = []
    study.optimize(Objective(cfg, env), n_trials=1, catch=(TrialFailed,), callbacks=[lambda s, t: ran.append(t)])
    return (ran[0].number, ran[0].state.name, node) if ran else (None, "?", node)


def final_task(cfg: StudyConfig, run_dir: str, epoch: int, info: dict, batch_size: int, limit) -> dict:
    return final(Path(cfg.dir), Path(run_dir), epoch, batch_size, limit, info)


@contextmanager
def session(cfg: StudyConfig, args):
    """Connected to the cluster (checked: a node fits a trial, every node sees the shared folders) for the
    trials and the final scoring; yields what each task asks for."""
    import ray
    ask = cluster.Ask.of(args.gpus_per_run, args.ray_cpus_per_run)
    cluster.connect(args.ray, cluster.shared_env({cfg.model}))
    try:
        cluster.check_shared_storage(cluster.check_cluster(ask))
        yield ask
    finally:
        ray.shutdown()


def run_trials(cfg: StudyConfig, todo: int, args, ask: cluster.Ask) -> tuple[int, bool]:
    """`todo` trials, at most `args.parallel` at a time. Returns (failed trials, interrupted)."""
    import ray
    task = ray.remote(trial_task).options(num_cpus=ask.cpus if not ask.gpus else 1, num_gpus=ask.gpus,
                                          max_retries=0)
    failed, slot, pending = 0, 0, {}
    try:
        while slot < todo or pending:
            while slot < todo and len(pending) < args.parallel:
                pending[task.remote(cfg, ask)] = slot
                slot += 1
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                pending.pop(ref)
                try:
                    number, state, node = ray.get(ref)
                except ray.exceptions.RayError as e:  # the trial stays RUNNING: the next `just tune` retries it
                    number, state, node = None, f"lost ({cluster._first_line(e)})", "?"
                say(f"trial {number}: {state} on node {node}")
                failed += state not in ("COMPLETE", "PRUNED")
        return failed, False
    except KeyboardInterrupt:
        say(f"interrupted: cancelling {len(pending)} trials (each gets up to {cluster.STOP_GRACE_S} s to stop)")
        for ref in pending:
            ray.cancel(ref)
        ray.wait(list(pending), num_returns=len(pending), timeout=cluster.STOP_GRACE_S + 15)
        return failed, True


def run_final(cfg: StudyConfig, run_dir: Path, epoch: int, info: dict, args, ask: cluster.Ask) -> dict:
    """The best trial's epoch on the evaluation split, as one more task (where the GPUs are)."""
    import ray
    task = ray.remote(final_task).options(num_cpus=ask.cpus if not ask.gpus else 1, num_gpus=ask.gpus)
    return ray.get(task.remote(cfg, str(run_dir), epoch, info, args.batch_size, args.limit))
