"""Metrics: pure functions (prediction, references) -> float in [0, 1], registered by name; per-row and
per-file scoring; the diagnostics each epoch records beside its scores.

- accuracy (MARC-ja): the post-processed label equals the gold label.
- exact_match, f1 (JSQuAD): JGLUE's evaluation (its patch to transformers' squad_metrics): lowercase, every
  trailing 。 removed, whitespace collapsed; EM is equality, F1 the F-measure of the character multisets
  (spaces count); each the maximum over the gold answers. No width folding (JGLUE has none);
  exact_match_nfkc and f1_nfkc add NFKC first, as llm-jp-eval does.
- rouge1, rouge2, rougeL (XL-Sum): as XL-Sum's official scorer computes them (eval/rouge.py).
- llmjp_char_f1 (JSQuAD), lmeval_rouge2 (XL-Sum): today's leaderboards' metrics, exactly as their sources
  (eval/leaderboard.py); they read the text jaft extracts before the paper's particle stripping, and the gold
  answers as the dataset gives them.
- marc_loglik_accuracy (MARC-ja): the label word the model finds likelier after the prompt (the
  `label_loglik` that `just eval` writes into predictions.jsonl) equals the gold label; never unparsed.

A metric reads one of the row's texts (`reads`): `prediction` (the task's post-processing step), `extracted`
(the step's extraction, before the paper's clean-up) or `loglik_label` (the label with the highest
`label_loglik`); a row without that input (a file from before jaft wrote it) leaves the metric out.

Example: `python -c "from eval.metrics import METRICS; print(METRICS['f1']('東京都', ['東京']))"`
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Callable

from eval import leaderboard, rouge
from eval.postprocess import extract, gold_answers
from jaft.common import UsageError, did_you_mean
from prompts.tasks import get_task

Metric = Callable[[str, list], float]
METRICS: dict[str, Metric] = {}
READS = ("prediction", "extracted", "loglik_label")


def metric(name: str, *, reads: str = "prediction", raw_golds: bool = False):
    """Register a metric under `name` (a task lists it in prompts/tasks.yaml); names are never reused.
    `reads`: which text of the row it scores (READS); `raw_golds`: the gold answers as the dataset gives
    them, not through the task's step."""
    if reads not in READS:
        raise ValueError(f"metric '{name}': reads '{reads}'; valid: {', '.join(READS)}")

    def register(fn: Metric) -> Metric:
        if name in METRICS:
            raise ValueError(f"metric '{name}' is registered twice")
        fn.reads, fn.raw_golds = reads, raw_golds
        METRICS[name] = fn
        return fn
    return register


def task_metrics(task) -> tuple:
    """The task's metrics (prompts/tasks.yaml), each checked to be registered; the first selects."""
    unknown = [m for m in task.metrics if m not in METRICS]
    if unknown or not task.metrics:
        what = f"unknown metric '{unknown[0]}'{did_you_mean(unknown[0], METRICS)}" if unknown else "no metric listed"
        raise UsageError(f"{task.registry_file}: task '{task.name}': key 'metrics': {what} "
                         f"(valid: {', '.join(METRICS)})")
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

metric("llmjp_char_f1", reads="extracted", raw_golds=True)(leaderboard.llmjp_char_f1)
metric("lmeval_rouge2", reads="extracted", raw_golds=True)(leaderboard.lmeval_rouge2)


@metric("marc_loglik_accuracy", reads="loglik_label")
def loglik_accuracy(prediction: str, references: list) -> float:
    return accuracy(prediction, references)


# The leaderboard metrics and where they come from (the report puts them beside published numbers).
LEADERBOARD_METRICS = {
    "llmjp_char_f1": "llm-jp-eval 1.3.0 char_f1 (fuzzywuzzy token_sort_ratio / 100)",
    "lmeval_rouge2": "lm-evaluation-harness japanese_leaderboard XL-Sum ROUGE-2 (MeCab tokens)",
    "marc_loglik_accuracy": "accuracy of the likelier label word (lm-eval's multiple_choice `acc`)",
}


# ---- rows and files ------------------------------------------------------------------------------------------

def loglik_label(row: dict) -> str | None:
    """The label with the highest log-likelihood (ties: the first listed), None when the row has none."""
    ll = row.get("label_loglik")
    if not isinstance(ll, dict) or not ll:
        return None
    return max(ll, key=ll.get)


def metric_input(task: str, row: dict, reads: str) -> str | None:
    """The text a metric reading `reads` scores in `row`, or None when the row cannot give it."""
    if reads == "prediction":
        return row["prediction"]
    if reads == "extracted":
        if "extracted" in row:
            return row["extracted"]
        return extract(task, row["raw"]) if isinstance(row.get("raw"), str) else None
    return loglik_label(row)


def row_scores(task: str, row: dict) -> dict:
    """Every metric of the task for one row (`prediction`, `references`, and `raw` / `label_loglik` for the
    metrics that read them), the gold answers post-processed as the task's step says (JSQuAD: the same
    particle stripping as the prediction) unless the metric takes them raw. A metric whose input the row
    lacks is left out."""
    golds = gold_answers(task, row["references"])
    out = {}
    for name in task_metrics(get_task(task)):
        fn = METRICS[name]
        text = metric_input(task, row, fn.reads)
        if text is not None:
            out[name] = fn(text, list(row["references"]) if fn.raw_golds else golds)
    return out


def mean_scores(task: str, per_row: list[dict]) -> dict:
    """{'n': ..., metric: mean over rows} from `row_scores` of each row; a metric some rows lack is left
    out (a mean over part of the rows would not be the split's)."""
    out = {"n": len(per_row)}
    for name in task_metrics(get_task(task)):
        if per_row and any(name not in s for s in per_row):
            continue
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
