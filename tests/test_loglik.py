"""MARC-ja by label likelihood: the batched, left-padded scoring that `just eval` runs beside generation
agrees with a direct one-row-at-a-time computation on the tiny model, and lands in predictions.jsonl."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.generate import GenSettings, HFGenerator
from eval.metrics import score_rows
from eval.predictions import load_for_scoring
from eval.runner import predict_epoch
from prompts.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gen(tiny_model):
    g = HFGenerator(str(tiny_model))
    g.model = g.base  # no adapter: the scoring is what is tested
    return g


@pytest.fixture(scope="module")
def gpt2_gen(tiny_model, tmp_path_factory):
    """A random GPT-2 (absolute position embeddings, as llm-jp-13b) on the tiny tokenizer."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel
    out = tmp_path_factory.mktemp("gpt2")
    tok = AutoTokenizer.from_pretrained(tiny_model)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=32, n_layer=2, n_head=2,
                               bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)).save_pretrained(out)
    tok.save_pretrained(out)
    g = HFGenerator(str(out))
    g.model = g.base
    return g


def marc_rows(n: int = 6) -> list[dict]:
    task = get_task("marc")
    lines = (ROOT / "prompts" / "samples" / "marc" / "validation.jsonl").read_text(encoding="utf-8").splitlines()
    rows = []
    for line in lines[:n]:
        ex = json.loads(line)
        prompt, _ = task.render({"text": ex["sentence"]})
        label = ex["label"] if isinstance(ex["label"], str) else task.class_ids[ex["label"]]
        rows.append({"id": str(ex["review_id"]), "prompt": prompt, "references": [label]})
    return rows


def direct(gen, prompt: str, label: str) -> float:
    """Sum of log P(label token | everything before), one unpadded row, full logits."""
    torch, tok = gen.torch, gen.tokenizer
    ctx = tok(prompt)["input_ids"]
    whole = tok(prompt + label)["input_ids"]
    with torch.inference_mode():
        logits = gen.base(input_ids=torch.tensor([whole])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[t - 1, whole[t]]) for t in range(len(ctx), len(whole)))


@pytest.mark.parametrize("which", ["gen", "gpt2_gen"])
def test_label_logliks_equal_a_direct_computation(which, request):
    gen = request.getfixturevalue(which)
    rows = marc_rows()
    labels = get_task("marc").label_words
    assert len({len(r["prompt"]) for r in rows}) > 1  # prompts of different lengths: padding is exercised
    batched = gen.label_logliks([r["prompt"] for r in rows], labels)
    for r, got in zip(rows, batched):
        assert set(got) == set(labels)
        for label in labels:
            assert got[label] == pytest.approx(direct(gen, r["prompt"], label), abs=1e-4)


def test_eval_writes_label_logliks_and_scores_them(gen, tmp_path):
    rows = marc_rows()
    out = tmp_path / "predictions.jsonl"
    assert predict_epoch(gen, "marc", rows, out, GenSettings(2), batch_size=4) == len(rows)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert all(set(line["label_loglik"]) == {"positive", "negative"} for line in lines)
    scored = load_for_scoring("marc", out)
    metrics = score_rows("marc", scored)
    by_id = {r["id"]: r for r in rows}
    expected = [max(("positive", "negative"), key=lambda w: direct(gen, by_id[x["id"]]["prompt"], w))
                == by_id[x["id"]]["references"][0] for x in lines]
    assert metrics["marc_loglik_accuracy"] == pytest.approx(sum(expected) / len(expected))
    assert "accuracy" in metrics  # the generative accuracy beside it, from the same pass


def test_a_file_without_label_logliks_leaves_the_metric_out(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "1", "raw": "positive", "references": ["positive"]}) + "\n")
    assert score_rows("marc", load_for_scoring("marc", path)) == {"n": 1, "accuracy": 1.0}


def test_a_damaged_label_loglik_is_a_one_line_error(tmp_path):
    from jaft.common import DataError
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "1", "raw": "positive", "references": ["positive"],
                                "label_loglik": {"positive": "high"}}) + "\n")
    with pytest.raises(DataError, match="p.jsonl:1: 'label_loglik' must map each label word to a number"):
        load_for_scoring("marc", path)
