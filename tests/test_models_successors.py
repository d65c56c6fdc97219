"""Today's successors: every entry renders for all three tasks (LoRA and QLoRA) and Axolotl accepts it;
its architecture facts count to the published parameter count; the planner labels what it extrapolates
and refuses a LoRA recipe whose frozen weights alone exceed the cap, suggesting --variant qlora."""
from __future__ import annotations

import json

import pytest

from prompts.tasks import TASKS
from recipes.memory import Setting, extrapolated, frozen_bytes, longest_fit, longest_generation_len, MIB, weight_counts
from recipes.models import DEFAULT_CAP_MB, GROUPS, MODELS, get_model
from recipes.plan import plan_rows
from recipes.render import build_recipe
from recipes.runs import RunSpec
from tests.conftest import cli

SUCCESSORS = GROUPS["successors"]

# Published parameter counts. Where the model card gives a number it is cited; otherwise the count the
# checkpoint's Hub page shows from its safetensors metadata (rounded as shown there).
PUBLISHED = {
    "qwen3-8b": 8.2e9,             # Qwen/Qwen3-8B-Base card: "Number of Parameters: 8.2B" (non-embedding 6.95B)
    "qwen2.5-7b": 7.61e9,          # Qwen/Qwen2.5-7B card: "Number of Parameters: 7.61B" (non-embedding 6.53B)
    "swallow-8b": 8.03e9,          # Hub page "8.03B params" (Llama-3.1-8B's 8,030,261,248; no new vocabulary)
    "llmjp3-13b": 13.7e9,          # Hub page "13.7B params"
    "sarashina2-13b": 13.7e9,      # Hub page "13.7B params" (card: "13B")
    "gemma2-swallow-9b": 9.24e9,   # Hub page "9.24B params" (gemma-2-9b's 9,241,705,984)
    "calm3-22b": 22.5e9,           # Hub page "22.5B params" (card: "Model size: 22B", rounded)
}


def test_the_group_holds_the_seven_successors():
    assert SUCCESSORS == tuple(PUBLISHED)
    for name in SUCCESSORS:
        m = get_model(name)
        assert m.architecture is not None and m.architecture.model_type == m.arch, name
        assert m.architecture.source and m.architecture.source.url.endswith("config.json"), name
        assert m.license and not m.paper, name
        a = m.architecture
        # the native context is the config's own number; facts not read from the checkpoint's own file say so
        assert m.native_context == a.max_position_embeddings, name
        if m.hub_id not in a.source.url:
            assert {"hidden_size", "num_hidden_layers", "vocab_size"} <= set(a.unverified), name
    # qwen3-8b is the Base checkpoint: its config's, not the post-trained sibling's (40,960 positions)
    qwen3 = get_model("qwen3-8b").architecture
    assert "Qwen/Qwen3-8B-Base/" in qwen3.source.url and "max_position_embeddings" in qwen3.unverified
    assert "gemma" in get_model("swallow-8b").license.lower()


@pytest.mark.parametrize("name", SUCCESSORS)
def test_base_params_match_the_published_count(name):
    m = get_model(name)
    base, _ = weight_counts(m, 16, m.lora_targets)
    assert abs(base - PUBLISHED[name]) / PUBLISHED[name] < 0.005, f"{name}: counted {base:,}"


def test_tiny_and_the_twins_cover_every_family_and_llamas_grouped_query_switch():
    """`tiny` is the Llama twin: with 2 kv heads for 4 it keeps the grouped-query path of swallow-8b (32/8)
    and the 13B Llamas' multi-head one is the paper models' own; the four twins cover the other families."""
    from recipes.architecture import FAMILIES
    twins = GROUPS["twins"]
    assert {get_model(t).facts.model_type for t in twins} == {"qwen3", "qwen2", "gemma2", "gpt2"}
    assert {get_model(t).facts.model_type for t in ("tiny", *twins)} == set(FAMILIES)
    assert all(get_model(t).cpu and get_model(t).hub_id is None for t in ("tiny", *twins))
    assert get_model("tiny-gemma2").facts.eager_only and get_model("tiny-qwen3").facts.qk_norm
    tiny, swallow = get_model("tiny").facts, get_model("swallow-8b").facts
    assert tiny.model_type == swallow.model_type == "llama"
    assert tiny.kv_heads < tiny.num_attention_heads and swallow.kv_heads < swallow.num_attention_heads


