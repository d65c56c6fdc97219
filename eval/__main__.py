"""Evaluate runs and score prediction files.

Examples:
  python -m eval eval                               # every finished run under runs/ not yet scored
  python -m eval eval runs/calm2-marc-lr2e-4 --batch-size 32
  python -m eval score jsquad predictions.jsonl     # prints {"n": ..., "f1": ..., "exact_match": ...}
  python -m eval score xlsum predictions.jsonl --rows scored.jsonl   # and each row's prediction and metrics
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from eval.generate import BACKENDS
from eval.metrics import diagnostics, mean_scores, row_scores
from eval.postprocess import gold_answers
from eval.predictions import json_line, load_for_scoring
from jaft.cli import at_least_one, package_main, user_path
from jaft.common import atomic_write_text, run
from jaft.common import DataError, UsageError
from prompts.tasks import TASKS, get_task
from recipes.models import EVAL_BATCH


def add_arguments(verb: str, p) -> None:
    if verb == "eval":
        p.add_argument("runs", nargs="*", type=user_path,
                       help="run folders (default: all in the runs folder (JAFT_RUNS, default runs/))")
        p.add_argument("--batch-size", type=at_least_one, default=EVAL_BATCH,
                       help=f"prompts generated at a time (default {EVAL_BATCH})")
        p.add_argument("--backend", default="hf", help=f"one of {', '.join(BACKENDS)} "
                       "(vllm: installed by you, in an environment of its own: docs/gpu.md)")
        p.add_argument("--limit", type=at_least_one, help="score only the first N rows of the split (quick checks)")
        p.add_argument("--max-new-tokens", type=at_least_one, help="override the task's generation length")
        p.add_argument("--track", metavar="TRACKER", help="mlflow or wandb: log each epoch's metrics to the run's "
                       "tracker run (default: JAFT_TRACK, else off; docs/tracking.md)")
    else:
        p.add_argument("task", help=f"one of {', '.join(TASKS)}")
        p.add_argument("file", type=user_path, help="a predictions file (JSONL): each row has id, raw, references")
        p.add_argument("--rows", type=user_path, metavar="OUT.jsonl",
                       help="also write each row's prediction, scored references and metrics (error analysis)")


def main(argv: list[str]) -> int:
    return package_main("eval.__main__", "python -m eval", argv)


def run_verb(verb: str, args) -> int:
    args.verb = verb

    if args.verb == "score":
        task = get_task(args.task)
        if not args.file.is_file():
            raise DataError(f"{args.file}: no such file")
        if args.rows is not None and args.rows.is_dir():
            raise UsageError(f"--rows {args.rows} is a folder; give a file name")
        score(task.name, args.file, args.rows)
        return 0
    if args.backend not in BACKENDS:
        raise UsageError(f"unknown backend '{args.backend}'; valid: {', '.join(BACKENDS)}")
    try:
        return eval_all(args)
    except KeyboardInterrupt:  # Ctrl-C: what was generated is on disk, appended batch by batch
        print("\n[jaft eval] interrupted; the predictions made so far are kept: `just eval` again resumes "
              "where it stopped", file=sys.stderr)
        return 130


def eval_all(args) -> int:
    """`just eval`: every run named (or under runs/); one run's problem is reported and the others go on."""
    from recipes import tracking
    track = tracking.requested(args.track)
    from eval.runner import eval_run, find_runs
    runs = find_runs(args.runs)
    if not runs:
        print("[jaft eval] no runs found (train one with `just train MODEL TASK LR`)", file=sys.stderr)
        return 0
    for run_dir in runs:
        if not run_dir.is_dir():
            raise UsageError(f"no such run folder '{run_dir}'")
    failed = []
    for run_dir in runs:  # one run's problem (busy, a damaged file) is reported and the others go on
        try:
            done = eval_run(run_dir, batch_size=args.batch_size, backend=args.backend, limit=args.limit,
                            max_new_tokens=args.max_new_tokens)
            if track and done != "skipped":
                track_eval(run_dir, track)
        except (UsageError, DataError) as e:
            print(f"error: {e}", file=sys.stderr)
            failed.append(run_dir)
    if failed and len(runs) > 1:
        print(f"[jaft eval] {len(failed)} of {len(runs)} runs not evaluated: "
              f"{', '.join(str(r) for r in failed)}", file=sys.stderr)
    return 2 if failed else 0


def track_eval(run_dir: Path, track: str) -> None:
    """The run's metrics per epoch into its tracker run (recipes/tracking.py); run.json written under its lock."""
    from recipes import RunLock, tracking
    from recipes.manifest import update

    def record(**fields):
        with RunLock(run_dir):
            update(run_dir, **fields)
    try:
        tracking.after_eval(run_dir, track, record)
    except (UsageError, DataError):
        raise
    except Exception as e:  # noqa: BLE001 - a tracker that fails never fails the scores already written
        print(f"warning: {run_dir}: tracking: {type(e).__name__}: {str(e).splitlines()[0][:200]}", file=sys.stderr)


def score(task: str, path: Path, rows_out: Path | None) -> None:
    """The summary on stdout; with `rows_out`, every row with its metrics; diagnostics on stderr."""
    rows = load_for_scoring(task, path)
    if not rows:  # a score of 0.0 over no rows would read as a real result
        raise DataError(f"{path}: no predictions in it (the file is empty or blank); nothing to score")
    per_row = [row_scores(task, r) for r in rows]
    if rows_out is not None:
        keep = ("id", "raw", "new_tokens", "extracted", "prediction", "label_loglik", "references")
        lines = [json_line({**{k: r[k] for k in keep if k in r},
                            "references_scored": gold_answers(task, r["references"]), "metrics": s})
                 for r, s in zip(rows, per_row)]
        try:
            atomic_write_text(rows_out, "".join(lines))
        except OSError as e:
            raise UsageError(f"cannot write --rows {rows_out}: {e.strerror or e}") from None
    for name, d in diagnostics(task, rows).items():
        if d["count"]:
            print(f"[jaft score] {name}: {d['count']} of {len(rows)} ({d['what']})", file=sys.stderr)
    print(json.dumps(mean_scores(task, per_row)))


if __name__ == "__main__":
    sys.exit(run(main))
