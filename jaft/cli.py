"""`jaft VERB ...`: the one front door. One argparse tree; every justfile verb is an alias of it.

For maintainers: a verb is one line in VERBS (its module and its one-line help, at most HELP_WIDTH
characters so that `jaft --help` keeps it on one line at 80 columns) and, in that module, two functions:
`add_arguments(verb, parser)` and `run_verb(verb, args) -> int`. `python -m <package> [VERB]` stays an alias
(`package_main`). The command runs under one settings object (jaft.settings), built by `jaft.common.run`.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys

from jaft.common import UsageError, run

# What `jaft --help` says, for a user.
DESCRIPTION = "jaft: LoRA fine-tuning of Japanese LLMs with Axolotl, and their evaluation."
EXAMPLES = """examples:
  jaft data marc                      prepare MARC-ja's splits
  jaft train calm2 marc 2e-4          train one run of the grid
  jaft eval                           evaluate every finished run
  jaft report                         the tables, into reports/
  jaft plan llmjp-13b --cap-mb 24000  what fits under a 24,000 MB cap
  jaft VERB --help                    a verb's options (all: docs/commands.md)"""

HELP_WIDTH = 60  # `    validate  ` + 60 characters stay within argparse's 78 columns at COLUMNS=80

# verb -> (module with add_arguments/run_verb, one line of help), in pipeline order.
VERBS = {
    "data": ("prompts.__main__", "prepare a task's splits (download, or --from DIR)"),
    "prepare": ("recipes.__main__", "fit and cache a run's rows without training"),
    "render": ("recipes.__main__", "write one run's Axolotl YAML and print its path"),
    "train": ("recipes.__main__", "render, check with Axolotl's schema, train with Axolotl"),
    "tiny": ("recipes.__main__", "build (once) the tiny test model and print its folder"),
    "plan": ("recipes.plan", "memory plan: the longest sequence under the VRAM cap"),
    "eval": ("eval.__main__", "generate + score every epoch of every finished run"),
    "score": ("eval.__main__", "score a predictions file; metrics as JSON"),
    "report": ("report.__main__", "tables, comparison, significance, cost, results.csv, plots"),
    "export": ("report.export", "one epoch of a run as a PEFT adapter with a model card"),
    "sweep": ("pipeline.sweep", "the grid: data -> train -> eval -> report"),
    "demo": ("pipeline.demo", "the whole pipeline on the tiny model, on CPU"),
    "validate": ("jaft.validate", "check the registries, a run, a data folder or predictions"),
    "tune": ("pipeline.tune", "an Optuna search of the learning rate (and rank)"),
}


class Parser(argparse.ArgumentParser):
    """A usage mistake is one line (`error: ...`, exit 2), as every other mistake is."""

    def error(self, message: str):
        # "argument --epochs: must be at least 1, got 0" -> "--epochs must be at least 1, got 0"
        message = re.sub(r"^argument ([^:]+): (must be|expected)", r"\1 \2", message)
        raise UsageError(f"{self.prog}: {message} (`{self.prog} --help` for the options)")


def at_least_one(text: str) -> int:
    """An argparse type: a whole number of at least 1 (epochs, batch sizes, limits, MB, CPUs)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def user_path(text: str):
    """An argparse type: a path the user typed, relative to where the user is (jaft.settings)."""
    from jaft.settings import current
    return current().user_path(text)


def parser(verbs=None, prog: str = "jaft", argv=(), description: str = DESCRIPTION) -> Parser:
    """The tree. Only the verb being run gets its options (`add_arguments`): the others are listed with their
    help line without importing their modules, so that `jaft render` never loads what `jaft eval` needs."""
    verbs = verbs or list(VERBS)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    epilog = EXAMPLES if prog == "jaft" else None
    ap = Parser(prog=prog, description=description, epilog=epilog,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=Parser)
    for verb in verbs:
        module, help_line = VERBS[verb]
        p = sub.add_parser(verb, help=help_line, description=help_line, prog=f"{prog} {verb}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if verb == wanted:
            importlib.import_module(module).add_arguments(verb, p)
    return ap


def dispatch(argv: list[str], verbs=None, prog: str = "jaft", description: str = DESCRIPTION) -> int:
    if not argv:
        parser(verbs, prog, description=description).print_help()
        return 0
    if argv[:1] == ["validate"] and (verbs is None or "validate" in verbs):
        # Before the tree is built: its help texts read the registries, which `validate` must survive.
        from jaft import validate
        ap = Parser(prog=f"{prog} validate", description=VERBS["validate"][1])
        validate.add_arguments("validate", ap)
        return validate.run_verb("validate", ap.parse_args(argv[1:]))
    args = parser(verbs, prog, argv, description).parse_args(argv)
    return importlib.import_module(VERBS[args.verb][0]).run_verb(args.verb, args) or 0


def package_main(module: str, prog: str, argv: list[str] | None = None, verb: str | None = None) -> int:
    """`python -m <package> VERB ...`: the same verbs and parsers as `jaft VERB` (every verb whose module is in
    that package), as `main(argv)` of that package: call it under `jaft.common.run`. With `verb`, a one-verb
    alias (`python -m report ARGS` is `jaft report ARGS`)."""
    argv = sys.argv[1:] if argv is None else argv
    if verb is not None:
        help_line = VERBS[verb][1]
        ap = Parser(prog=prog, description=f"{help_line} (the same as `jaft {verb}`)")
        importlib.import_module(VERBS[verb][0]).add_arguments(verb, ap)
        return importlib.import_module(VERBS[verb][0]).run_verb(verb, ap.parse_args(argv)) or 0
    package = module.split(".")[0]
    verbs = [v for v, (m, _) in VERBS.items() if m.split(".")[0] == package]
    description = f"`{prog} VERB`: the same as `jaft VERB`, for these verbs."
    return dispatch(argv, verbs, prog, description)


def main(argv: list[str] | None = None) -> int:
    return run(dispatch, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