def test_a_tiny_build_from_other_facts_is_rebuilt_never_reused(tmp_path):
    """The cache is keyed by what the model is built from: a build of the old 4-kv-head `tiny` (or one
    without a build record) is replaced by the registry's shape, and a current one is reused as it is."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO
    target = tmp_path / "tiny-model"
    env = {**os.environ, "JAFT_TINY_DIR": str(target), "PYTHONPATH": str(REPO)}
    code = ("from recipes.tiny import ensure_tiny; from transformers import AutoConfig; "
            "c = AutoConfig.from_pretrained(ensure_tiny()); print(c.num_attention_heads, c.num_key_value_heads)")

    def heads():
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout.split()
    assert heads() == ["4", "2"]
    record = target / "jaft-build.json"
    stamp = record.stat().st_mtime_ns
    assert heads() == ["4", "2"] and record.stat().st_mtime_ns == stamp  # current: reused
    # an old build: 4 kv heads and no build record, as every cache made before this change
    config = json.loads((target / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**config, "num_key_value_heads": 4}))
    record.unlink()
    assert heads() == ["4", "2"] and record.is_file()


def test_every_successor_renders_all_tasks_lora_and_qlora_and_axolotl_accepts():
    """7 entries × 3 tasks × {plain, the other adapter}, each through build_recipe: Axolotl's
    validate_config, then the planner's cap check (a refused recipe raises). calm3-22b's other adapter is
    bf16 LoRA (`--variant lora`), an 80 GB card's run."""
    seen = 0
    for name in SUCCESSORS:
        m = get_model(name)
        for task in TASKS:
            for variant in (None, "lora" if m.adapter == "qlora" else "qlora"):
                spec = RunSpec.parse(name, task, "2e-4", variant)
                cfg = build_recipe(spec, cap_mb=80000 if variant == "lora" else None)
                quant = variant == "qlora" or (m.adapter == "qlora" and variant != "lora")
                assert cfg["adapter"] == ("qlora" if quant else "lora") and cfg["load_in_4bit"] is quant, spec.id
                if quant:
                    assert cfg["bnb_config_kwargs"] == {"bnb_4bit_quant_type": "nf4",
                                                        "bnb_4bit_use_double_quant": True}
                    assert cfg["bf16"] is True
                assert cfg["lora_target_modules"] == list(m.lora_targets)
                assert cfg["sequence_len"] == m.train_len
                assert cfg["attn_implementation"] == ("eager" if m.facts.eager_only else m.paper_attn)
                seen += 1
    assert seen == 42


def test_gemma2_stays_eager_even_for_the_full_variant():
    cfg = build_recipe(RunSpec.parse("gemma2-swallow-9b", "xlsum", "2e-4", "full"))
    assert cfg["attn_implementation"] == "eager" and cfg["gradient_checkpointing"] is True


@pytest.mark.parametrize("name", SUCCESSORS)
def test_train_len_is_the_planners_choice_for_the_cap(name):
    m = get_model(name)
    st = Setting(m.paper_attn, lora_r=16, lora_targets=m.lora_targets, load_in_4bit=m.adapter == "qlora")
    if m.facts.eager_only:
        st = Setting("eager", lora_r=16, lora_targets=m.lora_targets)
    assert m.train_len == min(m.native_context, longest_fit(m, st, DEFAULT_CAP_MB, step=100))
    assert m.infer_len == longest_generation_len(m, DEFAULT_CAP_MB) <= m.native_context


