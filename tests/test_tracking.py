"""Opt-in tracking: the switch and what it may record (fast), and a tiny run trained and evaluated with
`--track mlflow` whose metrics are read back with MLflow's own client (e2e)."""
from __future__ import annotations

import json
import os

import pytest

from jaft.common import UsageError
from recipes import tracking
from tests.conftest import SECRET, just, sample_slice

RUN = "runs/tiny-marc-lr2e-4"


@pytest.mark.parametrize("flag, env, want", [(None, None, None), (None, "off", None), ("", "mlflow", None),
                                             ("mlflow", None, "mlflow"), (None, "mlflow", "mlflow"),
                                             ("wandb", "off", "wandb")])
def test_off_unless_asked(monkeypatch, flag, env, want):
    if env is None:
        monkeypatch.delenv("JAFT_TRACK", raising=False)
    else:
        monkeypatch.setenv("JAFT_TRACK", env)
    assert tracking.requested(flag) == want


def test_unknown_tracker_is_one_line(monkeypatch):
    monkeypatch.setenv("JAFT_TRACK", "tensorboard")
    with pytest.raises(UsageError, match="unknown tracker .* 'tensorboard'; valid: mlflow, wandb"):
        tracking.requested(None)


def test_no_credentials_recorded():
    assert tracking.public_uri("https://alice:s3cret@mlflow.example.com:5000/x") == "https://mlflow.example.com:5000/x"
    assert tracking.public_uri("sqlite:////p/mlruns/mlflow.db") == "sqlite:////p/mlruns/mlflow.db"
    # the recipe names no store: its address goes to Axolotl through the environment only
    assert tracking.recipe_keys("mlflow", "r") == {"use_mlflow": True, "mlflow_run_name": "r"}
    assert tracking.recipe_keys(None, "r") == {}


@pytest.mark.parametrize("env, want", [({"JAFT_WANDB_MODE": "offline", "WANDB_MODE": "disabled"}, "offline"),
                                       ({"JAFT_WANDB_MODE": "", "WANDB_MODE": "disabled"}, None),
                                       ({"WANDB_MODE": "offline"}, "offline")])
