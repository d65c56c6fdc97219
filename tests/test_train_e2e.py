"""End to end: `just train tiny marc 2e-4` runs real Axolotl on the bundled samples (CPU, ~40 s)."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from recipes.manifest import checkpoints
from tests.conftest import SECRET, copy_project, just

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
    assert manifest["rows"]["train"] == {"rows": 226, "shortened": 0, "dropped": 0}
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


def test_interrupted_run_resumes_from_last_checkpoint(trained, tmp_path):
    project = copy_project(trained, tmp_path / "p")
    run = project / RUN
    (_, first), (_, last) = checkpoints(run)
    shutil.rmtree(last)  # as if killed during epoch 2
    manifest = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**manifest, "status": "running"}))
    proc = just("train", "tiny", "marc", "2e-4", "--epochs", "2", cwd=project)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(resuming)" in proc.stderr
    assert f"resume from checkpoint at {RUN}/{first.name}" in proc.stderr  # Axolotl's own log line
    assert [e for e, _ in checkpoints(run)] == [1, 2]
    assert json.loads((run / "run.json").read_text())["resumed"] is True


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
