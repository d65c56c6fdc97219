"""`just report`: Tables 3, 5, 6 (Markdown + LaTeX), comparison with the paper, intervals, paired
significance, cost, results.csv/json and plots.

Examples:
  python -m report                      # from runs/*/scores.json into reports/
  python -m report --select val-loss    # the same tables, epochs chosen by validation loss
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from jaft.cli import package_main, user_path
from jaft.common import reports_root, run
from jaft.settings import current
from jaft.common import atomic_write_json, atomic_write_text
from jaft.common import UsageError
from recipes.runs import runs_root
from report import collect, comparison, cost, examples, intervals, provenance, publish, results as results_file
from report import significance, tables, tune


def add_arguments(verb: str, ap) -> None:
    ap.add_argument("--runs", type=user_path, help="the runs folder (JAFT_RUNS, default runs/)")
    ap.add_argument("--out", type=user_path, default=None,
                    help="output folder (default reports/), replaced whole when the new report is complete")
    ap.add_argument("--select", default="task-metric", help="task-metric (the paper's rule) or val-loss")
    ap.add_argument("--no-plots", action="store_true", help="skip the PNG plots (the tables and files are the same)")
    ap.add_argument("--force", action="store_true",
                    help="replace the output folder even though it holds files jaft did not write (deleted), "
                         "or a report with scored runs when every run is now left out")


def main(argv: list[str]) -> int:
    """`python -m report [OPTIONS]`: `jaft report [OPTIONS]` (no verb)."""
    return package_main("report.__main__", "python -m report", argv, verb="report")


def run_verb(verb: str, args) -> int:
    args.out = args.out or reports_root()
    if args.select not in collect.SELECT:
        raise UsageError(f"unknown --select '{args.select}'; valid: {', '.join(collect.SELECT)}")
    if args.runs is not None and not args.runs.is_dir():
        raise UsageError(f"--runs {args.runs}: no such folder")
    if args.runs is None and current().runs_given and not runs_root().is_dir():
        # A typo in JAFT_RUNS must not replace a complete report with an empty one.
        raise UsageError(f"JAFT_RUNS={runs_root()}: no such folder (unset it to use runs/)")
    publish.check_out(args.out, args.force)
    # Relative to the folder the report is made in: every path the report prints names no machine.
    root = Path(os.path.relpath(args.runs or runs_root()))
    results, warnings = collect.collect(root, args.select)
    failed, more = collect.failures(root)
    warnings += more
    for key, failure in failed.items():
        if key in results and results[key].run_dir == failure.run_dir:  # its scores predate the failure
            warnings.append(f"{failure.run_dir}/scores.json: the run failed since it was scored; left out")
            del results[key]
    tuned = {k: r for k, r in results.items() if r.lr == collect.TUNED}  # `just tune` studies: own column
    results = {k: r for k, r in results.items() if r.lr != collect.TUNED}
    studies = tune.views(root, results, tuned, warnings)
    warnings = list(dict.fromkeys(warnings))  # a damaged run.json is met by both collect and failures
    for warning in warnings:
        print(f"[jaft report] warning: {warning}", file=sys.stderr)
    if not results and not tuned and warnings and not args.force and had_results(args.out):
        # Every run there is unreadable (a newer or damaged record): an all-'–' report would replace a good one.
        raise UsageError(f"every run under {root} was left out ({len(warnings)} warning(s) above); "
                         f"{args.out}/ is left as it was (--force writes the empty report)")
    if not results and not tuned:
        print(f"[jaft report] no scored runs under {root}: tables are all '–' "
              f"(train with `just train`, score with `just eval`)", file=sys.stderr)
    built = [tables.build(name, results, failed, tuned) for name in tables.specs()]
    with publish.staged(args.out, args.force) as out:  # written aside, moved into place whole
        write_report(out, built, results, failed, warnings, args)
        if studies:
            write_tune(out, studies, args)
    print(f"[jaft report] {len(results)} scored runs" + (f" and {len(studies)} tuning studies" if studies else "")
          + f" -> {args.out}/ (table3/5/6 .md/.tex, comparison.md, "
          f"intervals.md, significance.md, cost.md, results.csv/.json, plots, README.md)", file=sys.stderr)
    for table in built:
        print(tables.to_markdown(table, args.select))
    return 0


def had_results(out: Path) -> bool:
    """Whether `out` holds a report with at least one scored run (a results.csv with a row under its header)."""
    try:
        return len((Path(out) / "results.csv").read_text(encoding="utf-8").splitlines()) > 1
    except (OSError, UnicodeDecodeError):
        return False


def write_report(out: Path, built: list, results: dict, failed: dict, warnings: list[str], args) -> None:
    for table in built:
        atomic_write_text(out / f"{table.name}.md", tables.to_markdown(table, args.select))
        atomic_write_text(out / f"{table.name}.tex", tables.to_latex(table, args.select))
    atomic_write_text(out / "comparison.md", comparison.to_markdown(built))
    # Per-example scores, read once from each cell's predictions: intervals, significance, error bars.
    scores = {table.name: examples.table_scores(table) for table in built}
    clusters = {table.name: examples.table_clusters(table) for table in built}  # JSQuAD: paragraphs
    cell_intervals = {table.name: intervals.cell_intervals(table, scores[table.name], clusters[table.name])
                      for table in built}
    atomic_write_text(out / "intervals.md", intervals.to_markdown(built, args.select, cell_intervals))
    atomic_write_text(out / "significance.md", significance.to_markdown(built, scores, clusters))
    atomic_write_text(out / "cost.md", cost.to_markdown(results, args.select))
    atomic_write_text(out / "results.csv", results_file.to_csv(results))
    atomic_write_json(out / "results.json", results_file.to_json(results))
    if not args.no_plots:
        from report import plots
        for table in built:
            plots.score_vs_lr(table, out / f"score_vs_lr_{table.task}.png", cell_intervals[table.name])
        for task in sorted({r.task for r in results.values()}):
            cost.plot(results, task, out / f"cost_{task}.png")
        for result in results.values():
            try:
                plots.loss_curves(result.run_dir, out / f"loss_{result.run_id}.png", result.scores)
            except (OSError, ValueError, KeyError, TypeError) as e:  # a damaged trainer_state.json
                warnings.append(f"{result.run_dir}: no loss plot ({type(e).__name__}: {e})")
                print(f"[jaft report] warning: {warnings[-1]}", file=sys.stderr)
    atomic_write_text(out / "README.md", provenance.to_markdown(built, args.select, results, warnings, failed))


def write_tune(out: Path, studies: list, args) -> None:
    """tune.md and one plot per study (only when the runs folder has a `just tune` study)."""
    if not args.no_plots:
        for view in studies:
            if tune.plot(view, out / f"tune_{view.name}.png"):
                view.plot = f"tune_{view.name}.png"
    atomic_write_text(out / "tune.md", tune.to_markdown(studies))


if __name__ == "__main__":
    sys.exit(run(main))
