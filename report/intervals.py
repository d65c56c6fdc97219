"""Bootstrap 95% intervals for every cell, from its per-example scores (report/examples.py).

Whether two cells differ is not read off overlapping intervals (that is no test): report/significance.py
compares them with a paired bootstrap.
"""
from __future__ import annotations

import numpy as np

from report.significance import resampled_means
from report.tables import label_of

RESAMPLES = 1000
SEED = 0


def bootstrap(values, resamples: int = RESAMPLES, seed: int = SEED, level: float = 0.95,
              clusters=None) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap of the mean, fixed seed, so the same file gives the same interval.
    `clusters` (one label per value): whole clusters are resampled (JSQuAD's paragraphs)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("no values to bootstrap")
    if clusters is not None:
        means = resampled_means(values[None, :], resamples, seed, clusters)[0]
    else:
        rng = np.random.default_rng(seed)
        means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def cell_intervals(table, scores: dict, clusters: dict | None = None) -> dict:
    """(row index, lr index) -> {metric: (mean, low, high)} in the table's scale, for every cell in `scores`
    (report.examples.table_scores); `clusters`: example id -> its cluster (report.examples.table_clusters),
    resampled whole."""
    def interval(per_id: dict) -> tuple:
        labels = [clusters.get(i, i) for i in per_id] if clusters else None
        return tuple(v * table.scale for v in bootstrap(list(per_id.values()), clusters=labels))
    return {key: {m: interval(per_metric[m]) for m in table.metrics if per_metric.get(m)}
            for key, per_metric in scores.items()}


def to_markdown(tables: list, select: str, by_table: dict) -> str:
    """`by_table`: table name -> cell_intervals(table, ...)."""
    lines = ["# Bootstrap 95% intervals", "",
             f"Percentile bootstrap of the mean over examples, {RESAMPLES} resamples, seed {SEED}, from each "
             f"cell's best epoch ({select}) predictions.jsonl; same scale as the tables. A cell with several "
             "seeds is resampled over its examples, each scored as the mean of the seeds' scores. Questions "
             "that share a paragraph (JSQuAD) are resampled together, whole paragraphs at a time (a cluster "
             "bootstrap: Miller 2024, arXiv 2411.00640), which widens the interval when they are correlated. "
             "Whether two cells differ: `significance.md` (a paired test; overlapping intervals are not one).", ""]
    for table in tables:
        intervals = by_table.get(table.name, {})
        lines += [f"## {table.name.replace('table', 'Table ')}: {table.title}", "",
                  "| Row | lr | seeds | " + " | ".join(table.metrics) + " |",
                  "|---|---|---:|" + "---|" * len(table.metrics)]
        d = table.digits
        for (i, j), per_metric in sorted(intervals.items()):
            cells = [f"{m:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]" for m, lo, hi in per_metric.values()]
            n = table.rows[i].cells[j].n
            lines.append(f"| {label_of(table.rows[i])} | {table.header[-4:][j]} | {n} | " + " | ".join(cells) + " |")
        if not intervals:
            lines.append("| – | – | – |" + " – |" * len(table.metrics))
        lines.append("")
    return "\n".join(lines)
