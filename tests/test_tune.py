"""`just tune` without training: the tuning split, trial run ids and recipes, the epoch gate and pruning
(a stand-in trainer that waits at the gate as the Axolotl plugin does), killed trials, tune.md, the tuned
cell of the tables."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from jaft.common import UsageError
from prompts.data import load_split
from prompts.tasks import TASKS
from tests.conftest import REPO
from tests.report_fixtures import write_scores


def test_tuning_split_is_deterministic_by_seed_and_disjoint(workdir, monkeypatch):
    from pipeline.tune_split import carve_into, tune_size
    monkeypatch.setenv("JAFT_DATA", str(workdir / "data"))
    task = TASKS["marc"]
    a = carve_into(task, workdir / "data" / "marc", workdir / "s42" / "marc", None, 42)
    again = carve_into(task, workdir / "data" / "marc", workdir / "s42b" / "marc", None, 42)
    other = carve_into(task, workdir / "data" / "marc", workdir / "s7" / "marc", None, 7)
    n = len(load_split("marc", "train"))
    assert a["rows"] == tune_size(n) == n // 10
    assert a["tuning_ids"] == again["tuning_ids"] and set(a["tuning_ids"]) != set(other["tuning_ids"])
    trial_train = {json.loads(x)["id"] for x in (workdir / "s42" / "marc" / "train.jsonl").open()}
    tuning = {json.loads(x)["id"] for x in (workdir / "s42" / "marc" / "validation.jsonl").open()}
    dev = {r["id"] for r in load_split("marc", "validation")}
    assert tuning == set(a["tuning_ids"]) and not tuning & trial_train and not tuning & dev
    assert len(trial_train) + len(tuning) == n
    # A study keeps its split: the same folder with another seed is refused, naming both.
    with pytest.raises(UsageError, match="seed 42"):
        carve_into(task, workdir / "data" / "marc", workdir / "s42" / "marc", None, 7)


def test_tune_size_defaults_and_limits():
    from pipeline.tune_split import tune_size
    assert (tune_size(226), tune_size(9), tune_size(5000), tune_size(100_000)) == (22, 1, 500, 500)
    assert tune_size(226, 8) == 8
    with pytest.raises(UsageError, match="--tune-rows 226"):
        tune_size(226, 226)


def test_trial_run_ids_and_recipes(workdir, monkeypatch):
    from recipes.render import recipe_dict
    from recipes.runs import RunSpec
    monkeypatch.chdir(workdir)
    spec = RunSpec.parse("tiny", "marc", "3.1623e-5", trial=3)
    assert (spec.id, spec.lr, spec.learning_rate) == ("tiny-marc-tune-3", "3.16e-05", 3.16e-05)
    assert RunSpec.parse("tiny", "marc", "2e-4").id == "tiny-marc-lr2e-4"  # the grid's ids are unchanged
    with pytest.raises(UsageError, match="unknown learning rate '3e-5'"):
        RunSpec.parse("tiny", "marc", "3e-5")
    with pytest.raises(UsageError, match="bad trial learning rate"):
        RunSpec.parse("tiny", "marc", "fast", trial=1)
    trial = recipe_dict(spec, base_model="x")
    grid = recipe_dict(RunSpec.parse("tiny", "marc", "2e-4"), base_model="x")
    assert "recipes.epoch_gate.EpochGatePlugin" in trial["plugins"] and trial["learning_rate"] == 3.16e-05
    assert trial["epoch_gate_dir"].endswith("tiny-marc-tune-3/tune-gate")
    assert "epoch_gate_dir" not in grid and "recipes.epoch_gate.EpochGatePlugin" not in grid["plugins"]


def test_report_parses_trial_ids():
    from recipes.runs import parse_run_id, run_id
    m = parse_run_id("calm2-marc-tune-3")
    assert (m["model"], m["task"], m["trial"], m["lr"]) == ("calm2", "marc", 3, None)
    assert parse_run_id("calm2-marc-lr2e-4-s43")["seed"] == 43
    assert parse_run_id(run_id("calm2", "marc", "2e-4", "qlora", 43, 5)) == {
        "model": "calm2", "task": "marc", "lr": None, "trial": 5, "variant": "qlora", "seed": 43}


# A stand-in for Axolotl with the epoch gate: saves a checkpoint per epoch, then waits for the verdict.
FAKE_TRAINER = """
import json, pathlib, sys
from recipes.gate import wait_verdict
run, epochs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
for k in range(1, epochs + 1):
    ck = run / f"checkpoint-{k}"
    ck.mkdir(parents=True)
    (ck / "adapter_model.safetensors").write_bytes(b"w")
    (ck / "trainer_state.json").write_text(json.dumps({"epoch": k}))
    if wait_verdict(run / "tune-gate", k, poll_s=0.05)["stop"]:
        break
