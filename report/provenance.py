"""reports/README.md: which run fed which cell, the selection rule, the data sources, package versions, the date."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from jaft.common import DataError, data_root, read_json
from recipes import manifest
from recipes.manifest import versions
from report.tables import LRS, RULE_TEXT, label_of


def project_path(path: Path | str) -> str:
    """`path` relative to the folder the report is made in (the project): a report travels into a paper's
    repository, and this machine's absolute paths mean nothing there."""
    return Path(os.path.relpath(path)).as_posix()


def local_file(path: str) -> str:
    """A `--from` file as the report shows it: relative inside the project; outside it, only its name (where
    a private copy lives on this machine is nobody's business in a paper)."""
    relative = project_path(path)
    return relative if not relative.startswith("../") else f"{Path(path).name} (local file)"


def to_markdown(tables: list, select: str, results: dict, left_out: list[str], failed: dict | None = None) -> str:
    placed = set()
    lines = ["# jaft report", "",
             f"Written {datetime.now(timezone.utc).isoformat(timespec='seconds')} by `just report"
             + (f" --select {select}`" if select != "task-metric" else "`") + ".", "",
             f"Selection rule: {RULE_TEXT[select]}. Each cell is that epoch's score in its run's `scores.json`, "
             "which points to `eval/epoch-<k>/predictions.jsonl`; a cell with several seeds is the mean over "
             "its runs (one per seed), each listed below.", "",
             "Files: `table3/5/6.{md,tex}` (the paper's layout), `comparison.md` (paper vs ours), "
             "`intervals.md` (bootstrap 95% intervals), `significance.md` (paired bootstrap, Holm-corrected), "
             "`cost.md` and `cost_<task>.png` (what each run cost), `results.csv` / `results.json` (every run "
             "× epoch), `score_vs_lr_<task>.png`, `loss_<run-id>.png` (losses and the task metric per epoch). "
             "Paths are relative to the folder `just report` ran in.", "",
             "## Cells and their runs", "", "| table | row | lr | run | seed | epoch | scores |",
             "|---|---|---|---|---|---|---|"]
    for table in tables:
        for row in table.rows:
            for lr, cell in zip(LRS, row.cells):
                for r in cell.results:
                    placed.add(r.key)
                    lines.append(f"| {table.name} | {label_of(row)} | {lr} | {r.run_id} | {r.seed} | {r.epoch} | "
                                 f"`{project_path(r.run_dir / 'scores.json')}` |")
    others = sorted(r.run_id for k, r in results.items() if k not in placed)
    lines += ["", "Scored runs outside the paper's layout (not in a table): " + (", ".join(others) or "none."), ""]
    if left_out:
        lines += ["Warnings (files left out or damaged): " + "; ".join(left_out), ""]
    if failed:
        lines += ["## Failed runs (✗ in the tables)", "", "| run | error |", "|---|---|"]
        for f in sorted(failed.values(), key=lambda f: f.run_id):
            lines.append(f"| {f.run_id} | {f.error.replace('|', '/')} |")
        lines.append("")
    lines += data_sources()
    trained, damaged = {}, []
    for r in results.values():  # the versions each run recorded when it trained
        try:
            v = manifest.read(r.run_dir).get("versions")
        except DataError as e:
            damaged.append(str(e))
            continue
        if v:
            trained.setdefault(json.dumps(v, sort_keys=True), []).append(r.run_id)
    lines += ["## Package versions", "", "This report: " + ", ".join(f"{k} {v}" for k, v in versions().items())]
    for v, run_ids in trained.items():
        lines.append(f"\nTraining of {len(run_ids)} run(s) ({', '.join(sorted(run_ids)[:5])}"
                     f"{', ...' if len(run_ids) > 5 else ''}): "
                     + ", ".join(f"{k} {val}" for k, val in json.loads(v).items()))
    if damaged:
        lines.append("\nVersions unknown (run.json unreadable): " + "; ".join(damaged))
    return "\n".join(lines) + "\n"


def data_sources() -> list[str]:
    """Each task's files as `just data` recorded them in `$JAFT_DATA/<task>/source.json`: URL (or local
    path), sha256, rows, version and licence."""
    lines = ["## Data sources", "",
             f"As prepared now under `{project_path(data_root())}/` (each task's `source.json`, written by "
             "`just data`).", ""]
    found = sorted(data_root().glob("*/source.json"))
    if not found:
        return lines + ["No `source.json` found: prepare the data with `just data`.", ""]
    lines += ["| task | version | split | file | sha256 | rows |", "|---|---|---|---|---|---|"]
    licences = []
    for path in found:
        try:
            src = read_json(path, "provenance file")
            files = src["files"].items()
        except (DataError, KeyError, AttributeError, TypeError):
            lines.append(f"| {path.parent.name} | | | `{project_path(path)}` is damaged: run `just data "
                         f"{path.parent.name}` | | |")
            continue
        for split, f in files:
            lines.append(f"| {path.parent.name} | {src.get('version') or src.get('kind', '')} | {split} | "
                         f"{f.get('url') or (local_file(f['path']) if f.get('path') else '')} | "
                         f"`{f.get('sha256')}` | {f.get('rows')} |")
        if src.get("licence"):
            licences.append(f"{src.get('title', path.parent.name)}: {src['licence']}")
    return lines + [""] + (["Licences: " + "; ".join(licences) + ".", ""] if licences else [])
