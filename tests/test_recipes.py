"""Recipes: the paper grid rendered and accepted by Axolotl's own validate_config; names; shortening."""
from __future__ import annotations

import functools
import json
import re

import pytest
import yaml

from jaft.common import UsageError
from prompts.tasks import TASKS
from recipes.models import MODELS, parse_lr, parse_variant
from recipes.render import recipe_dict, validate, write_recipe
from recipes.runs import RunSpec, paper_grid
from prompts.fit import shorten, train_length
from tests.conftest import cli

GRID = paper_grid()


def test_grid_has_the_papers_56_runs():
    ids = [s.id for s in GRID]
    assert len(ids) == 56 == len(set(ids))
    assert "calm2-xlsum-lr2e-4-len1024" in ids and "llama2-7b-xlsum-lr1e-5-len1024" in ids
    assert not any(i.startswith("llama2-13b-xlsum") and i.endswith("len1024") for i in ids)


BY_ID = {spec.id: spec for spec in GRID}


@functools.cache
def validated_cfg(run_id: str) -> dict:
    """One paper run's recipe as Axolotl's validate_config returns it (computed once per run id)."""
    return validate(recipe_dict(BY_ID[run_id]))


@pytest.fixture(scope="module")
def validated():
    return {run_id: (spec, validated_cfg(run_id)) for run_id, spec in BY_ID.items()}


@pytest.mark.parametrize("run_id", list(BY_ID))
def test_grid_recipe_passes_axolotl_validation(run_id):
    cfg = validated_cfg(run_id)
    assert cfg["num_epochs"] == 10 and cfg["save_total_limit"] == 10
    assert cfg["load_best_model_at_end"] is False and cfg["val_set_size"] == 0.0
    assert "recipes.whole_epochs.WholeEpochsPlugin" in cfg["plugins"]


