"""reports/comparison.md: the paper's value, ours and the difference, cell by cell; then what to check before
trusting a cell: each cell's diagnostics (labels not found, answers at the token cap, summaries never closed)
and rows whose learning rates gave identical predictions (in our runs) or identical numbers (in the paper)."""
from __future__ import annotations

from eval.predictions import load_for_scoring
from jaft.common import DataError
from recipes.runs import DEFAULT_SEED
from report.tables import DASH, LRS, fmt, label_of, paper_values


def paper_cell(paper: dict, table, row, lr: str) -> tuple | None:
    entry = paper.get(table.name, {}).get(row.model, {}).get(row.variant or "paper", {})
    value = entry.get(lr)
    if value is None:
        return None
    return tuple(value) if isinstance(value, list) else (value,)


def paper_vs_ours(tables: list, paper: dict) -> list[str]:
    lines = []
    for table in tables:
        d = table.digits
        lines += [f"## {table.name.replace('table', 'Table ')}: {table.title}", "",
                  "| Row | lr | paper | ours | difference |", "|---|---|---:|---:|---:|"]
        for row in table.rows:
            for lr, cell in zip(LRS, row.cells):
                theirs = paper_cell(paper, table, row, lr)
                if theirs is None and cell.values is None:
                    continue
                diff = DASH
                if theirs is not None and cell.values is not None:
                    diff = "/".join(f"{o - p:+.{d}f}" for o, p in zip(cell.values, theirs))
                lines.append(f"| {label_of(row)} | {lr} | {fmt(theirs, d)} | {cell.text} | {diff} |")
        lines.append("")
    return lines


def diagnostics(tables: list) -> list[str]:
    """Each filled cell's diagnostics, from its selected epoch's entry in scores.json."""
    lines = ["## Diagnostics of each cell's epoch", "",
             "Counted by `just eval` over the scored outputs (`diagnostics` in scores.json); "
             f"{DASH} where the run was scored before jaft counted them.", "",
             "| Table | Row | lr | epoch | diagnostic | count | share |", "|---|---|---|---:|---|---:|---:|"]
    found = False
    for table in tables:
        for row in table.rows:
            for lr, cell in zip(LRS, row.cells):
                for result in cell.results:  # each seed's run of the cell
                    found = True
                    at = lr + (f" (seed {result.seed})" if cell.n > 1 else "")
                    diags = result.best.get("diagnostics") or {}
                    if not diags:
                        lines.append(f"| {table.name} | {label_of(row)} | {at} | {result.epoch} | {DASH} | "
                                     f"{DASH} | {DASH} |")
                    for name, d in diags.items():
                        share = DASH if d.get("share") is None else f"{100 * d['share']:.2f}%"
                        count = DASH if d.get("count") is None else str(d["count"])
                        lines.append(f"| {table.name} | {label_of(row)} | {at} | {result.epoch} | "
                                     f"{name}: {d.get('what', '')} | {count} | {share} |")
    if not found:
        lines.append(f"| {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} |")
    return lines + [""]


def _scored_outputs(table, result) -> tuple[tuple, tuple] | str:
    """(sorted (id, prediction) pairs, sorted (id, raw) pairs) of a cell's epoch, or why they cannot be read."""
    path = result.predictions
    if not path.is_file():
        return f"{path}: no predictions file"
    try:
        rows = load_for_scoring(table.task, path)
    except DataError as e:
        return str(e)
    return (tuple(sorted((str(r.get("id")), r["prediction"]) for r in rows)),
            tuple(sorted((str(r.get("id")), r["raw"]) for r in rows)))


def identical_rows(tables: list, paper: dict) -> list[str]:
    """Rows of one model and task where two or more learning rates gave the very same predictions (ours) or
    the very same numbers at every learning rate (the paper): a learning rate that changed nothing is more
    likely a run that evaluated the wrong weights than a real finding."""
    ours, theirs, unread = [], [], []
    for table in tables:
        for row in table.rows:
            values = [paper_cell(paper, table, row, lr) for lr in LRS]
            if all(v is not None for v in values) and len(set(values)) == 1:
                theirs.append(f"- {table.name.replace('table', 'Table ')}, {label_of(row)}: "
                              f"{fmt(values[0], table.digits)} at all {len(LRS)} learning rates.")
            groups: dict = {}
            for lr, cell in zip(LRS, row.cells):
                for result in cell.results:  # runs of the same seed are compared across learning rates
                    outputs = _scored_outputs(table, result)
                    if isinstance(outputs, str):
                        unread.append(f"- {table.name}, {label_of(row)}, lr={lr}, seed {result.seed}: {outputs}")
                        continue
                    groups.setdefault((result.seed, outputs[0]), []).append((lr, outputs[1]))
            for (seed, _), members in groups.items():
                if len(members) > 1:
                    raw_too = len({raw for _, raw in members}) == 1
                    lrs = ", ".join(lr for lr, _ in members)
                    ours.append(f"- {table.name.replace('table', 'Table ')}, {label_of(row)}: identical "
                                f"predictions at lr {lrs}" + (f" (seed {seed})" if seed != DEFAULT_SEED else "")
                                + (" (the raw model text too)" if raw_too else "") + ".")
    lines = ["## Identical across learning rates", "",
             "A learning rate that changes nothing at all is a warning sign: check that each run evaluated "
             "its own adapter.", "", "In the paper:", ""]
    lines += theirs or ["- none."]
    lines += ["", "In our runs (the scored predictions of each cell's epoch):", ""]
    lines += ours or ["- none."]
    if unread:
        lines += ["", "Not compared (no readable predictions):", ""] + unread
    return lines + [""]


def to_markdown(tables: list) -> str:
    paper = paper_values()
    lines = ["# The paper beside ours", "",
             "Difference = ours − paper, in each table's unit (percentage points for Tables 3 and 5, "
             "ROUGE-1 for Table 6). Rows outside the paper have no paper value.", ""]
    lines += paper_vs_ours(tables, paper)
    lines += diagnostics(tables)
    lines += identical_rows(tables, paper)
    return "\n".join(lines)
