"""Metrics: pure functions (prediction, references) -> float in [0, 1], registered by name; per-row and
per-file scoring; the diagnostics each epoch records beside its scores.

- accuracy (MARC-ja): the post-processed label equals the gold label.
- exact_match, f1 (JSQuAD): JGLUE's evaluation (its patch to transformers' squad_metrics): lowercase, every
  trailing 。 removed, whitespace collapsed; EM is equality, F1 the F-measure of the character multisets
  (spaces count); each the maximum over the gold answers. No width folding (JGLUE has none);
  exact_match_nfkc and f1_nfkc add NFKC first, as llm-jp-eval does.
- rouge1, rouge2, rougeL (XL-Sum): as XL-Sum's official scorer computes them (eval/rouge.py).

Example: `python -c "from eval.metrics import METRICS; print(METRICS['f1']('東京都', ['東京']))"`
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Callable

from eval import rouge
from eval.postprocess import gold_answers
from jaft.common import UsageError, did_you_mean
from prompts.tasks import get_task

Metric = Callable[[str, list], float]
METRICS: dict[str, Metric] = {}


def metric(name: str):
    """Register a metric under `name` (a task lists it in prompts/tasks.yaml); names are never reused."""
    def register(fn: Metric) -> Metric:
        if name in METRICS:
            raise ValueError(f"metric '{name}' is registered twice")
        METRICS[name] = fn
        return fn
    return register


def task_metrics(task) -> tuple:
    """The task's metrics (prompts/tasks.yaml), each checked to be registered; the first selects."""
    unknown = [m for m in task.metrics if m not in METRICS]
    if unknown or not task.metrics:
        hint = did_you_mean(unknown[0], METRICS) if unknown else ""
        raise UsageError(f"task {task.name}: unknown metric(s) {unknown or '(none listed)'} "
                         f"(prompts/tasks.yaml){hint}; valid: {', '.join(METRICS)}")
    return task.metrics


@metric("accuracy")
def accuracy(prediction: str, references: list) -> float:
    return float(prediction in references)


def jglue_normalize(text: str) -> str:
    """JGLUE's normalize_answer: lowercase, trailing 。 removed, whitespace collapsed (in that order)."""
    return " ".join(text.lower().rstrip("。").split())


def _golds(references: list, normalize: Callable[[str], str]) -> list[str]:
    """JGLUE scores against the gold answers that normalise to something, or against "" when none does."""
    return [normalize(r) for r in references if normalize(r)] or [""]


def _exact(prediction: str, references: list, normalize) -> float:
    pred = normalize(prediction)
    return max(float(pred == gold) for gold in _golds(references, normalize))


def char_f1(pred: str, gold: str) -> float:
    """F-measure of the two character multisets (already normalised); two empty answers agree."""
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _f1(prediction: str, references: list, normalize) -> float:
    pred = normalize(prediction)
    return max(char_f1(pred, gold) for gold in _golds(references, normalize))


def _nfkc_jglue(text: str) -> str:
    return jglue_normalize(unicodedata.normalize("NFKC", text))


@metric("exact_match")
def exact_match(prediction: str, references: list) -> float:
    return _exact(prediction, references, jglue_normalize)


@metric("f1")
def f1(prediction: str, references: list) -> float:
    return _f1(prediction, references, jglue_normalize)


@metric("exact_match_nfkc")
def exact_match_nfkc(prediction: str, references: list) -> float:
    return _exact(prediction, references, _nfkc_jglue)


@metric("f1_nfkc")
def f1_nfkc(prediction: str, references: list) -> float:
    return _f1(prediction, references, _nfkc_jglue)


def _rouge(kind) -> Metric:
    def score(prediction: str, references: list) -> float:
        return max(rouge.rouge(kind, prediction, r) for r in references)
    score.__name__ = f"rouge{kind}"
    return score


for _kind in (1, 2, "L"):
    metric(f"rouge{_kind}")(_rouge(_kind))


# ---- rows and files ------------------------------------------------------------------------------------------

def row_scores(task: str, row: dict) -> dict:
    """Every metric of the task for one row (`prediction`, `references`), the gold answers post-processed
    as the task's step says (JSQuAD: the same particle stripping as the prediction)."""
    golds = gold_answers(task, row["references"])
    return {name: METRICS[name](row["prediction"], golds) for name in task_metrics(get_task(task))}


def mean_scores(task: str, per_row: list[dict]) -> dict:
    """{'n': ..., metric: mean over rows} from `row_scores` of each row."""
    out = {"n": len(per_row)}
    for name in task_metrics(get_task(task)):
        out[name] = sum(s[name] for s in per_row) / len(per_row) if per_row else 0.0
    return out


def score_rows(task: str, rows: list[dict]) -> dict:
    """{'n': ..., metric: mean over rows} for a task; rows carry `prediction` and `references`."""
    return mean_scores(task, [row_scores(task, r) for r in rows])


# ---- diagnostics: what went wrong before the metric saw it ------------------------------------------------------

def _unparsed(rows: list[dict], max_new_tokens: int | None, task=None) -> int | None:
    return sum(1 for r in rows if not r["prediction"])


def _at_token_cap(rows: list[dict], max_new_tokens: int | None, task=None) -> int | None:
    """Outputs that used every allowed token (new_tokens counts no EOS: such an answer may be cut short)."""
    if max_new_tokens is None or any("new_tokens" not in r for r in rows):
        return None  # predictions from before jaft recorded token counts
    return sum(1 for r in rows if r["new_tokens"] >= max_new_tokens)


def _unclosed(rows: list[dict], max_new_tokens: int | None, task=None) -> int | None:
    """Outputs where none of the task's stop texts (`generate.stop`) appears: cut by the token limit."""
    stops = [s for s in (task.generate.get("stop") or ()) if s] if task is not None else []
    if not stops:
        return None
    return sum(1 for r in rows if not any(s in r["raw"] for s in stops))


# Per post-processing step (a task copied from marc under a new name counts what marc counts):
# name -> (what it counts, how).
DIAGNOSTICS = {
    "label_first": {"unparsed": ("outputs that start with no label word", _unparsed)},
    "jsquad_answer": {"at_token_cap": ("answers that used every allowed new token (maybe cut short)",
                                       _at_token_cap)},
    "before_closing_quotes": {"unclosed": ("summaries without the task's stop text (stopped by the token limit)",
                                           _unclosed)},
}


def diagnostics(task: str, rows: list[dict], max_new_tokens: int | None = None) -> dict:
    """{name: {'count', 'share', 'what'}} for the task's step; count and share are None when the rows
    cannot tell."""
    out = {}
    t = get_task(task)
    for name, (what, count_of) in DIAGNOSTICS.get(t.postprocess, {}).items():
        count = count_of(rows, max_new_tokens, t)
        share = None if count is None else (count / len(rows) if rows else 0.0)
        out[name] = {"count": count, "share": share, "what": what}
    return out