def test_the_inference_length_is_the_planners_for_the_cap():
    """Eval generates EVAL_BATCH prompts at once (its default --batch-size) up to the longest answer: the
    inference length is the longest prompt whose counted peak fits the cap. The same count puts the paper's
    13B models at 2.7× less than its 7B (the paper chose 1,500 and 4,096: also 2.7×)."""
    import argparse

    from eval.__main__ import add_arguments
    from recipes.memory import answer_tokens, infer_peak_mib
    from recipes.models import EVAL_BATCH
    ap = argparse.ArgumentParser()
    add_arguments("eval", ap)
    assert ap.parse_args([]).batch_size == EVAL_BATCH == 16 and answer_tokens() == 256
    qwen3 = MODELS["qwen3-8b"]
    n = longest_generation_len(qwen3, DEFAULT_CAP_MB)
    assert infer_peak_mib(qwen3, n, 256) <= DEFAULT_CAP_MB < infer_peak_mib(qwen3, n + 100, 256)
    # the KV cache follows k/v's width: grouped-query qwen3-8b generates from 7x longer prompts than the
    # multi-head 13B models, although its weights are only ~40% lighter
    assert n >= 7 * longest_generation_len(MODELS["llmjp3-13b"], DEFAULT_CAP_MB)
    # more room on a larger card, never past the native context; QLoRA's 4-bit base leaves more
    assert longest_generation_len(MODELS["llama2-7b"], 80000) == 4096
    assert longest_generation_len(qwen3, DEFAULT_CAP_MB, load_in_4bit=True) > n
    seven, thirteen = (longest_generation_len(MODELS[m], DEFAULT_CAP_MB) for m in ("llama2-7b", "llama2-13b"))
    assert 2.5 < seven / thirteen < 2.9 and 4096 / 1500 == pytest.approx(2.73, abs=0.01)
    rows = plan_rows(["qwen3-8b"], DEFAULT_CAP_MB, ("lora", "qlora"))
    assert [r["infer_len"] for r in rows] == [n, longest_generation_len(qwen3, DEFAULT_CAP_MB, load_in_4bit=True)]


def test_qlora_counts_four_bit_weights_and_is_labelled_extrapolated():
    calm2 = MODELS["calm2"]
    lora = {"lora_r": 16, "lora_targets": calm2.lora_targets}
    bf16, nf4 = frozen_bytes(calm2), frozen_bytes(calm2, True)
    assert 0.25 < nf4 / bf16 < 0.40  # linear weights at ~0.52 byte, embeddings and head still bf16
    assert not extrapolated(calm2, Setting("eager", **lora))
    assert extrapolated(calm2, Setting("eager", load_in_4bit=True, **lora))
    assert extrapolated(MODELS["qwen3-8b"], Setting("eager", **lora))
    # calm3-22b's bf16 weights (~43,000 MiB) leave under 100 tokens for LoRA without checkpointing under the cap:
    # its plain recipe is QLoRA, whose weights take less than half
    calm3 = MODELS["calm3-22b"]
    sdpa = Setting("sdpa", lora_r=16, lora_targets=calm3.lora_targets)
    assert longest_fit(calm3, sdpa, DEFAULT_CAP_MB, step=100) == 0
    assert frozen_bytes(calm3) / MIB > 40000 > 2 * frozen_bytes(calm3, True) / MIB


def test_plan_rows_cover_lora_and_qlora_with_base_params():
    """Every model × {LoRA, QLoRA}: calm3-22b, whose plain recipe is QLoRA, has its bf16 LoRA row too
    (`--variant lora`), and at 80,000 MB the planner says it trains."""
    rows = plan_rows(["calm2", "calm3-22b"], DEFAULT_CAP_MB, ("lora", "qlora"))
    assert [(r["model"], r["adapter"], r["variant"]) for r in rows] == [
        ("calm2", "lora", None), ("calm2", "qlora", "qlora"),
        ("calm3-22b", "lora", "lora"), ("calm3-22b", "qlora", None)]
    assert [r["extrapolated"] for r in rows] == [False, True, True, True]
    assert all(isinstance(r["base_params"], int) for r in rows)
    (lora,) = plan_rows(["calm3-22b"], 80000, ("lora",))
    assert lora["longest"]["SDPA, no GC"] >= lora["paper_len"] and lora["paper_peak_mib"] <= 80000


