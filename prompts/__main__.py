"""Prepare a task's splits: download its published files (or read local ones) into `$JAFT_DATA/<task>/`.

Examples:
  python -m prompts data                      # all three tasks, from their published URLs
  python -m prompts data jsquad --version v1.3
  python -m prompts data marc --from ~/datasets/marc_ja --out data/marc
  JAFT_DATA_MIRROR=http://mirror:8000 python -m prompts data xlsum
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaft.common import DataError, UsageError, data_root, run
from prompts.data import prepare
from prompts.tasks import TASKS, get_task


def prepare_one(name: str, source: Path | None, out: Path, version: str | None,
                drop_missing_answers: bool = False) -> None:
    task = get_task(name)
    if source is not None and not source.is_dir():
        raise DataError(f"--from {source}: no such folder")
    stats = prepare(task, source, out, version, drop_missing_answers)
    for split, s in stats.items():
        left = f" ({s['left_out']} left out: {', '.join(task.skip_labels)})" if s["left_out"] else ""
        missing = s.get("answer_not_in_context", [])
        if missing:
            left += (f" ({len(missing)} dropped: answer not in the {task.cut_field}, first at {missing[0]})")
        print(f"{out / (split + '.jsonl')}: {s['rows']} rows{left}", file=sys.stderr)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="just data", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="verb", required=True)
    d = sub.add_parser("data", help="write $JAFT_DATA/<task>/{train,validation[,test]}.jsonl and source.json")
    d.add_argument("task", nargs="?", help=f"one of {', '.join(TASKS)} (default: all of them)")
    d.add_argument("--from", dest="source", type=Path,
                   help="local files in the published schema (without TASK: DIR/<task>/ for each task)")
    d.add_argument("--out", type=Path, help="output folder of TASK (default $JAFT_DATA/<task>, JAFT_DATA=data)")
    d.add_argument("--version", help="the source version (tasks.yaml; e.g. jsquad v1.1 (default) or v1.3)")
    d.add_argument("--drop-missing-answers", action="store_true",
                   help="leave out (and count) JSQuAD rows whose answer is not in their context; "
                        "without it such a row is refused")
    args = ap.parse_args(argv)
    if args.task is not None:
        prepare_one(args.task, args.source, args.out or data_root() / get_task(args.task).name, args.version,
                    args.drop_missing_answers)
        return 0
    if args.out is not None or args.version is not None:
        raise UsageError("--out and --version need a TASK (without one, every task goes to $JAFT_DATA/<task>)")
    failed = []
    for name in TASKS:  # one task's failure does not keep the others from being prepared
        try:
            prepare_one(name, args.source / name if args.source else None, data_root() / name, None,
                        args.drop_missing_answers)
        except (UsageError, DataError) as e:
            print(f"error: {name}: {e}", file=sys.stderr)
            failed.append(name)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(run(main))
