"""Per-example scores of every table cell, the input of intervals and paired significance.

Each example's score is the metric of that one prediction (`eval.metrics.row_scores`, as `just eval` scores
it; a cell's table value is their mean). A cell with several seeds gets, for each example id, the mean of its
seeds' scores: the resampling unit stays the example, and the seeds' spread is averaged into each example.
Ids scored by only some of the seeds (`just eval --limit`) are left out, so that every seed counts alike.
"""
from __future__ import annotations

import re

from eval.metrics import row_scores
from eval.predictions import load_for_scoring
from jaft.common import DataError, read_jsonl
from prompts.tasks import get_task

# JGLUE's JSQuAD ids name the paragraph: a<article>p<paragraph>q<question> (for files without `cluster`).
JGLUE_QUESTION = re.compile(r"^(.+p\d+)q\d+$")


def run_scores(task: str, result, metrics: tuple) -> dict[str, dict[str, float]]:
    """metric -> {example id: score} for one run's selected epoch (empty when its predictions are gone)."""
    if not result.predictions.is_file():
        return {}
    per_row = {str(r["id"]): row_scores(task, r) for r in load_for_scoring(task, result.predictions)}
    return {m: {i: s[m] for i, s in per_row.items() if m in s} for m in metrics}


def cell_scores(task: str, results: list, metrics: tuple) -> dict[str, dict[str, float]]:
    """metric -> {example id: mean over the cell's seeds}; {} when any seed's predictions are missing."""
    per_seed = [run_scores(task, r, metrics) for r in results]
    if not per_seed or any(not s for s in per_seed):
        return {}
    out = {}
    for m in metrics:
        ids = set.intersection(*(set(s[m]) for s in per_seed))
        out[m] = {i: sum(s[m][i] for s in per_seed) / len(per_seed) for i in sorted(ids)}
    return out


def table_scores(table) -> dict[tuple[int, int], dict[str, dict[str, float]]]:
    """(row index, lr index) -> metric -> {example id: score} for every filled cell with predictions.
    Scores are fractions as the metrics return them; the table's scale is applied where they are shown."""
    out = {}
    for i, row in enumerate(table.rows):
        for j, cell in enumerate(row.cells):
            if cell.results and not any(r.problem for r in cell.results):  # damaged: warned and marked †
                scores = cell_scores(table.task, cell.results, table.metrics)
                if scores:
                    out[(i, j)] = scores
    return out


def cluster_of(row: dict) -> str:
    """The resampling unit of one predictions row: its `cluster` (eval writes the task's cluster_field),
    else the paragraph a JGLUE id names, else the example itself."""
    if isinstance(row.get("cluster"), str):
        return row["cluster"]
    m = JGLUE_QUESTION.match(str(row.get("id")))
    return m.group(1) if m else f"id:{row.get('id')}"


def table_clusters(table) -> dict[str, str] | None:
    """Example id -> cluster for a task with a `cluster_field` (JSQuAD), read from its cells' predictions;
    None for tasks whose examples are resampled one by one."""
    if not getattr(get_task(table.task), "cluster_field", None):
        return None
    out = {}
    for row in table.rows:
        for cell in row.cells:
            for result in cell.results:
                if not result.predictions.is_file():
                    continue
                try:
                    for _, obj in read_jsonl(result.predictions, required=("id",)):
                        out.setdefault(str(obj["id"]), cluster_of(obj))
                except DataError:
                    continue  # a damaged file: the cell is already marked and left out
    return out