def test_plan_of_one_adapter_is_a_table_or_one_line(tmp_path, monkeypatch):
    table = cli("recipes", "plan", "calm3-22b", "--adapter", "lora", cwd=tmp_path, check=True).stdout
    assert "| calm3-22b (LoRA) § | 16,384 |" in table and "`--variant lora`" in table
    out = cli("recipes", "plan", "calm3-22b", "--adapter", "lora", "--json", cwd=tmp_path, check=True).stdout
    rows = json.loads(out)
    assert [(r["adapter"], r["variant"]) for r in rows] == [("lora", "lora")]
    # nothing to show is one line, never an empty table with exit 0
    from jaft.cli import parser
    from jaft.common import UsageError
    from recipes import plan
    monkeypatch.setattr(plan, "plan_rows", lambda *a, **k: [])
    argv = ["plan", "calm3-22b", "--adapter", "lora"]
    with pytest.raises(UsageError, match="nothing to plan for calm3-22b"):
        plan.run_verb("plan", parser(argv=argv).parse_args(argv))


def test_a_variant_that_is_the_plain_recipe_is_refused_in_one_line(tmp_path):
    """calm3-22b's plain recipe is QLoRA: `--variant qlora` would write the same recipe under a second run
    id. `--variant lora` gives its bf16 LoRA run (and is refused where the plain recipe is already LoRA)."""
    proc = cli("recipes", "render", "calm3-22b", "marc", "2e-4", "--variant", "qlora", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "error: calm3-22b's plain recipe is already QLoRA (adapter: qlora in its registry entry): drop --variant "
        "qlora; its run is calm3-22b-marc-lr2e-4")
    proc = cli("recipes", "render", "calm2", "marc", "2e-4", "--variant", "lora", cwd=tmp_path)
    assert proc.returncode == 2 and "calm2's plain recipe is already LoRA" in proc.stderr
    assert not (tmp_path / "runs").exists()
    spec = RunSpec.parse("calm3-22b", "marc", "2e-4", "lora")
    cfg = build_recipe(spec, cap_mb=80000, axolotl_check=False)
    assert spec.id == "calm3-22b-marc-lr2e-4-lora" and not spec.load_in_4bit
    assert (cfg["adapter"], cfg["load_in_4bit"]) == ("lora", False)
    from recipes.runs import parse_run_id
    assert parse_run_id(spec.id)["variant"] == "lora" and parse_run_id("calm2-marc-lr2e-4-qlora")["variant"] == "qlora"


def test_train_says_a_setting_never_fits_before_asking_for_data(tmp_path):
    """`just train` in a folder without data: a cap the setting can never fit is said first (arithmetic),
    not `run just data marc first`, which would send the user to download data for a run that cannot train."""
    proc = cli("recipes", "train", "qwen3-8b", "marc", "2e-4", "--cap-mb", "16000", cwd=tmp_path)
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert proc.returncode == 2 and "over the 16,000 MB cap" in line and "--variant qlora" in line, line
    assert not (tmp_path / "runs").exists()
    proc = cli("recipes", "train", "qwen3-8b", "marc", "2e-4", cwd=tmp_path)   # it fits: now the data
    assert proc.returncode == 2 and "data/marc/train.jsonl not found" in proc.stderr, proc.stderr[-500:]


