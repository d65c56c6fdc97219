"""Metrics on hand-computed Japanese cases, and every post-processing rule."""
from __future__ import annotations

import pytest

from eval.metrics import METRICS, MecabTokenizer, char_f1, score_rows, task_metrics
from prompts.tasks import TASKS
from eval.postprocess import before_closing_quotes, first_word, jsquad_answer, strip_trailing_particles


def test_accuracy():
    assert METRICS["accuracy"]("positive", ["positive"]) == 1.0
    assert METRICS["accuracy"]("negative", ["positive"]) == 0.0


@pytest.mark.parametrize("pred, refs, em, f1", [
    ("東京", ["東京"], 1.0, 1.0),
    ("大阪", ["東京"], 0.0, 0.0),
    ("東京都", ["東京"], 0.0, 0.8),                 # P 2/3, R 1 -> 0.8
    ("東京", ["東京都庁"], 0.0, 2 / 3),             # P 1, R 1/2 -> 2/3
    ("ＡＢＣ", ["abc"], 1.0, 1.0),                   # NFKC + lowercase
    ("東京。", ["東京"], 1.0, 1.0),                  # JGLUE drops a trailing 。
    ("1917", ["1917年", "1917"], 1.0, 1.0),         # max over references
    ("", ["東京"], 0.0, 0.0),                        # empty prediction scores 0, never crashes
])
def test_jsquad_em_f1(pred, refs, em, f1):
    assert METRICS["exact_match"](pred, refs) == em
    assert METRICS["f1"](pred, refs) == pytest.approx(f1)


def test_char_f1_is_multiset_overlap():
    assert char_f1("ああい", "あい") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))


def test_rouge_identical_disjoint_partial():
    r1, r2, rl = METRICS["rouge1"], METRICS["rouge2"], METRICS["rougeL"]
    ref = ["九州北部で大雨が降った。"]
    assert r1("九州北部で大雨が降った。", ref) == 1.0
    assert r1("東京は晴れ", ref) == 0.0
    # ours: 九州 で 大雨 が 降っ た (6) vs 九州 北部 で 大雨 が 降っ た (7); 6 shared -> F = 12/13
    assert r1("九州で大雨が降った。", ref) == pytest.approx(12 / 13)
    # bigrams: 5 of ours, 6 of the reference, shared: で大雨 大雨が が降っ 降った (4) -> F = 8/11
    assert r2("九州で大雨が降った。", ref) == pytest.approx(8 / 11)
    assert rl("九州で大雨が降った。", ref) == pytest.approx(12 / 13)
    assert r1("", ref) == 0.0


def test_default_rouge_tokenizer_scores_japanese_zero_ours_does_not():
    from rouge_score import rouge_scorer
    default = rouge_scorer.RougeScorer(["rouge1"])
    pred, ref = "九州で大雨が降った。", "九州北部で大雨が降った。"
    assert default.score(ref, pred)["rouge1"].fmeasure == 0.0
    assert METRICS["rouge1"](pred, [ref]) > 0.9


def test_mecab_tokenizer_drops_punctuation_symbols_spaces():
    assert MecabTokenizer().tokenize("「東京」の　大学、３つ！") == ["東京", "の", "大学", "3", "つ"]


@pytest.mark.parametrize("raw, want", [
    ("positive", "positive"), (" Positive.\n### ", "positive"), ("negative</s>", "negative"),
    ("neutral", "neutral"), ("", ""), ("positives", "positives"), ("ｐｏｓｉｔｉｖｅ", "positive"),
])
def test_marc_first_word(raw, want):
    assert first_word(raw) == want


@pytest.mark.parametrize("raw, want", [
    ("東京<EOD|LLM-jp>", "東京"),
    ("東京</s>", "東京"),
    ("東京で\n### Instruction", "東京"),
    ("  、東京。 ", "東京"),
    ("東京都での", "東京都"),          # repeatedly from the end: の then で
    ("東京の大学", "東京の大学"),      # never inside
    ("名古屋から", "名古屋"),
    ("の", "の"),                      # never the whole answer
    ("1917年に、", "1917年"),
])
def test_jsquad_postprocess(raw, want):
    assert jsquad_answer(raw) == want


def test_particles_only_at_the_end():
    assert strip_trailing_particles("はがも東京") == "はがも東京"


def test_xlsum_before_closing_quotes():
    assert before_closing_quotes('九州で大雨。"""\n以下のニュース') == "九州で大雨。"
    assert before_closing_quotes("閉じない要約") == "閉じない要約"


def test_score_rows_averages_fractions():
    rows = [{"prediction": "東京", "references": ["東京"]}, {"prediction": "", "references": ["大阪"]}]
    assert score_rows("jsquad", rows) == {"n": 2, "f1": 0.5, "exact_match": 0.5}
    assert task_metrics(TASKS["xlsum"]) == ("rouge1", "rouge2", "rougeL")


def test_stop_string_only_counts_generated_text(tiny_tokenizer):
    import torch
    from eval.generate import StopInNewText
    prompt = tiny_tokenizer('要約は以下の通りです:\n"""')["input_ids"]
    more = tiny_tokenizer('"', add_special_tokens=False)["input_ids"]
    done = tiny_tokenizer('要約。"""', add_special_tokens=False)["input_ids"]
    stop = StopInNewText(tiny_tokenizer, len(prompt), ('"""',), torch)
    assert stop(torch.tensor([prompt + more]), None).tolist() == [False]
    assert stop(torch.tensor([prompt + done]), None).tolist() == [True]
