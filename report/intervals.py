"""Bootstrap 95% intervals for every cell, from the best epoch's predictions.jsonl."""
from __future__ import annotations

from itertools import combinations

import numpy as np

from eval.metrics import row_scores
from eval.predictions import load_for_scoring
from report.tables import label_of

RESAMPLES = 1000
SEED = 0


def bootstrap(values, resamples: int = RESAMPLES, seed: int = SEED, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap of the mean, fixed seed, so the same file gives the same interval."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("no values to bootstrap")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def cell_intervals(table) -> dict:
    """(row index, lr index) -> {metric: (mean, low, high)} for every filled cell, in the table's scale."""
    out = {}
    for i, row in enumerate(table.rows):
        for j, cell in enumerate(row.cells):
            if cell.result is None or cell.result.problem or not cell.result.predictions.is_file():
                continue  # no run, or a damaged predictions file (warned about and marked by collect)
            per_row = [row_scores(table.task, r) for r in load_for_scoring(table.task, cell.result.predictions)]
            out[(i, j)] = {m: tuple(v * table.scale for v in bootstrap([s[m] for s in per_row]))
                           for m in table.metrics}
    return out


def separated_pairs(table, intervals: dict) -> list[str]:
    """For each learning rate, the pairs of rows whose intervals (on the table's deciding metric) do not overlap."""
    metric = table.metrics[-1]
    lines = []
    for j, lr in enumerate(table.header[-4:]):
        filled = [(i, intervals[(i, j)][metric]) for i in range(len(table.rows)) if (i, j) in intervals]
        for (a, ia), (b, ib) in combinations(filled, 2):
            if ia[2] < ib[1] or ib[2] < ia[1]:
                hi, lo = (a, b) if ia[0] > ib[0] else (b, a)
                lines.append(f"{lr}: {label_of(table.rows[hi])} > {label_of(table.rows[lo])} ({metric})")
    return lines


def to_markdown(tables: list, select: str) -> str:
    lines = ["# Bootstrap 95% intervals", "",
             f"Percentile bootstrap of the mean over examples, {RESAMPLES} resamples, seed {SEED}, from each "
             f"cell's best epoch ({select}) predictions.jsonl; same scale as the tables.", ""]
    for table in tables:
        intervals = cell_intervals(table)
        lines += [f"## {table.name.replace('table', 'Table ')}: {table.title}", "",
                  "| Row | lr | " + " | ".join(table.metrics) + " |", "|---|---|" + "---|" * len(table.metrics)]
        d = table.digits
        for (i, j), per_metric in sorted(intervals.items()):
            cells = [f"{m:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]" for m, lo, hi in per_metric.values()]
            lines.append(f"| {label_of(table.rows[i])} | {table.header[-4:][j]} | " + " | ".join(cells) + " |")
        if not intervals:
            lines.append("| – | – |" + " – |" * len(table.metrics))
        pairs = separated_pairs(table, intervals)
        lines += ["", "Pairs that differ beyond their intervals: " + ("; ".join(pairs) if pairs else "none."), ""]
    return "\n".join(lines)
