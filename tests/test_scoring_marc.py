"""MARC-ja: the label is a label word at the very start of the output, read as a person would."""
from __future__ import annotations

import pytest

from eval.metrics import diagnostics, score_rows
from eval.postprocess import label_first, postprocess
from prompts.tasks import TASKS

LABELS = TASKS["marc"].label_words


@pytest.mark.parametrize("raw, want", [
    ("positive", "positive"),
    ("negative", "negative"),
    # Japanese puts no space after a word: what follows the label does not matter ...
    ("positiveです", "positive"),
    ("negative。星5つです。", "negative"),
    ("positive😊", "positive"),
    ("negative</s>", "negative"),
    ("positive.\n### Instruction", "positive"),
    ("positive2", "positive"),
    # ... nor what a person skips before it: whitespace, special tokens, quotes, brackets, markdown
    ("  \n positive", "positive"),
    ("<s>positive", "positive"),
    ("<EOD|LLM-jp>negative", "negative"),
    ("<|endoftext|> <pad>negative", "negative"),
    ("「negative」", "negative"),
    ("『positive』", "positive"),
    ("**positive**", "positive"),
    ("__negative__", "negative"),
    ('"negative"', "negative"),
    ("'positive'", "positive"),
    ("(negative)", "negative"),
    ("（positive）", "positive"),
    ("[negative]", "negative"),
    ("- negative", "negative"),
    ("* positive", "positive"),
    ("・negative", "negative"),
    ("`positive`", "positive"),
    # case and width do not matter
    ("POSITIVE", "positive"),
    ("Negative!", "negative"),
    ("ｎｅｇａｔｉｖｅ", "negative"),
    ("Ｐｏｓｉｔｉｖｅ！", "positive"),
])
def test_label_at_the_start(raw, want):
    assert label_first(raw, LABELS) == want


@pytest.mark.parametrize("raw", [
    "positively", "negatives", "positivepositive", "Positivity", "ｐｏｓｉｔｉｖｅｌｙ",   # more Latin letters
    "positivé",                                        # an accent continues the word too
    "pos", "neg", "ポジティブ", "ネガティブ",           # not the label words
    "The sentiment is positive",                       # the paper's first-word rule decides the rest
    "neutral", "", "   ", "</s>", "1. positive",
])
def test_no_label_is_no_prediction(raw):
    assert label_first(raw, LABELS) == ""


def test_label_words_come_from_the_task():
    assert LABELS == ("positive", "negative")
    assert label_first("Yes, it is", ("yes", "no")) == "yes"
    assert label_first("no!", ("yes", "no")) == "no"
    assert label_first("positive", ("yes", "no")) == ""
    assert postprocess("marc", "「positive」です") == "positive"


def test_unparsed_outputs_are_counted():
    raws = ["positiveです", "ポジティブ", "negative", "The answer is negative"]
    rows = [{"raw": r, "prediction": postprocess("marc", r), "references": ["negative"]} for r in raws]
    assert score_rows("marc", rows) == {"n": 4, "accuracy": 0.25}
    d = diagnostics("marc", rows)["unparsed"]
    assert (d["count"], d["share"]) == (2, 0.5) and "label" in d["what"]


@pytest.mark.parametrize("raw, want", [("positive\ud800", "positive"), ("negative\x00", "negative"),
                                       ("\ud800positive", ""), ("posi\x00tive", "")])
def test_hostile_text_never_crashes(raw, want):
    assert label_first(raw, LABELS) == want
