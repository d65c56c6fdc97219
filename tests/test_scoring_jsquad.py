"""JSQuAD scoring: the paper's particle stripping by morpheme, applied to gold and prediction alike, and
JGLUE's EM/F1. The dev sample is JSQuAD-style text written for jaft (JGLUE's schema, not its text)."""
from __future__ import annotations

import json

import pytest

from eval.metrics import METRICS, jglue_normalize, row_scores, score_rows
from eval.postprocess import gold_answers, jsquad_answer, strip_trailing_particles
from tests.conftest import FIXTURES


def dev_sample() -> list[list[str]]:
    data = json.loads((FIXTURES / "jsquad_dev_sample.json").read_text(encoding="utf-8"))["data"]
    return [[a["text"] for a in qa["answers"]] for article in data for p in article["paragraphs"]
            for qa in p["qas"]]


def test_every_gold_answer_given_as_the_output_scores_full_marks():
    questions = dev_sample()
    assert len(questions) == 39
    rows = [{"prediction": jsquad_answer(answer), "references": answers}
            for answers in questions for answer in answers]
    full = {"f1": 1.0, "exact_match": 1.0}
    wrong = [(r["prediction"], r["references"]) for r in rows if row_scores("jsquad", r) != full]
    assert wrong == []
    assert score_rows("jsquad", rows) == {"n": len(rows), "f1": 1.0, "exact_match": 1.0}


@pytest.mark.parametrize("answer", ["6歳から15歳まで", "音の長さを順次並べたもの", "弟子をとること",
                                    "天皇から農民まで", "簡素なもの", "取った駒を自分の駒として使えること"])
def test_words_that_end_like_a_particle_are_never_cut_into(answer):
    # まで, もの, こと end in で, の, と: read by character they lost a letter, read by morpheme they are words
    assert jsquad_answer(answer) == answer


@pytest.mark.parametrize("raw, want", [
    ("東京で", "東京"),
    ("1877年から", "1877年"),
    ("有機物スープを", "有機物スープ"),
    ("東京都での", "東京都"),          # repeatedly, re-reading after each cut: の, then で
    ("明治時代には", "明治時代"),
    ("1917年に、", "1917年"),          # the paper's 、 and 。 go too, at each step
    ("京都へ。", "京都"),
    ("学生で", "学生"),                 # the copula's で (助動詞): one of the paper's "auxiliary words"
    ("東京の大学", "東京の大学"),      # never inside the answer
    ("の", "の"),                      # never the whole answer
    ("はがも東京", "はがも東京"),      # only at the end
])
def test_particles_come_off_the_end_by_morpheme(raw, want):
    assert strip_trailing_particles(raw) == want


@pytest.mark.parametrize("raw, want", [
    ("\n大阪府", "大阪府"),            # a leading newline no longer empties the answer
    (" \n\n 大阪府で\n### Instruction", "大阪府"),
    ("東京<EOD|LLM-jp>", "東京"),
    ("<s>東京</s>", "東京"),
    ("  、東京。 ", "東京"),
    ("", ""),
    ("\n\n", ""),
])
def test_answer_is_the_first_nonblank_line(raw, want):
    assert jsquad_answer(raw) == want


@pytest.mark.parametrize("pred, gold, em", [
    ("東京で", "東京", 1.0),
    ("1877年から", "1877年", 1.0),
    ("東京の大学", "東京大学", 0.0),   # the paper's intent: の inside an answer matters
    ("東京", "有機物スープを", 0.0),
])
def test_paper_intent_on_exact_match(pred, gold, em):
    row = {"prediction": jsquad_answer(pred), "references": [gold]}
    assert row_scores("jsquad", row)["exact_match"] == em


def test_gold_answers_go_through_the_same_step():
    assert gold_answers("jsquad", ["有機物スープを", "6歳から15歳まで"]) == ["有機物スープ", "6歳から15歳まで"]
    assert gold_answers("marc", ["positive"]) == ["positive"]


@pytest.mark.parametrize("text, want", [
    ("ＡＢＣ", "ａｂｃ"),               # lowercase only: JGLUE does not fold widths
    ("東京。。", "東京"),               # every trailing 。
    ("  東京  都 ", "東京 都"),         # whitespace collapsed
    ("東京。 ", "東京。"),              # 。 is stripped before the whitespace, as in JGLUE
])
def test_jglue_normalization(text, want):
    assert jglue_normalize(text) == want


@pytest.mark.parametrize("pred, refs, em, f1", [
    ("東京", ["東京"], 1.0, 1.0),
    ("大阪", ["東京"], 0.0, 0.0),
    ("東京都", ["東京"], 0.0, 0.8),                 # P 2/3, R 1 -> 0.8
    ("東京", ["東京都庁"], 0.0, 2 / 3),             # P 1, R 1/2 -> 2/3
    ("東 京", ["東京"], 0.0, 0.8),                  # the space is a character of the answer (JGLUE)
    ("ＡＢＣ", ["abc"], 0.0, 0.0),                  # no width folding in JGLUE's metric ...
    ("1917", ["1917年", "1917"], 1.0, 1.0),         # max over references
    ("", ["東京"], 0.0, 0.0),                        # empty prediction scores 0, never crashes
    ("", ["。"], 1.0, 1.0),                          # a gold answer that normalises to nothing is ""
])
def test_jglue_em_f1(pred, refs, em, f1):
    assert METRICS["exact_match"](pred, refs) == em
    assert METRICS["f1"](pred, refs) == pytest.approx(f1)


def test_nfkc_variants_fold_widths():
    # ... the llm-jp-eval flavour, registered under its own names
    assert METRICS["exact_match_nfkc"]("ＡＢＣ", ["abc"]) == 1.0
    assert METRICS["f1_nfkc"]("１９１７年", ["1917年"]) == 1.0


@pytest.mark.parametrize("raw", ["東京\x00で", "\ud800東京で", "東京\x01\x7f", "\ufeff\u200b東京で"])
def test_hostile_answers_neither_crash_nor_lose_characters(raw):
    answer = jsquad_answer(raw)
    assert answer.startswith(raw[: raw.index("東")])   # nothing before the hostile character is lost
    assert "東京" in answer
    row_scores("jsquad", {"prediction": answer, "references": ["東京"]})


def test_a_very_long_answer_is_tagged_by_its_tail():
    raw = "東京" * 400_000 + "で"                        # 800,001 characters: MeCab alone would segfault
    assert jsquad_answer(raw) == "東京" * 400_000
