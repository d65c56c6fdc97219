"""The GPU proof (bench/): random models at the registry's exact shapes, the judgements it writes, its
command-line contract, and `bash bench/gpu_proof.sh --tiny` end to end on the CPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench import proof_report
from bench.proof_plugin import throughput
from bench.random_models import config_for, tokenizer_for
from recipes.memory import Setting, peak_mib, weight_counts
from recipes.models import DEFAULT_CAP_MB, MODELS, get_model
from tests.conftest import REPO, without_venv_on_path


def step(model: str, attn: str = "eager", gc: bool = False, liger: bool = False) -> Setting:
    """The recipes' LoRA (r=16 on the registry's targets) with the given attention and switches."""
    return Setting(attn, gc, liger, lora_r=16, lora_targets=get_model(model).lora_targets)


TRAIN_FIELDS = ("model", "setting", "peak_mib", "predicted_mib", "tokens_per_s", "anchor_tokens_per_s",
                "cap_mib", "held")


def proof(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "bench" / "gpu_proof.sh"), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("name", sorted(MODELS))
def test_random_model_has_the_registrys_exact_parameter_count(name):
    """The built architecture is the one the planner counts: same weights, to the parameter."""
    import torch
    from transformers import AutoModelForCausalLM
    with torch.device("meta"):
        net = AutoModelForCausalLM.from_config(config_for(get_model(name)))
    assert sum(p.numel() for p in net.parameters()) == weight_counts(get_model(name), 16, ())[0]
    family = {"gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
              "qwen3": "Qwen3ForCausalLM", "gemma2": "Gemma2ForCausalLM"}
    assert type(net).__name__ == family[get_model(name).arch]


def test_tokenizer_vocabulary_matches_without_changing_tokenization(tiny_tokenizer):
    """Filled up to calm2's 65,024 entries (no embedding resize), and text still tokenizes as tiny's does:
    the filler tokens are unreachable."""
    tok = tokenizer_for(65024, 4096)
    assert len(tok) == 65024
    text = "以下のニュース記事をお読みください。東京の大学 positive"
    assert tok(text)["input_ids"] == tiny_tokenizer(text)["input_ids"]
    assert max(tok(text * 20)["input_ids"]) < len(tiny_tokenizer)


def test_built_model_loads_offline_by_its_hub_id(tmp_path):
    """Written as a hub snapshot, the model loads by its real id with the hub offline, as Axolotl and eval
    load it; GPT-2 (llm-jp) keeps its Conv1D layers and vocabulary."""
    from bench.random_models import build
    small = {"hidden": 32, "layers": 2, "heads": 4, "intermediate": 64}
    for name in ("calm2", "llmjp-13b"):
        build(name, tmp_path / "hub", shape=small)
    code = ("from transformers import AutoModelForCausalLM, AutoTokenizer\n"
            "for hub in ('cyberagent/calm2-7b', 'llm-jp/llm-jp-13b-v1.0'):\n"
            "    m = AutoModelForCausalLM.from_pretrained(hub); t = AutoTokenizer.from_pretrained(hub)\n"
            "    layer = type(m.transformer.h[0].attn.c_attn).__name__ if hasattr(m, 'transformer') else ''\n"
            "    print(hub, type(m).__name__, m.config.vocab_size, len(t), layer)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split("\n")
    assert lines[0].split() == ["cyberagent/calm2-7b", "LlamaForCausalLM", "65024", "65024"]
    assert lines[1].split() == ["llm-jp/llm-jp-13b-v1.0", "GPT2LMHeadModel", "50570", "50570", "Conv1D"]


def test_anchor_rate_exact_interpolated_and_out_of_range():
    exact, basis = proof_report.anchor_rate("llama2-13b", step("llama2-13b", "sdpa"), 1024)
    assert exact == 3226.3 and "at 1024 tokens" in basis
    # calm2, eager: 3,738.8 tokens/s at 1,024 and 5,763.7 at 2,048 (recipes/anchors/)
    rate, basis = proof_report.anchor_rate("calm2", step("calm2"), 1700)
    assert rate == pytest.approx(3738.8 + (5763.7 - 3738.8) * (1700 - 1024) / 1024, abs=0.1)
    assert "between 1024 and 2048" in basis
    assert proof_report.anchor_rate("calm2", step("calm2"), 4096) == (None, None)  # never extrapolated
    assert proof_report.anchor_rate("tiny", step("tiny"), 512) == (None, None)
    # A Liger run is set beside plain HF+PEFT at the same attention and checkpointing
    liger, _ = proof_report.anchor_rate("llama2-7b", step("llama2-7b", "sdpa", True, True), 2048)
    assert liger == 5421.1
    # A different LoRA is a different step: no anchor
    other = Setting("sdpa", lora_r=64, lora_targets=get_model("llama2-13b").lora_targets)
    assert proof_report.anchor_rate("llama2-13b", other, 1024) == (None, None)


@pytest.mark.parametrize("kw, expected", [
    ({"predicted_mib": 30000, "outcome": "finished", "peak_mib": 31000, "advice": False}, True),
    ({"predicted_mib": 30000, "outcome": "finished", "peak_mib": 47000, "advice": False}, False),
    ({"predicted_mib": 30000, "outcome": "oom", "peak_mib": None, "advice": True}, False),
    ({"predicted_mib": 55000, "outcome": "oom", "peak_mib": None, "advice": True}, True),
    ({"predicted_mib": 55000, "outcome": "oom", "peak_mib": None, "advice": False}, False),
    ({"predicted_mib": 55000, "outcome": "finished", "peak_mib": 45000, "advice": False}, False),
])
def test_held_means_the_cap_did_what_the_planner_said(kw, expected):
    assert proof_report.held(cap_applied=True, cap_mib=46000, **kw) is expected
    assert proof_report.held(cap_applied=False, cap_mib=46000, **kw) is None  # no CUDA: nothing to hold


def test_over_cap_run_is_well_over_and_within_the_native_context():
    calm2 = get_model("calm2")
    eager = step("calm2")
    seq = proof_report.over_cap_len(calm2, eager, DEFAULT_CAP_MB)
    assert seq <= calm2.native_context
    assert peak_mib(calm2, seq, eager) >= 1.15 * DEFAULT_CAP_MB > peak_mib(calm2, seq - 100, eager)


def test_throughput_leaves_out_the_warm_up_steps():
    marks = [(10.0, 100), (12.0, 200), (12.5, 300), (13.0, 400), (13.5, 500)]  # first two steps slow
    assert throughput(marks) == {"tokens_per_s": 200.0, "timed_steps": 3, "warmup_steps": 2}
    assert throughput(marks[:2])["warmup_steps"] == 1 and throughput([])["tokens_per_s"] is None


def test_summary_flags_a_cap_that_did_not_hold():
    rec = {"kind": "train", "model": "calm2", "setting": "paper", "attn_setting": "eager", "sequence_len": 1700,
           "outcome": "finished", "peak_mib": 47100, "peak_allocated_mib": 45000, "predicted_mib": 44600,
           "cap_mib": 46000, "held": False, "tokens_per_s": 5100.0, "anchor_tokens_per_s": 5075.6,
           "ratio_to_anchor": 1.005, "versions": {"torch": "2.11.0"}}
    text = proof_report.summary([rec], {"date": "2026-11-28", "device": "NVIDIA H100", "mode": "GPU",
                                        "command": "bash bench/gpu_proof.sh", "seconds": 400})
    assert "| calm2 | paper (eager) | 1,700 | finished | 47,100 | 45,000 | 44,600 | 46,000 | **NO** |" in text
    assert "torch 2.11.0" in text


def test_gpu_mode_without_cuda_is_a_one_line_error():
    proc = proof()
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "error: no CUDA device here; run `bash bench/gpu_proof.sh --tiny` for the CPU mode")


def test_bad_model_and_existing_results_are_refused_before_any_work(tmp_path):
    proc = proof("--tiny", "--models", "calm3", "--out", str(tmp_path))
    assert proc.returncode == 2 and "unknown model 'calm3'; valid: tiny" in proc.stderr
    proc = proof("--tiny", "--part", "2", "--out", str(tmp_path))
    assert proc.returncode == 2 and "--part names its own models" in proc.stderr
    assert list(tmp_path.iterdir()) == []
    from datetime import date
    done = tmp_path / f"gpu-proof-{date.today().isoformat()}-cpu.jsonl"
    done.write_text("{}\n")
    proc = proof("--tiny", "--out", str(tmp_path), "--work", str(tmp_path / "work"))
    assert proc.returncode == 2 and "exists; pass --force" in proc.stderr
    assert done.read_text() == "{}\n" and not (tmp_path / "work").exists()


@pytest.mark.e2e
def test_tiny_proof_end_to_end(tmp_path, tiny_model):
    """`bash bench/gpu_proof.sh --tiny`: real Axolotl training at both settings through the accelerate
    launcher (the GPU's path), measured from inside the run, and eval's generation; the results file holds
    every field per run, honest about what a CPU cannot show."""
    out = tmp_path / "results"
    proc = proof("--tiny", "--steps", "4", "--eval-rows", "4", "--out", str(out), "--work", str(tmp_path / "w"),
                 env={"PATH": without_venv_on_path()})  # as a user who did not activate the virtualenv
    assert proc.returncode == 0, proc.stderr[-4000:]
    (results,) = out.glob("gpu-proof-*-cpu.jsonl")
    records = [json.loads(line) for line in results.read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [(r["model"], r["setting"], r["attn_setting"]) for r in train] == [
        ("tiny", "paper", "eager"), ("tiny", "full", "sdpa+GC")]
    for r in train:
        assert set(TRAIN_FIELDS) <= set(r)
        # 4 steps of 4 rows, each cut to (nearly) tiny's 512 tokens
        assert r["outcome"] == "finished" and r["steps"] == 4 and 4 * 4 * 500 <= r["tokens"] <= 4 * 4 * 512
        assert r["tokens_per_s"] > 0 and r["peak_mib"] > 0 and r["predicted_mib"] > 0 and r["cap_mib"] == 46000
        assert r["held"] is None and r["cap_applied"] is False and r["anchor_tokens_per_s"] is None
        assert r["versions"]["axolotl"] == "0.19.0"
    evals = {r["task"]: r for r in records if r["kind"] == "eval"}
    assert set(evals) == {"jsquad", "xlsum"} and 500 <= evals["xlsum"]["prompt_tokens_mean"] <= 512
    assert all(r["examples_per_s"] > 0 and r["n"] == 4 for r in evals.values())
    log = (tmp_path / "w" / "runs" / "tiny-xlsum-lr2e-4" / "train.log").read_text()
    assert "jaft vram cap: no CUDA device" in log  # the plugin ran inside the launched process
    assert "Plugin loaded successfully: recipes.vram_cap.VramCapPlugin" in log
    launched = (tmp_path / "w" / "logs" / "tiny-xlsum-lr2e-4.log").read_text()
    assert "--launcher accelerate" in launched
    assert "`accelerate launch` and had defaults used instead" in launched  # accelerate's own launcher ran
    md = results.with_suffix(".md").read_text()
    assert "| tiny | paper (eager) | 512 | finished |" in md and "n/a" in md


def test_data_is_built_to_the_longest_length_a_run_or_eval_uses_not_the_native_context():
    """qwen3-8b's native context is 32,768 tokens, its proof runs train at 1,400: the rows are built to what
    the runs use (the old proof built every row to the longest native context, hours of CPU)."""
    from bench.gpu_proof import GPU_MODELS, PLAN, data_lengths, proof_runs
    from recipes.runs import RunSpec
    runs = proof_runs(list(GPU_MODELS), over_cap=True, extras=True)
    longest = max(RunSpec.parse(m, "xlsum", "2e-4", v).sequence_len for m in GPU_MODELS for _, v in PLAN[m])
    over = [v for _, s, v in runs if s == "over-cap"]
    assert over and int(over[0][3:]) <= longest == 4096  # calm2's full run; the over-cap run is shorter
    assert data_lengths(list(GPU_MODELS), runs, extras=True) == {"train": 4096, "validation": 4096,
                                                                  "test": get_model("calm2").infer_len}
    alone = proof_runs(["qwen3-8b"], over_cap=True, extras=False)
    assert data_lengths(["qwen3-8b"], alone, extras=False) == {"train": 1400, "validation": 1400, "test": 1400}
    assert max(get_model(m).native_context for m in GPU_MODELS) == 32768


def test_long_articles_tokenize_each_row_twice_whatever_the_length(tiny_tokenizer):
    """Linear, not quadratic: one tokenizer call to count a row's repeats, one to cut the repeated text."""
    from bench.gpu_proof import long_articles

    class Counting:
        def __init__(self, tok):
            self.tok, self.calls = tok, 0

        def __call__(self, *args, **kwargs):
            self.calls += 1
            return self.tok(*args, **kwargs)
    for tokens in (600, 3000):
        counting = Counting(tiny_tokenizer)
        rows = long_articles(counting, tokens)
        assert counting.calls == 2 * len(rows) == 2 * 180
        lengths = {len(tiny_tokenizer(r["text"], add_special_tokens=False)["input_ids"]) for r in rows}
        assert tokens <= min(lengths) and max(lengths) <= tokens + 64


def test_each_part_of_the_proof_is_estimated_under_ten_minutes():
    """One device command runs at most 10 minutes: the parts cover the proof's models and runs once each
    (the over-cap run and eval in part 1), and each is estimated under 600 s; the whole proof is not."""
    from bench.gpu_proof import GPU_MODELS, PARTS, estimate_seconds, proof_runs
    whole = proof_runs(list(GPU_MODELS), over_cap=True, extras=True)
    assert [m for part in PARTS for m in part] == list(GPU_MODELS)
    parts = [proof_runs(list(p), over_cap=True, extras=i == 0) for i, p in enumerate(PARTS)]
    assert [r for runs in parts for r in runs] == whole
    for i, (part, runs) in enumerate(zip(PARTS, parts)):
        assert estimate_seconds(list(part), runs, extras=i == 0) < 600, part
    assert estimate_seconds(list(GPU_MODELS), whole, extras=True) > 600


def test_the_proof_adds_a_grouped_query_shape_and_a_qlora_run_without_repeating_settings():
    from bench.gpu_proof import GPU_MODELS, PLAN
    gqa = [m for m in GPU_MODELS if get_model(m).facts.kv_heads < get_model(m).facts.num_attention_heads]
    assert gqa == ["qwen3-8b"] and ("qlora", "qlora") in PLAN["qwen3-8b"]
    # one `full` per code path (Llama, GPT-2), at most 8 training runs (the over-cap run included)
    assert sum(len(PLAN[m]) for m in GPU_MODELS) + 1 <= 8
    assert [m for m in GPU_MODELS if ("full", "full") in PLAN[m]] == ["calm2", "llmjp-13b"]
