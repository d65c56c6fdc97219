"""End to end: `just train tiny marc 2e-4` runs real Axolotl on the bundled samples (CPU, ~40 s), and at the
paper's default of 10 epochs on a handful of rows, through `just eval`."""
from __future__ import annotations

import json

import pytest
import yaml

from jaft.common import atomic_write_jsonl
from recipes.manifest import checkpoints
from tests.conftest import SECRET, TRAINED_ROWS, copy_project, just

RUN = "runs/tiny-marc-lr2e-4"

pytestmark = pytest.mark.e2e  # real Axolotl training on the tiny model


def test_one_adapter_checkpoint_per_epoch(trained):
    run = trained / RUN
    found = checkpoints(run)
    assert [epoch for epoch, _ in found] == [1, 2]
    for _, path in found:
        assert (path / "adapter_model.safetensors").stat().st_size > 0
        assert json.loads((path / "adapter_config.json").read_text())["r"] == 16
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["status"] == "finished" and manifest["epochs_saved"] == 2
    prepared = (trained / "data" / "marc" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert 0 < len(prepared) <= TRAINED_ROWS  # MARC-ja's neutral rows are left out when data is prepared
    assert manifest["rows"]["train"] == {"rows": len(prepared), "shortened": 0, "dropped": 0}
    assert manifest["versions"]["axolotl"] == "0.19.0" and len(manifest["prompt_template_sha256"]) == 16
    cfg = yaml.safe_load((run / "recipe.yaml").read_text())
    assert cfg["num_epochs"] == 2 and cfg["lora_mlp_kernel"] is False
    log = (run / "train.log").read_text()
    assert "jaft vram cap: no CUDA device" in log  # the cap plugin was loaded by Axolotl from the recipe


def test_finished_run_is_refused_without_force(trained, tmp_path):
    project = copy_project(trained, tmp_path / "p")
    before = sorted(p.name for p in (project / RUN).iterdir())
    proc = just("train", "tiny", "marc", "2e-4", "--epochs", "2", cwd=project)
    assert proc.returncode == 2 and "already finished" in proc.stderr and "--force" in proc.stderr
    assert sorted(p.name for p in (project / RUN).iterdir()) == before


def test_private_by_default(trained):
    """Tokens in the environment never reach the run folder; telemetry and trackers are off."""
    run = trained / RUN
    for path in run.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    cfg = yaml.safe_load((run / "recipe.yaml").read_text())
    assert cfg["use_wandb"] is False and cfg["use_mlflow"] is False and cfg["trust_remote_code"] is False
    from recipes.train import private_env
    assert private_env()["AXOLOTL_DO_NOT_TRACK"] == "1" and private_env()["WANDB_MODE"] == "disabled"


# Hub-schema MARC-ja rows (label 0 positive, 1 negative). Six training rows do not fill the tiny recipe's
# batches of 4, so every epoch ends on a short batch: the case where Axolotl's step estimate
# (ceil(6 × 10 / 4) = 15 steps) stopped training in epoch 8 and left 8 checkpoints.
TEN_EPOCH_TRAIN = [
    ("この靴は履きやすくて気に入っています。", 0), ("すぐに壊れました。買わなければよかった。", 1),
    ("音がきれいで毎日使っています。", 0), ("説明と違う商品が届き、がっかりです。", 1),
    ("値段の割に丈夫で長持ちします。", 0), ("匂いがきつくて使えませんでした。", 1),
]
TEN_EPOCH_VALIDATION = [("とても便利で家族も喜んでいます。", 0), ("二日で動かなくなりました。", 1),
                        ("デザインが素敵で大満足です。", 0), ("期待外れで返品しました。", 1)]


@pytest.fixture(scope="module")
def ten_epochs(tmp_path_factory, tiny_model):
    """`just train tiny marc 2e-4` with no --epochs (the paper's 10) on 6 rows, then `just eval`."""
    from prompts.data import prepare
    from prompts.tasks import TASKS
    root = tmp_path_factory.mktemp("ten-epochs")
    for split, rows in (("train", TEN_EPOCH_TRAIN), ("validation", TEN_EPOCH_VALIDATION)):
        atomic_write_jsonl(root / "hub" / f"{split}.jsonl",
                           [{"sentence": text, "label": label, "review_id": f"{split}-{i}"}
                            for i, (text, label) in enumerate(rows)])
    prepare(TASKS["marc"], root / "hub", root / "data" / "marc")
    train = just("train", "tiny", "marc", "2e-4", cwd=root)
    assert train.returncode == 0, train.stderr[-3000:]
    evaluate = just("eval", cwd=root)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    return root / RUN


def test_paper_default_keeps_ten_whole_epochs(ten_epochs):
    found = checkpoints(ten_epochs)
    assert [epoch for epoch, _ in found] == list(range(1, 11))
    manifest = json.loads((ten_epochs / "run.json").read_text())
    assert manifest["status"] == "finished" and manifest["epochs_saved"] == 10 and manifest["num_epochs"] == 10
    assert manifest["rows"]["train"]["rows"] == 6
    recipe = (ten_epochs / "recipe.yaml").read_text()
    assert "--epochs" not in recipe.splitlines()[0]  # the paper's default, not an override
    cfg = yaml.safe_load(recipe)
    assert cfg["num_epochs"] == 10 and cfg["save_total_limit"] == 10
    # Whole epochs: 2 optimizer steps each (batches of 4 and 2), none cut short, one checkpoint per epoch.
    for epoch, path in found:
        state = json.loads((path / "trainer_state.json").read_text())
        assert (state["epoch"], state["global_step"]) == (float(epoch), 2 * epoch), path.name
    history = json.loads((found[-1][1] / "trainer_state.json").read_text())["log_history"]
    assert [h["epoch"] for h in history if "eval_loss" in h] == [0.0] + [float(e) for e in range(1, 11)]


def test_eval_scores_all_ten_epochs(ten_epochs):
    scores = json.loads((ten_epochs / "scores.json").read_text())
    assert [e["epoch"] for e in scores["epochs"]] == list(range(1, 11))
    assert all(e["n"] == 4 and e["val_loss"] > 0 for e in scores["epochs"])
    for epoch in range(1, 11):
        rows = (ten_epochs / "eval" / f"epoch-{epoch}" / "predictions.jsonl").read_text().splitlines()
        assert len(rows) == 4
    assert 1 <= scores["best"]["epoch"] <= 10