@pytest.mark.parametrize("args, advice", [
    # bf16 weights (15.6 GB) leave nothing under 16,000 MB; QLoRA with SDPA + checkpointing fits 1,400 tokens
    ([], "what fits: --variant qlora --set attn_implementation=sdpa --set gradient_checkpointing=true "
         "(1,400 tokens"),
    (["--variant", "full"], "what fits: --variant qlora --set attn_implementation=sdpa --set "
                            "gradient_checkpointing=true (1,400 tokens"),
    (["--variant", "qlora"], "what fits: --variant qlora --set attn_implementation=sdpa"),
])
def test_a_refusal_names_what_fits_never_the_variant_chosen(tmp_path, args, advice):
    """On a 16,000 MB cap the advice is the planner's: a recipe predicted to fit (QLoRA included), not
    `--variant full` again (which needs ~36,000 MiB at qwen3-8b's native 32,768 tokens)."""
    proc = cli("recipes", "render", "qwen3-8b", "marc", "2e-4", "--cap-mb", "16000", *args, cwd=tmp_path)
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert proc.returncode == 2 and advice in line, line
    chosen = ("--variant " + args[1] + " (") if args else "without --variant ("
    assert chosen not in line and "--variant full uses" not in line
    from recipes.memory import what_fits
    from recipes.render import apply_overrides, recipe_dict
    spec = RunSpec.parse("calm2", "marc", "2e-4")

    def build(other, sets):
        return apply_overrides(recipe_dict(other, cap_mb=30000), list(sets))
    # calm2 at 30,000 MB: its eager recipe fits 1,100 tokens; full, SDPA+GC and QLoRA fit at full length
    assert what_fits(spec, build).startswith("what fits: --variant full (4,096 tokens, ~16,291 MiB); --set "
                                             "attn_implementation=sdpa --set gradient_checkpointing=true (1,700")
    tiny_cap = what_fits(spec, lambda o, s: {**build(o, s), "vram_cap_mb": 3000})
    assert "no recipe of calm2 fits a 3,000 MB cap" in tiny_cap


def test_gemma2_refuses_any_attention_but_eager_in_one_line(tmp_path):
    for sets in (["attn_implementation=sdpa"], ["attn_implementation=null", "sdp_attention=true"]):
        proc = cli("recipes", "render", "gemma2-swallow-9b", "marc", "2e-4", "--force",
                   *[a for x in sets for a in ("--set", x)], cwd=tmp_path)
        assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
            "error: gemma2-swallow-9b (gemma2) trains with attn_implementation eager only: its attention "
            "soft-capping (attn_logit_softcapping 50) is computed by the eager path alone, and sdpa would drop "
            "it; the valid value is eager"), sets
    assert not (tmp_path / "runs").exists()
    cfg = build_recipe(RunSpec.parse("gemma2-swallow-9b", "marc", "2e-4"), overrides=["attn_implementation=eager"],
                       axolotl_check=False)
    assert cfg["attn_implementation"] == "eager"


def test_plan_cli_labels_extrapolated_and_gives_base_params(tmp_path):
    out = cli("recipes", "plan", "qwen3-8b", "--json", cwd=tmp_path, check=True)
    rows = json.loads(out.stdout)
    assert [r["adapter"] for r in rows] == ["lora", "qlora"] and all(r["extrapolated"] for r in rows)
    assert rows[0]["base_params"] == weight_counts(MODELS["qwen3-8b"], 16, MODELS["qwen3-8b"].lora_targets)[0]
    table = cli("recipes", "plan", "successors", "--cap-mb", "24000", cwd=tmp_path, check=True).stdout
    assert "| gemma2-swallow-9b ‡ |" in table and "| calm3-22b (QLoRA) |" in table and "extrapolated" in table


def test_lora_over_the_cap_by_weights_alone_suggests_qlora(tmp_path):
    proc = cli("recipes", "render", "llama2-13b", "marc", "2e-4", "--cap-mb", "24000", cwd=tmp_path)
    assert proc.returncode == 2 and "frozen bf16 weights alone" in proc.stderr and "--variant qlora" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1
    assert not (tmp_path / "runs").exists()
    ok = cli("recipes", "render", "llama2-13b", "marc", "2e-4", "--variant", "qlora", "--cap-mb", "24000",
             cwd=tmp_path, check=True)
    assert "llama2-13b-marc-lr2e-4-qlora" in ok.stdout


def test_sweep_expands_the_successors_group(tmp_path):
    out = cli("pipeline", "sweep", "--models", "successors", "--tasks", "marc", "--lrs", "2e-4", "--dry-run",
              cwd=tmp_path, check=True)
    text = out.stdout + out.stderr
    assert all(f"{name}-marc-lr2e-4" in text for name in SUCCESSORS) and "7 runs" in text


