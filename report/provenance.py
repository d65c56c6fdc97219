"""reports/README.md: which run fed which cell, the selection rule, the data sources, package versions, the date."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from jaft.common import DataError, data_root, read_json

from recipes import manifest
from recipes.manifest import versions
from report.tables import LRS, RULE_TEXT, label_of


def to_markdown(tables: list, select: str, results: dict, left_out: list[str]) -> str:
    placed = set()
    lines = ["# jaft report", "",
             f"Written {datetime.now(timezone.utc).isoformat(timespec='seconds')} by `just report"
             + (f" --select {select}`" if select != "task-metric" else "`") + ".", "",
             f"Selection rule: {RULE_TEXT[select]}. Each cell is that epoch's score in its run's `scores.json`, "
             "which points to `eval/epoch-<k>/predictions.jsonl`.", "",
             "Files: `table3/5/6.{md,tex}` (the paper's layout), `comparison.md` (paper vs ours), "
             "`intervals.md` (bootstrap 95% intervals), `score_vs_lr_<task>.png`, `loss_<run-id>.png`.", "",
             "## Cells and their runs", "", "| table | row | lr | run | epoch | scores |", "|---|---|---|---|---|---|"]
    for table in tables:
        for row in table.rows:
            for lr, cell in zip(LRS, row.cells):
                if cell.result is not None:
                    placed.add(cell.result.key)
                    r = cell.result
                    lines.append(f"| {table.name} | {label_of(row)} | {lr} | {r.run_id} | {r.epoch} | "
                                 f"`{r.run_dir / 'scores.json'}` |")
    others = sorted(r.run_id for k, r in results.items() if k not in placed)
    lines += ["", "Scored runs outside the paper's layout (not in a table): " + (", ".join(others) or "none."), ""]
    if left_out:
        lines += ["Left out with a warning: " + "; ".join(left_out), ""]
    lines += data_sources()
    trained = {}
    for r in results.values():  # the versions each run recorded when it trained
        v = manifest.read(r.run_dir).get("versions")
        if v:
            trained.setdefault(json.dumps(v, sort_keys=True), []).append(r.run_id)
    lines += ["## Package versions", "", "This report: " + ", ".join(f"{k} {v}" for k, v in versions().items())]
    for v, run_ids in trained.items():
        lines.append(f"\nTraining of {len(run_ids)} run(s) ({', '.join(sorted(run_ids)[:5])}"
                     f"{', ...' if len(run_ids) > 5 else ''}): "
                     + ", ".join(f"{k} {val}" for k, val in json.loads(v).items()))
    return "\n".join(lines) + "\n"


def data_sources() -> list[str]:
    """Each task's files as `just data` recorded them in `$JAFT_DATA/<task>/source.json`: URL (or local
    path), sha256, rows, version and licence."""
    lines = ["## Data sources", "",
             f"As prepared now under `{data_root()}/` (each task's `source.json`, written by `just data`).", ""]
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
            lines.append(f"| {path.parent.name} | | | `{path}` is damaged: run `just data {path.parent.name}` | | |")
            continue
        for split, f in files:
            lines.append(f"| {path.parent.name} | {src.get('version') or src.get('kind', '')} | {split} | "
                         f"{f.get('url') or f.get('path')} | `{f.get('sha256')}` | {f.get('rows')} |")
        if src.get("licence"):
            licences.append(f"{src.get('title', path.parent.name)}: {src['licence']}")
    return lines + [""] + (["Licences: " + "; ".join(licences) + ".", ""] if licences else [])