# Every number the recipe holds and the Python type a YAML 1.1 reader must give back for it.
NUMBER_TYPES = {
    "lora_r": int, "lora_alpha": int, "lora_dropout": float, "sequence_len": int, "num_epochs": int,
    "saves_per_epoch": int, "evals_per_epoch": int, "save_total_limit": int, "learning_rate": float,
    "warmup_ratio": float, "weight_decay": float, "max_grad_norm": float, "adam_beta1": float,
    "adam_beta2": float, "adam_epsilon": float, "micro_batch_size": int, "gradient_accumulation_steps": int,
    "eval_batch_size": int, "seed": int, "val_set_size": float, "vram_cap_mb": int, "logging_steps": int,
}
NUMBER_LIKE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def numbers_as_text(value, key=""):
    """(key, text) for every string in a loaded config that a reader could mistake for a number."""
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in numbers_as_text(v, f"{key}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [hit for v in value for hit in numbers_as_text(v, key)]
    return [(key, value)] if isinstance(value, str) and NUMBER_LIKE.fullmatch(value) else []


@pytest.mark.parametrize("spec", GRID, ids=[s.id for s in GRID])
def test_recipe_file_reads_back_with_the_same_numbers(spec, tmp_path, monkeypatch):
    """recipe.yaml as `just render` writes it, read back by PyYAML (what Axolotl and jaft read it with):
    5e-5 must come back as the float 5e-05, not the string '5e-05' (YAML 1.1 needs a dot in a float)."""
    monkeypatch.setenv("JAFT_RUNS", str(tmp_path))
    cfg = yaml.safe_load(write_recipe(spec, recipe_dict(spec)).read_text())
    assert type(cfg["learning_rate"]) is float and cfg["learning_rate"] == spec.learning_rate
    wrong = {key: type(cfg[key]).__name__ for key, kind in NUMBER_TYPES.items() if type(cfg[key]) is not kind}
    assert wrong == {}
    assert numbers_as_text(cfg) == []
    assert (cfg["num_epochs"], cfg["save_total_limit"], cfg["sequence_len"]) == (10, 10, spec.sequence_len)


def test_whole_epochs_plugin_hands_the_step_count_to_the_trainer():
    from axolotl.utils.dict import DictDefault

    from recipes.whole_epochs import epoch_based_args
    assert epoch_based_args(DictDefault({"num_epochs": 10})) == {"max_steps": -1}
    assert epoch_based_args(DictDefault({"num_epochs": 10, "max_steps": 100})) is None  # --set max_steps wins


@pytest.mark.parametrize("run_id, base, seq", [
    ("calm2-marc-lr2e-4", "cyberagent/calm2-7b", 1700),
    ("llama2-7b-jsquad-lr5e-5", "meta-llama/Llama-2-7b-hf", 1700),
    ("llama2-13b-xlsum-lr2e-5", "meta-llama/Llama-2-13b-hf", 1024),
    ("llmjp-13b-xlsum-lr1e-5", "llm-jp/llm-jp-13b-v1.0", 1024),
    ("calm2-xlsum-lr2e-4-len1024", "cyberagent/calm2-7b", 1024),
])
def test_values_that_matter(validated, run_id, base, seq):
    spec, cfg = validated[run_id]
    assert cfg["base_model"] == base
    assert cfg["sequence_len"] == seq
    assert cfg["learning_rate"] == pytest.approx(spec.learning_rate) and isinstance(cfg["learning_rate"], float)
    assert cfg["num_epochs"] == 10 and cfg["saves_per_epoch"] == 1
    assert cfg["train_on_inputs"] is False and cfg["adapter"] == "lora"
    assert (cfg["lora_r"], cfg["lora_alpha"], cfg["lora_dropout"]) == (16, 32, 0.05)
    assert cfg["excess_length_strategy"] == "raise"
    assert cfg["vram_cap_mb"] == 46000 and "recipes.vram_cap.VramCapPlugin" in cfg["plugins"]
    assert cfg["attn_implementation"] == ("sdpa" if "13b" in run_id else "eager")
    assert not cfg.get("gradient_checkpointing")
    assert cfg.get("trust_remote_code") is False


def test_lora_targets_per_architecture(validated):
    assert validated["llmjp-13b-marc-lr2e-4"][1]["lora_target_modules"] == ["c_attn", "c_proj", "c_fc"]
    assert set(validated["calm2-marc-lr2e-4"][1]["lora_target_modules"]) == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_full_variant_uses_native_context_sdpa_checkpointing():
    llama = validate(recipe_dict(RunSpec.parse("llama2-13b", "xlsum", "2e-4", "full")))
    assert (llama["sequence_len"], llama["attn_implementation"], llama["gradient_checkpointing"]) == (4096, "sdpa", True)  # noqa: E501
    assert llama["liger_fused_linear_cross_entropy"] is True
    gpt2 = validate(recipe_dict(RunSpec.parse("llmjp-13b", "xlsum", "2e-4", "full")))
    assert gpt2["sequence_len"] == 2048 and not gpt2.get("liger_rope")


def test_rendered_yaml_reads_back_typed(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFT_RUNS", str(tmp_path / "runs"))
    proc = cli("recipes", "render", "calm2", "xlsum", "2e-4", "--variant", "len1024", cwd=tmp_path, check=True)
    path = tmp_path / "runs" / "calm2-xlsum-lr2e-4-len1024" / "recipe.yaml"
    assert proc.stdout.strip() == str(path)
    text = path.read_text()
    assert text.startswith("# jaft run calm2-xlsum-lr2e-4-len1024: written by `just render calm2 xlsum 2e-4 --variant len1024`")  # noqa: E501
    cfg = yaml.safe_load(text)
    assert cfg["learning_rate"] == 0.0002 and cfg["sequence_len"] == 1024


@pytest.mark.parametrize("args, bad", [
    (["calm3", "marc", "2e-4"], "unknown model 'calm3'; valid: calm2, llama2-7b"),
    (["calm2", "marcja", "2e-4"], "unknown task 'marcja'; valid: marc, jsquad, xlsum"),
    (["calm2", "marc", "3e-4"], "unknown learning rate '3e-4'; valid: 2e-4, 5e-5, 2e-5, 1e-5"),
    (["calm2", "marc", "abc"], "unknown learning rate 'abc'"),
    (["calm2", "marc", "2e-4", "--variant", "long"], "unknown variant 'long'"),
])
@pytest.mark.parametrize("verb", ["render", "train"])
def test_bad_names_one_line_exit_2_nothing_written(tmp_path, verb, args, bad):
    proc = cli("recipes", verb, *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {proc.stderr.strip()[7:]}"]
    assert bad in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_lr_spellings():
    assert parse_lr("2e-4") == "2e-4" and parse_lr("0.0002") == "2e-4" and parse_lr("1E-5") == "1e-5"
    with pytest.raises(UsageError):
        parse_lr("1e-3")
    assert parse_variant("len1024") == "len1024"


def test_shorten_cuts_article_only(tiny_tokenizer):
    from prompts.data import convert
    row = {"id": "x", "title": "見出しは残る", "summary": "要約も残る。", "text": "長い本文。" * 400}
    ex = convert(TASKS["xlsum"], [("t", row)])[0][0]
    assert train_length(tiny_tokenizer, ex["prompt"], ex["response"]) > 256
    new, cut = shorten(TASKS["xlsum"], tiny_tokenizer, ex, 256)
    assert cut and train_length(tiny_tokenizer, new["prompt"], new["response"]) <= 256
    assert new["response"] == ex["response"] and "見出し:見出しは残る\n" in new["prompt"]
    assert new["prompt"].endswith('"""\nこのニュース記事を要約してください。\n要約は以下の通りです:\n"""')
    assert row["text"].startswith(new["meta"]["fields"]["text"]) and new["meta"]["cut_chars"] > 0


def test_shorten_leaves_short_rows_and_drops_impossible(tiny_tokenizer):
    from prompts.data import convert
    ex = convert(TASKS["marc"], [("t", {"sentence": "短い。", "label": 0})])[0][0]
    assert shorten(TASKS["marc"], tiny_tokenizer, ex, 512) == (ex, False)
    assert shorten(TASKS["marc"], tiny_tokenizer, ex, 5) == (None, False)


def test_registry_shapes_match_the_anchor_models():
    assert MODELS["calm2"].shape["vocab"] == 65024 and MODELS["llmjp-13b"].arch == "gpt2"
    assert all(not m.trust_remote_code for m in MODELS.values())


@pytest.mark.parametrize("config", ["zero2.json", "zero3.json"])
def test_deepspeed_configs_are_accepted(config):
    from recipes.render import HERE
    path = HERE / "deepspeed" / config
    cfg = validate(recipe_dict(RunSpec.parse("llama2-13b", "xlsum", "2e-4", "full"), deepspeed=str(path)))
    assert cfg["deepspeed"] == str(path) and json.loads(path.read_text())["zero_optimization"]["stage"] in (2, 3)


def test_out_of_memory_ends_the_run_with_the_planners_advice(workdir, monkeypatch, capsys):
    """Axolotl is replaced by a process that dies as a CUDA OOM does; the launcher's handling is real."""
    import sys

    import recipes.train as train_mod
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(train_mod, "axolotl_command", lambda recipe: [
        sys.executable, "-c", "print('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20 MiB')"
                              "; raise SystemExit(1)"])
    spec = RunSpec.parse("tiny", "marc", "2e-4")
    assert train_mod.train(spec, epochs=1) == 1
    err = capsys.readouterr().err
    assert "out of GPU memory under the 46,000 MB cap at sequence_len 512" in err
    assert "--variant full" in err and "Traceback" not in err.split("[jaft]")[-1]
    manifest = json.loads((workdir / "runs" / spec.id / "run.json").read_text())
    assert manifest["status"] == "failed" and "46,000 MB cap" in manifest["error"]


def test_train_with_missing_data_writes_nothing(tmp_path):
    proc = cli("recipes", "train", "tiny", "jsquad", "2e-4", cwd=tmp_path)
    assert proc.returncode == 2 and "data/jsquad/train.jsonl not found; run `just data jsquad` first" in proc.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args", [
    ("recipes", "train", "tiny", "marc", "2e-4", "--cap-mb", "0"),
    ("recipes", "render", "tiny", "marc", "2e-4", "--epochs", "0"),
    ("eval", "eval", "--limit", "0"),
    ("eval", "eval", "--batch-size", "0"),
    ("pipeline", "sweep", "--jobs", "0"),
    ("pipeline", "sweep", "--gpus", "a,b", "--dry-run"),
])
def test_non_positive_numbers_are_one_line_errors(tmp_path, args):
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_rows_fit_the_recipes_sequence_len_after_set(workdir, monkeypatch, tiny_tokenizer):
    """`--set sequence_len=N` must shorten rows to N, or Axolotl (excess_length_strategy: raise) refuses them."""
    import sys

    import recipes.train as train_mod
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(train_mod, "axolotl_command", lambda recipe: [sys.executable, "-c", "pass"])
    spec = RunSpec.parse("tiny", "xlsum", "2e-4")
    train_mod.train(spec, epochs=1, overrides=["sequence_len=200"])
    rows = [json.loads(l) for l in (workdir / "runs" / spec.id / "data" / "train.jsonl").read_text().splitlines()]
    assert max(train_length(tiny_tokenizer, r["prompt"], r["response"]) for r in rows) <= 200
    manifest = json.loads((workdir / "runs" / spec.id / "run.json").read_text())
    assert manifest["sequence_len"] == 200 and manifest["rows"]["train"]["shortened"] > 0