def test_successors_with_results_are_rows_outside_the_paper_with_their_own_lengths(tmp_path):
    from tests.report_fixtures import write_scores
    runs = tmp_path / "runs"
    for name, value in (("calm3-22b", 0.31), ("qwen3-8b", 0.33)):
        write_scores(runs, name, "xlsum", "2e-4", {"rouge1": value, "rouge2": 0.1, "rougeL": 0.2})
        write_scores(runs, name, "marc", "2e-4", {"accuracy": 0.9})
    out = tmp_path / "reports"
    cli("report", "--runs", str(runs), "--out", str(out), "--no-plots", cwd=tmp_path, check=True)
    rows = [line for line in (out / "table6.md").read_text().splitlines() if line.startswith("| Q") or
            line.startswith("| CALM3")]
    assert rows[0].startswith("| Qwen3 8B | 1,400 | 8,100 | **0.3300** |")  # registry order, own lengths
    assert rows[1].startswith("| CALM3 22B | 1,800 | 1,400 | 0.3100 |")
    assert "| Qwen3 8B |" in (out / "table3.md").read_text()


def test_what_fits_page_is_the_plan_commands_output():
    """docs/what-fits.md shows `just plan --cap-mb N` for 16, 24, 48 and 80 GB cards, as the command prints it,
    at caps under those cards' nvidia-smi totals (less room for the CUDA context), and lists no card that
    cannot train in bf16 (QLoRA recipes say bf16: true; Axolotl fails it before Ampere)."""
    from recipes.plan import ADAPTERS, CARD_CAPS_MB, GPU_MODELS, show
    from tests.conftest import REPO
    page = (REPO / "docs" / "what-fits.md").read_text(encoding="utf-8")
    assert f"for cap in {' '.join(map(str, CARD_CAPS_MB))}; do just plan --cap-mb $cap; done" in page
    smallest_total_mib = {15000: 16376, 22000: 23028, 45000: 46068, 80000: 81559}  # per card class
    for cap in CARD_CAPS_MB:
        assert cap + 1000 <= smallest_total_mib[cap]
        assert show(plan_rows(GPU_MODELS, cap, ADAPTERS), cap) in page, f"regenerate the {cap} MB table"
    headings = [line for line in page.splitlines() if line.startswith("## ") and " GB" in line]
    assert len(headings) == 4 and not any(old in h for h in headings for old in ("T4", "V100", "P100", "RTX 20"))


