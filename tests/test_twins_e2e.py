"""Each architecture family's tiny twin trains with real Axolotl and is evaluated on the CPU: the registry's
recipe for that family (LoRA targets, attention implementation, special tokens, the response-only loss
mask) is proven on the real trainer, not assumed. The four twins are one `just sweep` (two runs side by side,
one per core: about a minute and a half on an idle 2-core machine); each twin is then checked on its own."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from recipes.models import GROUPS, get_model
from tests.conftest import just, sample_slice

pytestmark = pytest.mark.e2e  # real Axolotl training of each twin (the `tiny_model` fixture builds `tiny`)

TWINS = GROUPS["twins"]


@pytest.fixture(scope="module")
def twins_swept(tmp_path_factory, tiny_model) -> Path:
    """A project where `just sweep --models twins --tasks marc` trained (one epoch) and evaluated each twin."""
    root = tmp_path_factory.mktemp("twins")
    sample_slice("marc", root / "src" / "marc", 24, 9)  # 6 steps, 8 scored rows (one neutral left out)
    proc = just("sweep", "--models", "twins", "--tasks", "marc", "--lrs", "2e-4", "--epochs", "1", "--limit", "8",
                "--jobs", "2", "--no-report", "--data-from", str(root / "src"), cwd=root)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root


@pytest.mark.parametrize("twin", TWINS)
def test_twin_trains_and_evaluates(twin, twins_swept, tiny_model):
    run = twins_swept / "runs" / f"{twin}-marc-lr2e-4"
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert "Plugin loaded successfully: recipes.vram_cap.VramCapPlugin" in (run / "train.log").read_text()
    recipe = (run / "recipe.yaml").read_text()
    assert yaml.safe_load(recipe)["base_model"].endswith(f"{twin}-model")  # the twin's own weights, built here
    # the family's own switches reached Axolotl: soft-capped attention stays eager
    if get_model(twin).facts.eager_only:
        assert "attn_implementation: eager" in recipe
    scores = json.loads((run / "scores.json").read_text())
    assert scores["task"] == "marc" and len(scores["epochs"]) == 1
    epoch = scores["epochs"][0]
    assert 0.0 <= epoch["metrics"]["accuracy"] <= 1.0, epoch
    predictions = (run / "eval" / "epoch-1" / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 8 and all("raw" in json.loads(line) for line in predictions)


def test_qlora_trains_a_twin_on_the_cpu(tmp_path, tiny_model):
    """`--variant qlora`: Axolotl loads the twin's linear layers in 4-bit NF4 through bitsandbytes' CPU
    backend and trains LoRA on them; eval loads the same 4-bit base under the adapter (the GPU proof
    measures the training on a GPU)."""
    for step in (("data", "marc", "--from", str(sample_slice("marc", tmp_path / "src", 16, 5))),
                 ("train", "tiny-qwen3", "marc", "2e-4", "--variant", "qlora", "--epochs", "1"),
                 ("eval", "--limit", "4")):
        proc = just(*step, cwd=tmp_path)
        assert proc.returncode == 0, f"{step}: {proc.stderr[-3000:]}"
    run = tmp_path / "runs" / "tiny-qwen3-marc-lr2e-4-qlora"
    assert "prepare_model_for_kbit_training" in (run / "train.log").read_text()  # the base really is 4-bit
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    (checkpoint,) = run.glob("checkpoint-*")
    assert (checkpoint / "adapter_model.safetensors").is_file()
    scores = json.loads((run / "scores.json").read_text())
    assert scores["variant"] == "qlora" and [e["n"] for e in scores["epochs"]] == [4]
