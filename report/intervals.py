"""Bootstrap 95% intervals for every cell, from its per-example scores (report/examples.py).

Whether two cells differ is not read off overlapping intervals (that is no test): report/significance.py
compares them with a paired bootstrap.
"""
from __future__ import annotations

import numpy as np

from report.tables import LRS, label_of

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


def cell_intervals(table, scores: dict) -> dict:
    """(row index, lr index) -> {metric: (mean, low, high)} in the table's scale, for every cell in `scores`
    (report.examples.table_scores)."""
    return {key: {m: tuple(v * table.scale for v in bootstrap(list(per_metric[m].values())))
                  for m in table.metrics if per_metric.get(m)}
            for key, per_metric in scores.items()}


def to_markdown(tables: list, select: str, by_table: dict) -> str:
    """`by_table`: table name -> cell_intervals(table, ...)."""
    lines = ["# Bootstrap 95% intervals", "",
             f"Percentile bootstrap of the mean over examples, {RESAMPLES} resamples, seed {SEED}, from each "
             f"cell's best epoch ({select}) predictions.jsonl; same scale as the tables. A cell with several "
             "seeds is resampled over its examples, each scored as the mean of the seeds' scores. Whether two "
             "cells differ: `significance.md` (a paired test; overlapping intervals are not one).", ""]
    for table in tables:
        intervals = by_table.get(table.name, {})
        lines += [f"## {table.name.replace('table', 'Table ')}: {table.title}", "",
                  "| Row | lr | seeds | " + " | ".join(table.metrics) + " |",
                  "|---|---|---:|" + "---|" * len(table.metrics)]
        d = table.digits
        for (i, j), per_metric in sorted(intervals.items()):
            cells = [f"{m:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]" for m, lo, hi in per_metric.values()]
            n = table.rows[i].cells[j].n
            lr = table.header[-len(LRS):][j]  # one column per rate of the grid
            lines.append(f"| {label_of(table.rows[i])} | {lr} | {n} | " + " | ".join(cells) + " |")
        if not intervals:
            lines.append("| – | – | – |" + " – |" * len(table.metrics))
        lines.append("")
    return "\n".join(lines)