@pytest.mark.parametrize("twin", ("tiny", *GROUPS["twins"]))
def test_twin_keeps_its_familys_switches_and_token_conventions(twin):
    """Built locally (once, into .cache/): the config has the switches of the entry, the tokenizer the
    family's BOS/EOS/pad conventions, and the parameter count is the planner's."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from recipes.tiny import ensure_tiny
    path, a = ensure_tiny(twin), get_model(twin).facts
    config, tok = AutoConfig.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    assert config.model_type == a.model_type and config.tie_word_embeddings == a.tie_word_embeddings
    with torch.device("meta"):
        net = AutoModelForCausalLM.from_config(config)
    assert sum(p.numel() for p in net.parameters()) == weight_counts(get_model(twin), 16, ())[0]
    ids = tok("### Response:\npositive")["input_ids"]
    if a.model_type == "gpt2":
        assert config.n_head == 4 and tok.eos_token == "<EOD|LLM-jp>" and ids[0] != tok.bos_token_id
    else:
        assert (config.num_attention_heads, config.num_key_value_heads) == (4, 2)
        head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        assert head == a.head_size
    if a.model_type == "llama":  # tiny: Llama's grouped-query attention, <s> in front
        assert config.model_type == "llama" and ids[0] == tok.bos_token_id and tok.bos_token == "<s>"
    if a.model_type in ("qwen2", "qwen3"):
        assert tok.bos_token is None and tok.pad_token == tok.eos_token == "<|endoftext|>"
    if a.model_type == "gemma2":
        assert ids[0] == tok.bos_token_id and tok.pad_token == "<pad>" and tok.eos_token == "<eos>"
        caps = (config.attn_logit_softcapping, config.final_logit_softcapping, config.sliding_window)
        assert caps == (50.0, 30.0, 32)


def test_activations_count_grouped_query_and_wider_q_widths_and_leave_the_paper_models_alone():
    """The fit counts every per-layer activation at hidden width, which is right for the anchors' multi-head
    models only. The attention's other widths are counted from the code: zero for the paper models (whose
    predictions stay exactly as calibrated), narrower k/v under SDPA for grouped-query attention, a wider q
    for Gemma-2, and Qwen3's q/k norms."""
    from dataclasses import replace

    from recipes.memory import anchor_rows, attention_width_bytes, calibration, fit, fixed_bytes, peak_mib
    from recipes.models import PAPER_MODELS

    def st(m, attn, **kw):
        return Setting(attn, lora_r=16, lora_targets=MODELS[m].lora_targets, **kw)
    for name in PAPER_MODELS:
        for attn in ("eager", "sdpa"):
            for kw in ({}, {"gradient_checkpointing": True}, {"micro_batch": 2}):
                assert attention_width_bytes(MODELS[name], 4096, st(name, attn, **kw)) == 0.0
    assert fit(anchor_rows()) == pytest.approx(calibration(), rel=0, abs=0)
    # the predictions docs/memory.md and docs/what-fits.md quoted before the terms were added, to the MiB
    for name, seq, attn, mib in (("calm2", 1700, "eager", 44372), ("llama2-7b", 1700, "eager", 43288),
                                 ("llama2-13b", 1024, "sdpa", 38113), ("llmjp-13b", 1024, "sdpa", 43621)):
        assert round(peak_mib(MODELS[name], seq, st(name, attn))) == mib, name

    def as_mha(name, **facts):  # the same model counted with multi-head attention at hidden width
        m = MODELS[name]
        return replace(m, architecture=m.facts.model_copy(update=facts))
    swallow, mha = MODELS["swallow-8b"], as_mha("swallow-8b", num_key_value_heads=None)
    L, h, kv = 32, 4096, 8 * 128
    sdpa = st("swallow-8b", "sdpa")
    # SDPA at micro-batch 1 keeps k and v at their own width: 2 × 2 bytes × (4,096 - 1,024) less per token-layer
    def activations(m, seq, setting):  # the prediction less the weights (which GQA makes smaller too)
        return peak_mib(m, seq, setting) * MIB - fixed_bytes(m, setting)
    assert activations(mha, 2000, sdpa) - activations(swallow, 2000, sdpa) == pytest.approx(4 * (h - kv) * 2000 * L)
    # eager repeats k and v to q's width: no saving; nor with a mask (micro-batch 2)
    for setting in (st("swallow-8b", "eager"), st("swallow-8b", "sdpa", micro_batch=2)):
        assert activations(mha, 2000, setting) == pytest.approx(activations(swallow, 2000, setting))
    # Gemma-2's q is 16 × 256 = 4,096 wide on a 3,584 hidden size: 9 bytes per extra element and token-layer
    gemma = MODELS["gemma2-swallow-9b"]
    narrow = as_mha("gemma2-swallow-9b", head_dim=None, num_key_value_heads=None)
    eager = st("gemma2-swallow-9b", "eager")
    assert activations(gemma, 1200, eager) - activations(narrow, 1200, eager) == pytest.approx(9 * 512 * 1200 * 42)
    # Qwen3's q/k norms keep fp32 inputs: 4 bytes × (q + k/v width) per token and layer
    qwen3 = MODELS["qwen3-8b"]
    assert attention_width_bytes(qwen3, 1000, st("qwen3-8b", "eager")) == 4 * (4096 + 1024) * 1000 * 36


def test_eval_generates_from_gemma2_with_its_soft_capped_eager_attention():
    """transformers 5 loads Gemma-2 with SDPA unless told otherwise, and SDPA drops the attention
    soft-capping: eval would score a different model than the one trained (eager, in its recipe)."""
    from eval.generate import HFGenerator
    from recipes.tiny import ensure_tiny
    gemma = HFGenerator(str(ensure_tiny("tiny-gemma2")))
    assert gemma.base.config._attn_implementation == "eager" and gemma.base.config.attn_logit_softcapping == 50.0
    assert HFGenerator(str(ensure_tiny("tiny-qwen3"))).base.config._attn_implementation == "sdpa"
