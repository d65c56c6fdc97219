"""`just demo`: the whole pipeline on a CPU, no hub: build the tiny model, prepare the bundled sample data,
train all three tasks at two learning rates with real Axolotl (3 epochs, a demo shortcut: the paper's
protocol is 10, the default of `just train` and `just sweep`; MARC-ja's first cell with a second seed too),
evaluate every epoch, write the report (tables with mean±sd, paired significance, cost, results.csv).

Everything goes under `demo/` (data, runs, reports), apart from real work in data/, runs/, reports/.
Examples:
  python -m pipeline demo                 # ~3 minutes on 2 cores after installation
  python -m pipeline demo --fresh         # start again from nothing
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from jaft import settings
from jaft.cli import Parser, at_least_one, user_path
from jaft.common import run
from prompts.data import prepare
from prompts.tasks import HERE as PROMPTS_DIR
from jaft.common import choose
from prompts.tasks import TASKS
from recipes.models import parse_lr

EXTRA_SEED = 43


def main(argv: list[str]) -> int:
    ap = Parser(prog="just demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments("demo", ap)
    return run_verb("demo", ap.parse_args(argv))


def add_arguments(verb: str, ap) -> None:
    ap.add_argument("--dir", type=user_path, default=Path("demo"), help="workspace (default demo/)")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), help=f"from {', '.join(TASKS)} (default: all)")
    ap.add_argument("--lrs", nargs="+", default=["2e-4", "5e-5"], help="learning rates (default 2e-4 5e-5)")
    ap.add_argument("--epochs", type=at_least_one, default=3,
                    help="epochs per run (default 3, to keep the demo to minutes; the paper, `just train` "
                         "and `just sweep` train 10)")
    ap.add_argument("--one-seed", action="store_true",
                    help=f"skip the second seed ({EXTRA_SEED}) of the first task's first learning rate")
    ap.add_argument("--jobs", type=at_least_one, default=2, help="runs trained side by side (default 2, one per core)")
    ap.add_argument("--fresh", action="store_true", help="delete the workspace first")


def run_verb(verb: str, args) -> int:
    tasks = [choose("task", t, TASKS) for t in args.tasks]
    lrs = [parse_lr(lr) for lr in args.lrs]
    start = time.perf_counter()
    root = args.dir.resolve()
    if args.fresh and root.exists():
        shutil.rmtree(root)
    with settings.use(settings.changed(data=root / "data", runs=root / "runs", reports=root / "reports",
                                       runs_given=True)):
        return _demo(args, tasks, lrs, root, start)


def _demo(args, tasks, lrs, root, start) -> int:
    from recipes import ensure_tiny
    print(f"[jaft demo] tiny model: {ensure_tiny()}", file=sys.stderr)
    for name in tasks:
        stats = prepare(TASKS[name], PROMPTS_DIR / "samples" / name, root / "data" / name)
        print(f"[jaft demo] {name}: " + ", ".join(f"{s} {v['rows']} rows" for s, v in stats.items()), file=sys.stderr)
    from pipeline import sweep
    from recipes.runs import RunSpec, paper_grid
    opts = sweep.parser().parse_args(["--epochs", str(args.epochs), "--jobs", str(args.jobs)])
    grid = paper_grid(["tiny"], tasks, lrs)
    if not args.one_seed:  # one cell with two seeds: its table cell shows mean±sd (n=2)
        grid.insert(1, RunSpec.parse("tiny", tasks[0], lrs[0], seed=EXTRA_SEED))
    code = sweep.run_grid(grid, opts)
    minutes = (time.perf_counter() - start) / 60
    reports = root / "reports"
    print(f"\n[jaft demo] done in {minutes:.1f} min. Tables: {reports}/table3.md, table5.md, table6.md "
          f"(+ .tex); paper vs ours: {reports}/comparison.md; intervals: {reports}/intervals.md; paired "
          f"tests: {reports}/significance.md; cost: {reports}/cost.md; every number: {reports}/results.csv "
          f"(.json); plots: {reports}/*.png; provenance: {reports}/README.md", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(run(main))
