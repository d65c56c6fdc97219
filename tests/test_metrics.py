"""Metrics and post-processing steps: the registry, hand-computed cases, diagnostics, generation's token count.
Each task's rules in depth: tests/test_scoring_{marc,jsquad,rouge,cli}.py."""
from __future__ import annotations

import pytest

from eval.metrics import METRICS, diagnostics, metric, row_scores, score_rows, task_metrics
from eval.postprocess import STEPS, before_closing_quotes, step
from prompts.tasks import TASKS


def test_accuracy():
    assert METRICS["accuracy"]("positive", ["positive"]) == 1.0
    assert METRICS["accuracy"]("negative", ["positive"]) == 0.0
    assert METRICS["accuracy"]("", ["positive"]) == 0.0        # no label found


def test_the_paper_tasks_steps_and_metrics():
    assert {name: (t.postprocess, task_metrics(t)) for name, t in TASKS.items()} == {
        "marc": ("label_first", ("accuracy", "marc_loglik_accuracy")),
        "jsquad": ("jsquad_answer", ("f1", "exact_match", "llmjp_char_f1")),
        "xlsum": ("before_closing_quotes", ("rouge1", "rouge2", "rougeL", "lmeval_rouge2"))}
    assert [name for name, fn in STEPS.items() if fn.also_gold] == ["jsquad_answer"]


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        metric("f1")(lambda p, r: 0.0)
    with pytest.raises(ValueError, match="registered twice"):
        step("jsquad_answer")(lambda raw, task: raw)


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


def test_xlsum_before_closing_quotes():
    assert before_closing_quotes('九州で大雨。"""\n以下のニュース') == "九州で大雨。"
    assert before_closing_quotes("閉じない要約") == "閉じない要約"


def test_score_rows_averages_fractions():
    rows = [{"prediction": "東京", "references": ["東京で"]}, {"prediction": "", "references": ["大阪"]}]
    assert score_rows("jsquad", rows) == {"n": 2, "f1": 0.5, "exact_match": 0.5}
    assert row_scores("jsquad", rows[0]) == {"f1": 1.0, "exact_match": 1.0}   # the gold loses its で too
    assert score_rows("marc", []) == {"n": 0, "accuracy": 0.0, "marc_loglik_accuracy": 0.0}


def test_diagnostics_per_task():
    cap = [{"raw": "a", "prediction": "a", "new_tokens": n} for n in (5, 2, 5, 1)]
    assert diagnostics("jsquad", cap, max_new_tokens=5)["at_token_cap"]["share"] == 0.5
    assert diagnostics("jsquad", [{"raw": "a", "prediction": "a"}], 5)["at_token_cap"]["count"] is None
    summaries = [{"raw": '要約。"""', "prediction": "要約。"}, {"raw": "要約が続く", "prediction": "要約が続く"}]
    assert diagnostics("xlsum", summaries)["unclosed"]["count"] == 1


def test_stop_string_only_counts_generated_text(tiny_tokenizer):
    import torch
    from eval.generate import StopInNewText
    prompt = tiny_tokenizer('要約は以下の通りです:\n"""')["input_ids"]
    more = tiny_tokenizer('"', add_special_tokens=False)["input_ids"]
    done = tiny_tokenizer('要約。"""', add_special_tokens=False)["input_ids"]
    stop = StopInNewText(tiny_tokenizer, len(prompt), ('"""',), torch)
    assert stop(torch.tensor([prompt + more]), None).tolist() == [False]
    assert stop(torch.tensor([prompt + done]), None).tolist() == [True]


class ScriptedModel:
    """Returns the prompt followed by scripted new tokens, as model.generate would (rows padded alike)."""

    def __init__(self, new_rows):
        self.new_rows = new_rows

    def generate(self, input_ids, **kwargs):
        import torch
        return torch.cat([input_ids, torch.tensor(self.new_rows)], dim=1)


def test_generation_counts_its_new_tokens(tiny_tokenizer):
    from eval.generate import GenSettings, HFGenerator
    tok = tiny_tokenizer
    eos, pad = tok.eos_token_id, tok.pad_token_id
    assert eos != pad
    a, b, c, d = tok("東京で大阪", add_special_tokens=False)["input_ids"][:4]
    gen = object.__new__(HFGenerator)          # no weights needed: the model's output is scripted
    import torch
    gen.torch, gen.device, gen.tokenizer = torch, "cpu", tok
    gen.model = ScriptedModel([[a, b, eos, pad],    # ended by EOS after 2 tokens
                               [a, b, c, d],        # used every allowed token: at the cap
                               [a, pad, pad, pad]]) # stopped by a stop string, then padded
    outs = gen.generate(["一", "二", "三"], GenSettings(4))
    assert [o.new_tokens for o in outs] == [2, 4, 1]
    assert [o.text for o in outs] == [tok.decode([a, b]), tok.decode([a, b, c, d]), tok.decode([a])]
