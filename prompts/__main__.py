"""Prepare a task's splits.

Example: `python -m prompts data marc --from ~/datasets/marc_ja --out data/marc`
(without --from the splits come from the dataset hub through `datasets.load_dataset`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaft.common import run
from prompts.data import prepare
from jaft.common import DataError
from prompts.tasks import TASKS, get_task


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="just data", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="verb", required=True)
    d = sub.add_parser("data", help="write data/<task>/{train,validation[,test]}.jsonl")
    d.add_argument("task", help=f"one of {', '.join(TASKS)}")
    d.add_argument("--from", dest="source", type=Path, help="local files in the hub's schema")
    d.add_argument("--out", type=Path, help="output folder (default data/<task>)")
    args = ap.parse_args(argv)
    task = get_task(args.task)
    if args.source is not None and not args.source.is_dir():
        raise DataError(f"--from {args.source}: no such folder")
    out = args.out or Path("data") / task.name
    stats = prepare(task, args.source, out)
    for split, s in stats.items():
        left = f" ({s['left_out']} left out: {', '.join(task.skip_labels)})" if s["left_out"] else ""
        print(f"{out / (split + '.jsonl')}: {s['rows']} rows{left}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
