"""Orchestration verbs.

Examples:
  python -m pipeline sweep --dry-run          # the paper's 56 runs, planned
  python -m pipeline demo                     # the whole pipeline on the tiny model, on CPU
  python -m pipeline tune calm2 marc --trials 8   # an Optuna search of the lr on a tuning split
"""
from __future__ import annotations

import sys

from jaft.common import UsageError, run

VERBS = ("sweep", "demo", "tune")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in VERBS:
        raise UsageError(f"usage: python -m pipeline {{{','.join(VERBS)}}} ...; got {argv[:1] or 'nothing'}")
    if argv[0] == "sweep":
        from pipeline.sweep import main as verb
    elif argv[0] == "tune":
        from pipeline.tune import main as verb
    else:
        from pipeline.demo import main as verb
    return verb(argv[1:])


if __name__ == "__main__":
    sys.exit(run(main))
