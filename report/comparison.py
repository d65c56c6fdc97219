"""reports/comparison.md: the paper's value, ours and the difference, cell by cell."""
from __future__ import annotations

from report.tables import DASH, LRS, fmt, label_of, paper_values


def paper_cell(paper: dict, table, row, lr: str) -> tuple | None:
    entry = paper.get(table.name, {}).get(row.model, {}).get(row.variant or "paper", {})
    value = entry.get(lr)
    if value is None:
        return None
    return tuple(value) if isinstance(value, list) else (value,)


def to_markdown(tables: list) -> str:
    paper = paper_values()
    lines = ["# The paper beside ours", "",
             "Difference = ours − paper, in each table's unit (percentage points for Tables 3 and 5, "
             "ROUGE-1 for Table 6). Rows outside the paper have no paper value.", ""]
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
    return "\n".join(lines)
