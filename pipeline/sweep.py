"""`just sweep`: data -> train -> eval for every run of a grid, then `just report`.

Skips runs that are finished and scored, resumes interrupted ones, goes on past a failed run (recorded in
its run.json, named in the summary, exit code 1). Each run is a subprocess, so one crash ends only itself.
Runs go to this machine's GPUs (`--gpus`), or with `--ray` to a Ray cluster (`pipeline.cluster`).

Examples:
  python -m pipeline sweep --dry-run                                # the paper's 56 runs, planned
  python -m pipeline sweep --models calm2 llama2-7b --tasks marc --gpus 0,1
  python -m pipeline sweep --models calm2 --tasks marc --seeds 42 43 44        # three seeds per cell
  python -m pipeline sweep --models successors --dry-run                    # today's seven successors
  python -m pipeline sweep --models tiny --lrs 2e-4 --epochs 2 --data-from prompts/samples
  python -m pipeline sweep --ray auto --models llama2-13b --gpus-per-run 2 --deepspeed recipes/deepspeed/zero2.json
"""
from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

from jaft import settings
from jaft.cli import Parser, at_least_one, user_path
from jaft.common import DataError, UsageError, choose, run
from pipeline.steps import StepOptions, record_failure, run_one, say, state
from recipes import tracking
from prompts.data import prepare
from prompts.tasks import TASKS
from recipes.models import GROUPS, LEARNING_RATES, MODELS, PAPER_MODELS, expand_models, parse_lr
from recipes.runs import DEFAULT_SEED, RunSpec, data_root, paper_grid, parse_seed


def ensure_data(tasks, source: Path | None) -> dict[str, str]:
    """Prepare each task's missing data; returns task -> why it could not be (one task's bad files never
    stop the others)."""
    bad = {}
    for name in tasks:
        out = data_root() / name
        if (out / "train.jsonl").is_file():
            continue
        src = source / name if source else None
        say(f"preparing data for {name} from {src or 'its published files'}")
        try:
            prepare(TASKS[name], src, out)
        except (UsageError, DataError) as e:
            say(f"{name}: no data: {e}")
            bad[name] = str(e)
    return bad


def data_failures(todo, bad: dict[str, str]) -> list:
    """Each run of a task whose data failed, recorded as failed in its run.json: (run id, detail)."""
    failures = []
    for spec, _ in todo:
        if spec.task.name in bad:
            reason = f"data for {spec.task.name}: {bad[spec.task.name]}"
            record_failure(spec, reason)
            failures.append((spec.id, reason))
    return failures


def deepspeed_config(path: Path | None) -> str | None:
    """--deepspeed as every run's `just train` gets it (absolute: a run may start elsewhere), or None;
    a missing file is a one-line error before anything starts (sweep and tune)."""
    if not path:
        return None
    if not path.is_file():
        raise UsageError(f"--deepspeed {path}: no such file; e.g. recipes/deepspeed/zero2.json")
    return str(path.resolve())


def gpu_slots(gpus: list[str], per_run: int) -> list[str]:
    """`--gpus 0,1,2,3 --gpus-per-run 2` -> ['0,1', '2,3']: a run sees its group as CUDA_VISIBLE_DEVICES
    (ids left over, fewer than a group, stay idle)."""
    return [",".join(gpus[i:i + per_run]) for i in range(0, len(gpus) - per_run + 1, per_run)]


def run_here(todo, opts: StepOptions, slots: list[str | None], threads_per_run: int | None) -> list:
    """The runs on this machine: one thread per slot (a group of GPU ids, or None for a CPU run), each
    taking the next run as it frees up. Returns (run id, detail) per failed run."""
    failures = []
    work: queue.Queue = queue.Queue()
    for item in todo:
        work.put(item)

    def worker(slot: str | None) -> None:
        env = {"CUDA_VISIBLE_DEVICES": slot} if slot is not None else {}
        if slot is None and threads_per_run:  # CPU runs side by side share the cores instead of oversubscribing
            env["OMP_NUM_THREADS"] = str(threads_per_run)
        while True:
            try:
                spec, t = work.get_nowait()
            except queue.Empty:
                return
            say(f"{spec.id}: {t}" + (f" on GPU {slot}" if slot is not None else ""))
            ok, detail = run_one(spec, t, opts, env=env)
            say(f"{spec.id}: {'done' if ok else 'FAILED: ' + detail}")
            if not ok:
                failures.append((spec.id, detail))

    threads = [threading.Thread(target=worker, args=(s,)) for s in slots]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return failures


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="just sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments("sweep", ap)
    return ap