def test_wandb_mode_is_the_users(monkeypatch, env, want):
    """The justfile pins WANDB_MODE=disabled; --track wandb gives back the user's (or wandb's default)."""
    monkeypatch.delenv("JAFT_WANDB_MODE", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert tracking.wandb_mode() == {"WANDB_MODE": want}


@pytest.mark.e2e
def test_tracked_run_in_mlflow(tmp_path, tiny_model):
    """`just train --track mlflow` then `just eval --track mlflow`: one MLflow run in the default store
    (mlruns/ here) with the recipe as parameters, Axolotl's loss curve, jaft's metrics at step = epoch, the
    cost, the recipe and predictions as files; nothing secret in the store or the run folder."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from prompts.data import prepare
    from prompts.tasks import TASKS

    prepare(TASKS["marc"], sample_slice("marc", tmp_path / "src", 24, 8), tmp_path / "data" / "marc")
    env = {"HF_TOKEN": SECRET, "WANDB_API_KEY": SECRET, "MLFLOW_TRACKING_URI": ""}
    proc = just("train", "tiny", "marc", "2e-4", "--epochs", "1", "--track", "mlflow", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = just("eval", RUN, "--track", "mlflow", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]

    run_json = json.loads((tmp_path / RUN / "run.json").read_text())
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert run_json["tracking"]["mlflow"]["tracking_uri"] == uri
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["jaft"])
    assert len(runs) == 1 and runs.loc[0, "run_id"] == run_json["tracking"]["mlflow"]["run_id"]
    row = runs.loc[0]
    assert row["tags.mlflow.runName"] == "tiny-marc-lr2e-4" and row["params.run.model"] == "tiny"
    assert float(row["params.recipe.learning_rate"]) == 2e-4 and row["params.recipe.use_mlflow"] == "true"

    client = MlflowClient(uri)
    run_id = row["run_id"]
    scores = json.loads((tmp_path / RUN / "scores.json").read_text())
    history = client.get_metric_history(run_id, "accuracy")
    assert [(m.step, m.value) for m in history] == [(1, scores["epochs"][0]["metrics"]["accuracy"])]
    losses = [(e["epoch"], e["val_loss"]) for e in scores["epochs"] if e["val_loss"] is not None]
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "val_loss")] == losses
    assert client.get_metric_history(run_id, "loss") or client.get_metric_history(run_id, "train_loss")  # Axolotl's
    assert client.get_metric_history(run_id, "cost.wall_s")[0].value > 0
    files = {f.path for f in client.list_artifacts(run_id)} | {f.path for f in client.list_artifacts(run_id, "eval")}
    files |= {f.path for f in client.list_artifacts(run_id, "eval/epoch-1")}
    assert {"recipe.yaml", "run.json", "scores.json", "eval/epoch-1/predictions.jsonl"} <= files

    # a second eval logs nothing twice
    proc = just("eval", RUN, "--track", "mlflow", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and len(client.get_metric_history(run_id, "accuracy")) == 1
    for root in (tmp_path / "mlruns", tmp_path / RUN):
        for path in root.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path


def test_wandb_eval_logs_offline_once(tmp_path, monkeypatch):
    """`just eval --track wandb` with WANDB_MODE=offline: jaft's metrics per epoch go into the run's W&B run
    (on disk), recorded in run.json, each epoch once; the API key in the environment is written nowhere."""
    from recipes.manifest import update

    run = tmp_path / RUN
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": "tiny-marc-lr2e-4", "model": "tiny", "task": "marc",
                                              "status": "finished"}))
    epochs = [{"epoch": 1, "metrics": {"accuracy": 0.625}, "val_loss": 2.5},
              {"epoch": 2, "metrics": {"accuracy": 0.8125}, "val_loss": 1.25}]
    (run / "scores.json").write_text(json.dumps({"run_id": "tiny-marc-lr2e-4", "model": "tiny", "task": "marc",
                                                 "lr": "2e-4", "metric": "accuracy", "epochs": epochs,
                                                 "best": epochs[1]}))
    for k, v in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_API_KEY": SECRET,
                 "WANDB_PROJECT": "jaft-test"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("JAFT_WANDB_MODE", raising=False)
    tracking.after_eval(run, "wandb", lambda **f: update(run, **f))
    rec = json.loads((run / "run.json").read_text())["tracking"]["wandb"]
    assert rec["epochs_logged"] == [1, 2] and rec["project"] == "jaft-test"
    [log] = list(tmp_path.glob(f"wandb/offline-run-*-{rec['run_id']}/run-{rec['run_id']}.wandb"))
    data = log.read_bytes()
    assert b"jaft/accuracy" in data and b"0.8125" in data and b"jaft/epoch" in data
    tracking.after_eval(run, "wandb", lambda **f: update(run, **f))  # nothing new: no second W&B run
    assert len(list(tmp_path.glob("wandb/offline-run-*"))) == 1
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_sweep_is_the_parent_of_its_runs(tmp_path, monkeypatch):
    """`just sweep --track mlflow`: one sweep run; each run it trains is its child (mlflow.parentRunId), in
    the same store, through the settings the sweep's steps are given (Settings.environ, no JAFT_* written into
    this process's environment)."""
    from mlflow.tracking import MlflowClient

    from jaft import settings

    uri = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    held = tracking.start_sweep("mlflow", "sweep-test")
    parent = held.mlflow_parent
    assert parent and not any(k.startswith("JAFT_") and k != "JAFT_TINY_DIR" for k in os.environ)
    env = held.environ()
    assert env["JAFT_TRACK"] == "mlflow" and env["JAFT_MLFLOW_PARENT_RUN_ID"] == parent
    child = settings.from_environ(env)  # what a step reads
    assert child.track == "mlflow" and child.mlflow_parent == parent
    run_dir = tmp_path / RUN
    cfg = {"learning_rate": 2e-4, "lora_target_modules": ["q_proj"], "plugins": ["x"]}
    with settings.use(child):
        assert tracking.requested(None) == "mlflow"
        env, record = tracking.start_train(run_dir, {"run_id": "tiny-marc-lr2e-4", "model": "tiny"}, cfg, "mlflow")
    assert env == {"MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": record["mlflow"]["run_id"]}
    tracking.end_sweep(parent, failed=0)
    client = MlflowClient(uri)
    child_run = client.get_run(record["mlflow"]["run_id"])
    assert child_run.data.tags["mlflow.parentRunId"] == parent
    assert (child_run.data.params["recipe.lora_target_modules"] == '["q_proj"]'
            and "recipe.plugins" not in child_run.data.params)
    assert client.get_run(parent).info.status == "FINISHED"


def test_unreachable_store_is_one_line_before_training(fake_axolotl, monkeypatch):
    """A store MLflow cannot use stops `just train --track mlflow` before Axolotl starts, in one line, and the
    run says why (the next `just train` starts it again)."""
    from recipes import read_manifest
    from recipes.runs import RunSpec

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://store")
    spec = RunSpec.parse("tiny", "marc", "2e-4")
    with pytest.raises(UsageError, match=r"^tiny-marc-lr2e-4: --track mlflow: \w+"):
        fake_axolotl(spec, epochs=1, track="mlflow")
    state = read_manifest(spec.dir)
    assert state["status"] == "failed" and state["error"].startswith("--track mlflow") and "tracking" not in state
