"""Orchestration verbs: `python -m pipeline VERB` is `jaft VERB` for sweep, demo and tune.

Examples:
  python -m pipeline sweep --dry-run          # the paper's 56 runs, planned
  python -m pipeline demo                     # the whole pipeline on the tiny model, on CPU
  python -m pipeline tune calm2 marc --trials 8   # an Optuna search of the lr on a tuning split
"""
from __future__ import annotations

import sys

from jaft.cli import package_main
from jaft.common import run


def main(argv: list[str]) -> int:
    return package_main("pipeline.sweep", "python -m pipeline", argv)


if __name__ == "__main__":
    sys.exit(run(main))
