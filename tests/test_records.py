"""Runs and records (issue 24, items 6-13, 18, 20): nothing lost, nothing mixed, round 3.

Each test reproduces one case of the issue with real processes and real files; Axolotl and the model are
replaced by stand-ins where the case is about jaft's own records (tests/test_safety.py shows the pattern).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from recipes.manifest import checkpoints
from tests.conftest import cli
from tests.safety_fixtures import fake_checkpoint, fake_finished_run


def one_line_error(proc) -> str:
    """The error line of a refused command; no traceback anywhere."""
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-2000:]
    return errors[0]


# ---- item 6: a run that has trained keeps its recipe ------------------------------------------------------

def test_render_keeps_the_recipe_of_an_interrupted_run(workdir):
    run_dir = workdir / "runs" / "tiny-marc-lr2e-4"
    cli("recipes", "render", "tiny", "marc", "2e-4", "--epochs", "2", cwd=workdir, check=True)
    recipe = (run_dir / "recipe.yaml").read_bytes()
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_dir.name, "status": "interrupted"}))
    fake_checkpoint(run_dir, 57, 1)
    proc = cli("recipes", "render", "tiny", "marc", "2e-4", cwd=workdir)
    assert proc.returncode == 2
    assert "run tiny-marc-lr2e-4 has checkpoints (status 'interrupted'); its recipe.yaml stays as trained" \
        in one_line_error(proc)
    assert (run_dir / "recipe.yaml").read_bytes() == recipe
    cli("recipes", "render", "tiny", "marc", "2e-4", "--force", cwd=workdir, check=True)  # asked for: rewritten
    assert (run_dir / "recipe.yaml").read_bytes() != recipe


# ---- item 8: a damaged trainer_state.json is that run's problem -------------------------------------------

@pytest.mark.parametrize("damage", ["epoch NaN", "history without epoch"])
def test_odd_trainer_state_is_one_line_and_other_runs_go_on(tmp_path, damage):
    runs = tmp_path / "runs"
    odd = fake_finished_run(runs, lr="2e-4", epochs=2, scored=damage == "history without epoch")
    state = odd / "checkpoint-114" / "trainer_state.json"
    if damage == "epoch NaN":
        state.write_text('{"epoch": NaN, "log_history": []}')
    else:
        s = json.loads(state.read_text())
        s["log_history"].append({"eval_loss": 0.5, "step": 3})
        state.write_text(json.dumps(s))
        (odd / "scores.json").unlink()  # the run's scores are made again from its epochs (val losses read)
    fine = fake_finished_run(runs, lr="5e-5", scored=True)
    proc = cli("eval", "eval", cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"{fine.name}: up to date" in proc.stderr
    if damage == "epoch NaN":
        assert proc.returncode == 2
        assert "checkpoint-114: damaged trainer_state.json (epoch nan)" in one_line_error(proc)
    else:
        assert proc.returncode == 0, proc.stderr[-2000:]
        scores = json.loads((odd / "scores.json").read_text())
        assert [(e["epoch"], e["val_loss"]) for e in scores["epochs"]] == [(1, 2.0), (2, 1.0)]


def test_train_sets_aside_a_checkpoint_whose_epoch_is_nan(workdir, monkeypatch, capsys):
    import recipes.train as train_mod
    from recipes.runs import RunSpec
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(train_mod, "axolotl_command", lambda recipe: [sys.executable, "-c", "pass"])
    spec = RunSpec.parse("tiny", "marc", "2e-4")
    assert train_mod.train(spec, epochs=2) == 1  # the stand-in saves nothing: "only 0 of 2 epochs saved"
    ck = fake_checkpoint(spec.dir, 57, 1)
    (ck / "trainer_state.json").write_text('{"epoch": NaN}')
    assert checkpoints(spec.dir) == []
    assert train_mod.train(spec, epochs=2) == 1
    assert "checkpoint-57 is an incomplete save (damaged trainer_state.json (epoch nan))" in capsys.readouterr().err