"""
SCORES = {"tiny-marc-tune-0": {1: 0.9, 2: 0.95}, "tiny-marc-tune-1": {1: 0.8, 2: 0.85},
          "tiny-marc-tune-2": {1: 0.1, 2: 0.99}}


@pytest.fixture
def fake_study(tmp_path, monkeypatch):
    import pipeline.trial as trial_mod
    from pipeline.trial import Objective, StudyConfig
    monkeypatch.setattr(trial_mod, "POLL_S", 0.05)
    monkeypatch.setattr(trial_mod, "train_command",
                        lambda cfg, spec, rank: [sys.executable, "-c", FAKE_TRAINER,
                                                 str(Path(cfg.dir) / spec.id), str(cfg.epochs)])
    monkeypatch.setattr(Objective, "_score", lambda self, run_dir, epoch: (SCORES[run_dir.name][epoch], None))
    cfg = StudyConfig(model="tiny", task="marc", dir=str(tmp_path / "tiny-marc-tune"), epochs=2, lr_min=1e-6,
                      lr_max=1e-3, seed=42)
    return cfg, Objective(cfg, env={"PYTHONPATH": str(REPO)})


def test_a_pruned_trial_stops_training_and_is_recorded_pruned(fake_study):
    from optuna.trial import TrialState
    from pipeline.trial import TrialFailed
    from pipeline.tune import open_study
    cfg, objective = fake_study
    study = open_study(cfg)
    study.optimize(objective, n_trials=3, catch=(TrialFailed,))
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert [t.intermediate_values for t in study.trials] == [SCORES[f"tiny-marc-tune-{i}"] if i < 2 else {1: 0.1}
                                                              for i in range(3)]
    pruned = Path(cfg.dir) / "tiny-marc-tune-2"
    assert (pruned / "checkpoint-1").is_dir() and not (pruned / "checkpoint-2").exists()  # training stopped
    assert json.loads((pruned / "tune-gate" / "epoch-1.json").read_text())["stop"] is True
    assert study.trials[0].value == 0.95 and study.trials[0].user_attrs["best_epoch"] == 2


def test_draws_are_seeded_per_trial_and_never_repeat_on_resume(fake_study, tmp_path):
    from dataclasses import replace
    from pipeline.trial import Objective, TrialFailed
    from pipeline.tune import open_study
    cfg, objective = fake_study
    open_study(cfg).optimize(objective, n_trials=2, catch=(TrialFailed,))
    open_study(cfg).optimize(objective, n_trials=1, catch=(TrialFailed,))  # a second `just tune`
    lrs = [t.params["lr"] for t in open_study(cfg).trials]
    assert len(set(lrs)) == 3
    twin = replace(cfg, dir=str(tmp_path / "twin" / "tiny-marc-tune"))  # same seed, one session: same draws
    open_study(twin).optimize(Objective(twin, objective.env), n_trials=3, catch=(TrialFailed,))
    assert [t.params["lr"] for t in open_study(twin).trials] == lrs


def test_a_killed_trial_is_marked_and_run_again_once(fake_study):
    from optuna.trial import TrialState
    from pipeline.trial import TrialLock
    from pipeline.tune import open_study, recover
    from report.tune import state_of
    cfg, _ = fake_study
    study = open_study(cfg)
    trial = study.ask()
    trial.suggest_float("lr", cfg.lr_min, cfg.lr_max, log=True)
    held = TrialLock(cfg.dir, trial.number)
    assert held.try_acquire()
    assert recover(study, cfg.dir) == []  # its driver is alive (holds the lock): left alone
    held.release()                        # the driver dies
    lines = recover(study, cfg.dir)
    assert "marked failed (killed)" in lines[0] and "queued again" in lines[1]
    assert study.trials[0].state == TrialState.FAIL and state_of(study.trials[0]) == "killed"
    assert recover(study, cfg.dir) == []  # queued once, not again
    retry = study.trials[1]
    assert retry.state == TrialState.WAITING and retry.user_attrs["retry_of"] == 0
    assert retry.system_attrs["fixed_params"] == study.trials[0].params  # the same lr, sampled again


def test_tune_md_from_records(tmp_path):
    from report.tune import StudyView, Trial, to_markdown
    trials = [Trial(0, "calm2-marc-tune-0", 3.2e-5, 16, 10, 0.95, "complete", 1.0, 3600.0),
              Trial(1, "calm2-marc-tune-1", 1e-6, 8, 1, 0.5, "pruned", 0.1, 360.0),
              Trial(2, "calm2-marc-tune-2", 4e-4, 32, 3, None, "killed", 0.3, 1080.0)]
    view = StudyView("calm2-marc-tune", "calm2", "marc", {"lr_min": 1e-6, "lr_max": 1e-3, "ranks": [8, 16, 32],
                                                           "epochs": 10, "seed": 42, "tune_rows": 500}, trials)
    text = to_markdown([view])
    assert "| 1 | calm2-marc-tune-1 | 1e-06 | 8 | 1 | 0.5000 | pruned | 0.1000 |" in text
    assert "| 2 | calm2-marc-tune-2 | 0.0004 | 32 | 3 | – | killed | 0.3000 |" in text
    # 1.4 GPU-hours over 14 trained epochs: 0.1 an epoch; the grid, 4 rates × 10 epochs: 4.0
    assert "This study: 1.4000 GPU-hours" in text and "The 4-rate grid: 4.0000 GPU-hours (estimated" in text
    assert "the study cost 35% of it" in text and "not scored on the eval split yet" in text


def test_tuned_cell_in_table_and_tune_md(tmp_path, monkeypatch):
    """A study folder with its tuned scores.json and a grid run: Table 3 gets the tuned column (lr shown),
    tune.md sets the two side by side."""
    import optuna
    from pipeline.trial import StudyConfig
    from pipeline.tune import open_study
    from report.__main__ import main as report
    runs = tmp_path / "runs"
    write_scores(runs, "tiny", "marc", "2e-4", {"accuracy": 0.5})
    cfg = StudyConfig(model="tiny", task="marc", dir=str(runs / "tiny-marc-tune"), epochs=2, lr_min=1e-6,
                      lr_max=1e-3)
    study = open_study(cfg)
    study.set_user_attr("settings", {"epochs": 2, "tune_rows": 8})
    t = study.ask()
    t.suggest_float("lr", 1e-6, 1e-3, log=True)
    t.set_user_attr("lr_trained", "3.16e-05")
    t.report(0.75, 1)
    study.tell(t, 0.75, state=optuna.trial.TrialState.COMPLETE)
    (runs / "tiny-marc-tune" / "scores.json").write_text(json.dumps({
        "run_id": "tiny-marc-tune", "model": "tiny", "task": "marc", "lr": "tuned", "tuned_lr": "3.16e-05",
        "seed": 42, "split": "validation", "best": {"epoch": 1, "n": 10, "metrics": {"accuracy": 0.625}},
        "best_by_val_loss": {"epoch": 1, "n": 10, "metrics": {"accuracy": 0.625}}}))
    # The same 8 dev examples: the grid run right on 4, the tuned model on 5 (its 4 and one more).
    for folder, right in ((runs / "tiny-marc-lr2e-4", 4), (runs / "tiny-marc-tune", 5)):
        preds = folder / "eval" / "epoch-1" / "predictions.jsonl"
        preds.parent.mkdir(parents=True)
        preds.write_text("".join(json.dumps({"id": f"v{i}", "raw": "positive" if i < right else "negative",
                                             "references": ["positive"]}) + "\n" for i in range(8)))
    out = tmp_path / "reports"
    monkeypatch.chdir(tmp_path)
    assert report(["--runs", str(runs), "--out", str(out), "--no-plots"]) == 0
    table = (out / "table3.md").read_text()
    assert "| lr=1e-5 | tuned |" in table and "| Tiny (test) | **50.00** | – | – | – | 62.50 (lr 3.16e-05) |" in table
    tex = (out / "table3.tex").read_text()
    assert r"lr=1e-5 & tuned \\" in tex and "62.50 (lr 3.16e-05)" in tex and "{lrrrrr}" in tex
    tune_md = (out / "tune.md").read_text()
    assert "| 0 | – | 3.16e-05 | – | 1 | 0.7500 | complete |" in tune_md
    assert "tuned (lr 3.16e-05, epoch 1, chosen on the tuning split) 62.50" in tune_md
    assert "the grid's best (lr 2e-4, epoch 1" in tune_md and "50.00" in tune_md
    assert "Paired bootstrap over 8 shared examples: tuned − grid = +12.50 [" in tune_md


@pytest.mark.parametrize("args, message", [
    (["tiny", "nope"], "unknown task 'nope'"),
    (["tiny", "marc", "--lr-min", "1e-3", "--lr-max", "1e-4"], "expected 0 < min < max < 1"),
    (["tiny", "marc", "--trials", "0"], "--trials must be at least 1"),
    (["tiny", "marc", "--ranks", "0", "8"], "--ranks must be at least 1, got 0"),
    (["tiny", "marc", "--deepspeed", "zero9.json"], "--deepspeed zero9.json: no such file")])
def test_bad_tune_arguments_are_one_line_errors_and_write_nothing(tmp_path, monkeypatch, args, message):
    from pipeline.tune import main
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=message):
        main(args)
    assert list(tmp_path.iterdir()) == []


def test_a_pruned_trial_s_run_json_reads_back_and_a_made_up_status_does_not(tmp_path):
    """run.json's status is a closed set; a trial the tuner stopped is `pruned` there (recipes/train.py)."""
    import json
    from jaft.common import DataError
    from recipes.manifest import read
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 1, "run_id": "tiny-marc-tune-0",
                                                   "status": "pruned"}))
    assert read(tmp_path)["status"] == "pruned"
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 1, "status": "prunned"}))
    with pytest.raises(DataError, match="did you mean 'pruned'"):
        read(tmp_path)
