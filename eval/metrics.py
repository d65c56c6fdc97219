"""Metrics: pure functions (prediction, references) -> float in [0, 1], registered by name.

Text is NFKC-normalised before comparison. JSQuAD follows JGLUE's evaluation (character F1, max over the
gold answers); ROUGE is `rouge-score` with a MeCab tokenizer (its default one drops all non-ASCII text).
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Callable

from jaft.common import UsageError

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
        raise UsageError(f"task {task.name}: unknown metric(s) {unknown or '(none listed)'} "
                         f"(prompts/tasks.yaml); valid: {', '.join(METRICS)}")
    return task.metrics


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


@metric("accuracy")
def accuracy(prediction: str, references: list) -> float:
    return float(any(nfkc(prediction) == nfkc(r) for r in references))


def jsquad_normalize(text: str) -> str:
    """JGLUE's JSQuAD normalisation: NFKC, lowercase, whitespace collapsed, one trailing 。 removed."""
    text = " ".join(nfkc(text).lower().split())
    return text[:-1] if text.endswith("。") else text


@metric("exact_match")
def exact_match(prediction: str, references: list) -> float:
    return max(float(jsquad_normalize(prediction) == jsquad_normalize(r)) for r in references)


def char_f1(prediction: str, reference: str) -> float:
    pred = [c for c in jsquad_normalize(prediction) if not c.isspace()]
    gold = [c for c in jsquad_normalize(reference) if not c.isspace()]
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return float(pred == gold == [])
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@metric("f1")
def f1(prediction: str, references: list) -> float:
    return max(char_f1(prediction, r) for r in references)


class MecabTokenizer:
    """rouge-score tokenizer: surface forms from fugashi + unidic-lite, without tokens made only of
    punctuation, symbols or whitespace (Unicode categories P*, S*, Z*). No stemming, no lowercasing
    beyond NFKC."""

    def __init__(self):
        import fugashi
        self.tagger = fugashi.Tagger()

    def tokenize(self, text: str) -> list[str]:
        words = (w.surface for w in self.tagger(nfkc(text)))
        return [w for w in words if w and not all(unicodedata.category(c)[0] in "PSZ" or c.isspace() for c in w)]


@lru_cache(maxsize=1)
def rouge_scorer():
    from rouge_score import rouge_scorer as rs
    return rs.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False, tokenizer=MecabTokenizer())


def _rouge(kind: str) -> Metric:
    def score(prediction: str, references: list) -> float:
        scorer = rouge_scorer()
        return max(scorer.score(r, prediction)[kind].fmeasure for r in references)
    score.__name__ = kind
    return score


for _kind in ("rouge1", "rouge2", "rougeL"):
    metric(_kind)(_rouge(_kind))


def score_rows(task: str, rows: list[dict]) -> dict:
    """{'n': ..., metric: mean over rows} for a task; rows carry `prediction` and `references`."""
    from prompts.tasks import get_task
    out = {"n": len(rows)}
    for name in task_metrics(get_task(task)):
        fn = METRICS[name]
        out[name] = sum(fn(r["prediction"], r["references"]) for r in rows) / len(rows) if rows else 0.0
    return out
