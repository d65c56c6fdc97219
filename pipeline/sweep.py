"""`just sweep`: data -> train -> eval for every run of a grid, then `just report`.

Skips runs that are finished and scored, resumes interrupted ones, goes on past a failed run (recorded in
its run.json, named in the summary, exit code 1). Each run is a subprocess, so one crash ends only itself.

Examples:
  python -m pipeline sweep --dry-run                                # the paper's 56 runs, planned
  python -m pipeline sweep --models calm2 llama2-7b --tasks marc --gpus 0,1
  python -m pipeline sweep --models tiny --lrs 2e-4 --epochs 2 --data-from prompts/samples
"""
from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from eval.runner import epoch_done
from jaft.common import run
from prompts.data import prepare
from jaft.common import UsageError, choose
from prompts.tasks import TASKS
from recipes import manifest
from recipes.models import LEARNING_RATES, MODELS, PAPER_MODELS, parse_lr
from recipes.runs import RunSpec, data_root, paper_grid


def say(msg: str) -> None:
    print(f"[jaft sweep] {msg}", file=sys.stderr, flush=True)


def state(spec: RunSpec, limit: int | None) -> str:
    """'done' (finished and every epoch scored over the same rows), 'eval' (finished, scores missing) or 'train'."""
    if manifest.read(spec.dir).get("status") != "finished":
        return "train"
    scored = all(epoch_done(spec.dir / "eval" / f"epoch-{k}", limit) for k, _ in manifest.checkpoints(spec.dir))
    return "done" if scored and (spec.dir / "scores.json").is_file() else "eval"


def ensure_data(tasks, source: Path | None) -> None:
    for name in tasks:
        out = data_root() / name
        if (out / "train.jsonl").is_file():
            continue
        src = source / name if source else None
        say(f"preparing data for {name} from {src or 'its published files'}")
        prepare(TASKS[name], src, out)


def run_one(spec: RunSpec, todo: str, args, gpu: str | None) -> tuple[bool, str]:
    env = dict(os.environ)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    elif args.jobs > 1:  # CPU runs side by side: share the cores instead of oversubscribing them
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // args.jobs))
    steps = []
    if todo == "train":
        cmd = [sys.executable, "-m", "recipes", "train", spec.model.name, spec.task.name, spec.lr]
        cmd += ["--variant", spec.variant] if spec.variant else []
        cmd += ["--epochs", str(args.epochs)] if args.epochs else []
        steps.append(("train", cmd))
    eval_cmd = [sys.executable, "-m", "eval", "eval", str(spec.dir), "--batch-size", str(args.batch_size)]
    steps.append(("eval", eval_cmd + (["--limit", str(args.limit)] if args.limit else [])))
    spec.dir.mkdir(parents=True, exist_ok=True)
    for step, cmd in steps:
        log = spec.dir / f"sweep-{step}.log"
        with log.open("w", encoding="utf-8") as f:
            code = subprocess.call(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
        if code != 0:
            tail = [l for l in log.read_text(errors="replace").splitlines() if l.strip()][-1:] or [""]
            reason = f"{step} exited {code}: {tail[0][:300]}"
            if manifest.read(spec.dir).get("status") != "failed":  # the run's own record, if it made none
                manifest.update(spec.dir, run_id=spec.id, status="failed", error=reason)
            return False, f"{reason} (log: {log})"
    return True, "ok"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="just sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(PAPER_MODELS), help=f"from {', '.join(MODELS)}")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), help=f"from {', '.join(TASKS)}")
    ap.add_argument("--lrs", nargs="+", default=list(LEARNING_RATES), help=f"from {', '.join(LEARNING_RATES)}")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, start nothing")
    ap.add_argument("--gpus", help="comma-separated GPU ids: one run per GPU at a time, e.g. 0,1,2,3")
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time without --gpus (CPU demo)")
    ap.add_argument("--epochs", type=int, help="override the paper's 10 epochs")
    ap.add_argument("--data-from", type=Path, help="prepare missing task data from DIR/<task>/ (hub schema)")
    ap.add_argument("--batch-size", type=int, default=16, help="eval batch size")
    ap.add_argument("--limit", type=int, help="eval only the first N rows of each split")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args(argv)
    models = [choose("model", m, MODELS) for m in args.models]
    tasks = [choose("task", t, TASKS) for t in args.tasks]
    lrs = [parse_lr(lr) for lr in args.lrs]
    for flag, value in (("--jobs", args.jobs), ("--epochs", args.epochs), ("--limit", args.limit)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    gpus = [g.strip() for g in args.gpus.split(",")] if args.gpus else None
    if gpus and not all(g.isdigit() for g in gpus):
        raise UsageError(f"bad --gpus '{args.gpus}'; expected comma-separated GPU ids, e.g. 0,1")
    grid = paper_grid(models, tasks, lrs)
    plan = [(spec, state(spec, args.limit)) for spec in grid]
    todo = [(s, t) for s, t in plan if t != "done"]
    for spec, t in plan:
        say(f"{spec.id:<36} {'finished and scored: skip' if t == 'done' else t + ' + eval' if t == 'train' else 'eval'}")
    say(f"{len(grid)} runs, {len(todo)} to do" + (f", {len(gpus)} GPUs" if gpus else ""))
    if args.dry_run:
        return 0
    if todo:
        ensure_data(sorted({s.task.name for s, _ in todo}), args.data_from)
    failures = []
    work: queue.Queue = queue.Queue()
    for item in todo:
        work.put(item)

    def worker(gpu: str | None) -> None:
        while True:
            try:
                spec, t = work.get_nowait()
            except queue.Empty:
                return
            say(f"{spec.id}: {t}" + (f" on GPU {gpu}" if gpu is not None else ""))
            ok, detail = run_one(spec, t, args, gpu)
            say(f"{spec.id}: {'done' if ok else 'FAILED: ' + detail}")
            if not ok:
                failures.append((spec.id, detail))

    threads = [threading.Thread(target=worker, args=(g,)) for g in (gpus or [None] * max(1, args.jobs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if not args.no_report:
        subprocess.call([sys.executable, "-m", "report"])
    if failures:
        say(f"{len(failures)} of {len(todo)} runs failed:")
        for run_id, detail in sorted(failures):
            say(f"  {run_id}: {detail}")
        return 1
    say(f"all {len(grid)} runs finished and scored" if todo else "nothing to do: every run is finished and scored")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
