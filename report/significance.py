"""Paired bootstrap tests between cells, Holm-corrected: reports/significance.md.

Two cells scored on the same examples are compared on the same resampled example ids: the per-example
differences d_i = a_i − b_i are resampled (with replacement, seeded), and the mean difference's bootstrap
distribution gives a 95% percentile interval and a two-sided p-value: twice the smaller share of resamples on
either side of zero ((count + 1) / (resamples + 1), so never 0; capped at 1). This is the test that the
interval inverts: p < 0.05 goes with a 95% interval that leaves out zero.

Pairs: every two learning rates of the same row (model, variant), and every two rows at the same learning
rate, on the table's deciding metric (the last it shows: accuracy, F1, ROUGE-1). All pairs of one table
are one family for Holm's step-down correction.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from report.tables import label_of

RESAMPLES = 10_000
SEED = 0
ALPHA = 0.05
CHUNK = 500  # resamples drawn at a time: bounded memory on the paper's 5,654 MARC-ja examples


def resampled_means(scores: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED,
                    clusters=None) -> np.ndarray:
    """Bootstrap means of each row of `scores` (cells × examples) over the SAME resampled example ids:
    (cells × resamples). Each resample's ids become counts per example, so every cell's mean is one matrix
    product; the difference of two rows is then the bootstrap of the paired per-example differences.

    `clusters` (one label per example): whole clusters are resampled (JSQuAD: every question of a paragraph
    together), each resample's mean being its examples' total over their count; without, each example is
    its own cluster and this is the plain bootstrap."""
    if clusters is None:
        sums, sizes = scores, np.ones(scores.shape[1])
    else:
        order: dict = {}  # clusters numbered by first appearance: singletons keep the examples' order
        index = np.array([order.setdefault(c, len(order)) for c in clusters])
        sums = np.zeros((scores.shape[0], index.max() + 1))
        np.add.at(sums.T, index, scores.T)
        sizes = np.bincount(index).astype(float)
    n = sums.shape[1]
    rng = np.random.default_rng(seed)
    out = []
    for k in range(0, resamples, CHUNK):
        m = min(CHUNK, resamples - k)
        ids = rng.integers(0, n, size=(m, n))
        counts = np.bincount((np.arange(m)[:, None] * n + ids).ravel(), minlength=m * n).reshape(m, n)
        out.append(sums @ counts.T / (counts @ sizes))
    return np.concatenate(out, axis=1)


def summarize(diff: float, means: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """(difference, low, high, two-sided p) from the bootstrap distribution `means` of the mean difference."""
    # Identical cells may differ in the last bit (a matrix product's rows take different kernels): that is 0.
    means = np.where(np.abs(means) < 1e-12, 0.0, means)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    side = min(int((means <= 0).sum()), int((means >= 0).sum()))
    p = min(1.0, 2 * (side + 1) / (means.size + 1))
    return diff, float(low), float(high), p


def paired_bootstrap(a, b, resamples: int = RESAMPLES, seed: int = SEED,
                     level: float = 0.95, clusters=None) -> tuple[float, float, float, float]:
    """(mean of a − b, low, high, two-sided p) over paired per-example scores `a`, `b` (same order),
    resampling whole `clusters` when given (one label per example)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or a.shape != b.shape:
        raise ValueError(f"need two equally long, non-empty score lists; got {a.shape} and {b.shape}")
    means = resampled_means(np.vstack([a, b]), resamples, seed, clusters)
    return summarize(float(np.mean(a - b)), means[0] - means[1], level)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order: the k-th smallest p (k from 0) times
    (m − k), made non-decreasing, capped at 1. Reject where adjusted p < alpha."""
    m = len(pvalues)
    adjusted = [0.0] * m
    running = 0.0
    for k, i in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - k) * pvalues[i]))
        adjusted[i] = running
    return adjusted


@dataclass
class Comparison:
    within: str          # what the two cells share: "CALM2 7B" (a row) or "lr=2e-4" (a column)
    a: str               # what differs: a learning rate or a row
    b: str
    n: int               # examples both cells scored
    diff: float          # mean of a − b, in the table's scale
    low: float
    high: float
    p: float
    p_holm: float = 1.0

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA


def pairs(table) -> list[tuple[str, str, str, tuple, tuple]]:
    """(within, a, b, cell a, cell b): learning rates within a row, then rows within a learning rate."""
    lrs = table.header[-4:]
    out = []
    for i, row in enumerate(table.rows):
        for j, k in combinations(range(len(lrs)), 2):
            out.append((label_of(row), lrs[j], lrs[k], (i, j), (i, k)))
    for j, lr in enumerate(lrs):
        for i, k in combinations(range(len(table.rows)), 2):
            out.append((lr, label_of(table.rows[i]), label_of(table.rows[k]), (i, j), (k, j)))
    return out


def compare(table, scores: dict, clusters: dict | None = None) -> tuple[list[Comparison], list[str]]:
    """Every pair of filled cells on the table's deciding metric, Holm-corrected together; and notes on
    pairs that share no example (nothing to pair). `clusters`: example id -> its cluster (JSQuAD's
    paragraph; report.examples.table_clusters), resampled whole."""
    metric = table.metrics[-1]
    found, notes, groups = [], [], {}
    for within, a, b, ca, cb in pairs(table):
        if ca not in scores or cb not in scores:
            continue
        ids = tuple(sorted(set(scores[ca][metric]) & set(scores[cb][metric])))
        if not ids:
            notes.append(f"{within}: {a} vs {b} share no scored example; not compared")
            continue
        groups.setdefault(ids, []).append((within, a, b, ca, cb))
    # Cells scored on the same examples (normally all of a table's) are resampled together, once.
    for ids, members in groups.items():
        cells = sorted({c for m in members for c in m[3:]})
        matrix = np.array([[scores[c][metric][i] for i in ids] for c in cells], dtype=float)
        labels = [clusters.get(i, i) for i in ids] if clusters else None
        means = dict(zip(cells, resampled_means(matrix, clusters=labels)))
        row = dict(zip(cells, matrix))
        for within, a, b, ca, cb in members:
            diff, low, high, p = summarize(float(np.mean(row[ca] - row[cb])), means[ca] - means[cb])
            found.append(Comparison(within, a, b, len(ids), diff * table.scale, low * table.scale,
                                    high * table.scale, p))
    for c, adjusted in zip(found, holm([c.p for c in found])):
        c.p_holm = adjusted
    return found, notes


def fmt_p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def to_markdown(tables: list, scores: dict, clusters: dict | None = None) -> str:
    """`scores`: table name -> report.examples.table_scores(table); `clusters`: table name ->
    report.examples.table_clusters(table) (absent: every example resampled alone)."""
    lines = ["# Paired significance", "",
             f"Paired bootstrap over the same resampled example ids ({RESAMPLES:,} resamples, seed {SEED}): "
             "A − B is the mean per-example difference on the table's deciding metric, in the table's unit, "
             "with its 95% percentile interval; p is two-sided; p (Holm) is corrected over all comparisons of "
             f"the table; significant: p (Holm) < {ALPHA}. A cell with several seeds scores each example as the "
             "mean over its seeds. Pairs: learning rates within a model, models at the same learning rate. "
             "Questions that share a paragraph (JSQuAD) are resampled together, whole paragraphs at a time "
             "(a cluster bootstrap: Miller 2024, arXiv 2411.00640); other tasks resample examples.", ""]
    for table in tables:
        found, notes = compare(table, scores.get(table.name, {}), (clusters or {}).get(table.name))
        d = table.digits
        lines += [f"## {table.name.replace('table', 'Table ')}: {table.title}", "",
                  f"Metric: {table.metrics[-1]}; {len(found)} comparison{'' if len(found) == 1 else 's'}.", "",
                  "| within | A | B | n | A − B | 95% CI | p | p (Holm) | significant |",
                  "|---|---|---|---:|---:|---|---:|---:|---|"]
        for c in found:
            lines.append(f"| {c.within} | {c.a} | {c.b} | {c.n} | {c.diff:+.{d}f} | [{c.low:+.{d}f}, "
                         f"{c.high:+.{d}f}] | {fmt_p(c.p)} | {fmt_p(c.p_holm)} | "
                         f"{'yes' if c.significant else 'no'} |")
        if not found:
            lines.append("| – | – | – | – | – | – | – | – | – |")
        lines += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    return "\n".join(lines)
