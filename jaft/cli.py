"""`jaft VERB ...`: every verb of the justfile as one console script.

Examples:
  jaft train calm2 marc 2e-4
  jaft plan llmjp-13b --cap-mb 24000
  jaft --help
"""
from __future__ import annotations

import importlib
import sys

from jaft.common import run

# verb -> (module whose `main(argv)` runs it, arguments put before the user's), in pipeline order.
VERBS = {
    "data": ("prompts.__main__", ["data"], "prepare a task's splits (downloads, or --from DIR)"),
    "prepare": ("recipes.__main__", ["prepare"], "fit and cache a run's rows without training"),
    "render": ("recipes.__main__", ["render"], "write one run's Axolotl YAML and print its path"),
    "train": ("recipes.__main__", ["train"], "render, then train with real Axolotl"),
    "plan": ("recipes.plan", ["plan"], "memory plan: the longest sequence under the cap"),
    "eval": ("eval.__main__", ["eval"], "generate + score every epoch of every finished run"),
    "score": ("eval.__main__", ["score"], "score a predictions file; metrics as JSON"),
    "report": ("report.__main__", [], "tables, comparison, intervals, significance, cost, results.csv, plots"),
    "export": ("report.export", [], "one epoch of a run as a PEFT adapter (and merged model) with a model card"),
    "sweep": ("pipeline.__main__", ["sweep"], "the paper's grid: data -> train -> eval -> report"),
    "demo": ("pipeline.__main__", ["demo"], "the whole pipeline on the tiny model, on CPU"),
    "tune": ("pipeline.__main__", ["tune"], "an Optuna search of the lr (and rank) on a tuning split"),
}


def usage() -> str:
    width = max(map(len, VERBS))
    return ("usage: jaft VERB [ARGS...]   (`jaft VERB --help` for a verb's options)\n\nverbs:\n"
            + "\n".join(f"  {v:<{width}}  {h}" for v, (_, _, h) in VERBS.items()))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] not in VERBS:
        print(f"error: unknown verb '{argv[0]}'; valid: {', '.join(VERBS)}", file=sys.stderr)
        return 2
    module, prefix, _ = VERBS[argv[0]]
    return run(importlib.import_module(module).main, prefix + argv[1:])


if __name__ == "__main__":
    sys.exit(main())