def add_arguments(verb: str, ap) -> None:
    ap.add_argument("--models", nargs="+", default=list(PAPER_MODELS),
                    help=f"from {', '.join(MODELS)}, or a group: {', '.join(GROUPS)}")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), help=f"from {', '.join(TASKS)}")
    ap.add_argument("--lrs", nargs="+", default=list(LEARNING_RATES), help=f"from {', '.join(LEARNING_RATES)}")
    ap.add_argument("--seeds", nargs="+", default=[str(DEFAULT_SEED)],
                    help=f"training seeds, each a run of every cell (default {DEFAULT_SEED}; others add "
                         "-s<N> to the run id)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan (and what each run asks for), start nothing")
    ap.add_argument("--gpus", help="comma-separated GPU ids: one run per GPU at a time, e.g. 0,1,2,3")
    ap.add_argument("--jobs", type=at_least_one, help="runs at a time without --gpus (CPU demo; default 1)")
    ap.add_argument("--gpus-per-run", type=at_least_one, default=1,
                    help="GPUs each run uses (default 1): --gpus ids are grouped by this many; with --ray each task "
                         "asks for this many")
    ap.add_argument("--deepspeed", type=user_path, help="a DeepSpeed config for every run's `just train` (one run over "
                                                   "--gpus-per-run GPUs), e.g. recipes/deepspeed/zero2.json")
    ap.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                    help="run each run as a Ray task: `auto` (a running cluster; the default), `local` (start one "
                         "on this machine) or the cluster's address; needs pip install -e '.[cluster]'")
    ap.add_argument("--ray-cpus-per-run", type=at_least_one,
                    help="with --ray on a cluster without GPUs: CPUs each run asks for (and its thread count)")
    ap.add_argument("--epochs", type=at_least_one, help="override the paper's 10 epochs")
    ap.add_argument("--data-from", type=user_path, help="prepare missing task data from DIR/<task>/ (hub schema)")
    ap.add_argument("--batch-size", type=at_least_one, default=16, help="eval batch size")
    ap.add_argument("--limit", type=at_least_one, help="eval only the first N rows of each split")
    ap.add_argument("--no-report", action="store_true", help="skip `just report` at the end")
    ap.add_argument("--track", metavar="TRACKER", help="mlflow or wandb: every run's training and eval logged to "
                    "a tracker, as children of one sweep run (default: JAFT_TRACK, else off; docs/tracking.md)")


def main(argv: list[str]) -> int:
    return run_verb("sweep", parser().parse_args(argv))


def run_verb(verb: str, args) -> int:
    models = [choose("model", m, MODELS) for m in expand_models(args.models)]
    tasks = [choose("task", t, TASKS) for t in args.tasks]
    lrs = [parse_lr(lr) for lr in args.lrs]
    seeds = list(dict.fromkeys(parse_seed(s) for s in args.seeds))
    return run_grid(paper_grid(models, tasks, lrs, seeds), args)


def run_grid(grid: list[RunSpec], args) -> int:
    """Data -> train -> eval for each run of `grid` (the demo adds runs of its own) not yet finished and
    scored, on this machine or on Ray, then the report. `args`: this module's `parser()`."""
    gpus = [g.strip() for g in args.gpus.split(",")] if args.gpus else None
    if gpus and not all(g.isdigit() for g in gpus):
        raise UsageError(f"bad --gpus '{args.gpus}'; expected comma-separated GPU ids, e.g. 0,1")
    if gpus and len(gpus) < args.gpus_per_run:
        raise UsageError(f"--gpus {args.gpus} has fewer GPUs than --gpus-per-run {args.gpus_per_run}")
    deepspeed = deepspeed_config(args.deepspeed)
    ask = None
    if args.ray is not None:
        from pipeline import cluster  # only here: Ray is an optional extra
        cluster.require_ray()
        if gpus or args.jobs:
            raise UsageError("--gpus and --jobs place runs on this machine; with --ray the cluster places them "
                             "(--gpus-per-run, --ray-cpus-per-run say what each run asks for)")
        ask = cluster.Ask.of(args.gpus_per_run, args.ray_cpus_per_run)
    elif args.ray_cpus_per_run:
        raise UsageError("--ray-cpus-per-run is for --ray; on this machine use --jobs")
    track = tracking.requested(getattr(args, "track", None))  # the demo's args have none
    opts = StepOptions(epochs=args.epochs, batch_size=args.batch_size, limit=args.limit, deepspeed=deepspeed)
    plan = [(spec, state(spec, args.limit)) for spec in grid]
    todo = [(s, t) for s, t in plan if t != "done"]
    for spec, t in plan:
        what = "finished and scored: skip" if t == "done" else t + " + eval" if t == "train" else "eval"
        say(f"{spec.id:<36} {what}" + (f", asks for {ask}" if ask and t != "done" else ""))
    where = f", on Ray ({args.ray}), each asking for {ask}" if ask else f", {len(gpus)} GPUs" if gpus else ""
    say(f"{len(grid)} runs, {len(todo)} to do{where}")
    if args.dry_run:
        return 0
    # The steps run under the sweep's settings: its tracker and, with MLflow, its parent run (Settings.environ)
    held = tracking.start_sweep(track, f"sweep-{datetime.now().strftime('%Y%m%d-%H%M%S')}") if todo else None
    planned = len(todo)
    with settings.use(held or settings.current()):
        bad = ensure_data(sorted({s.task.name for s, _ in todo}), args.data_from) if todo else {}
        failures = data_failures(todo, bad)
        todo = [(s, t) for s, t in todo if s.task.name not in bad]
        if ask and todo:
            more, interrupted = cluster.run_grid(todo, opts, ask, args.ray)
            failures += more
            if interrupted:
                return 130
        else:
            slots = gpu_slots(gpus, args.gpus_per_run) if gpus else [None] * (args.jobs or 1)
            threads = max(1, (os.cpu_count() or 1) // len(slots)) if not gpus and len(slots) > 1 else None
            failures += run_here(todo, opts, slots, threads)
        if not args.no_report:
            # the report sees this command's settings (the demo's folders), not only the shell's variables
            subprocess.call([sys.executable, "-m", "report"], env={**os.environ, **settings.current().environ()})
    tracking.end_sweep(held and held.mlflow_parent, len(failures))
    if failures:
        say(f"{len(failures)} of {planned} runs failed:")
        for run_id, detail in sorted(failures):
            say(f"  {run_id}: {detail}")
        return 1
    say(f"all {len(grid)} runs finished and scored" if todo else "nothing to do: every run is finished and scored")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
