"""`just tune` end to end on the tiny model: a 3-trial study (the third is the first the median rule may
prune: it waits for 2 trials) with real Axolotl training on a slice of the MARC-ja samples, its report, and
a second `just tune` that adds nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import just, sample_slice

pytestmark = pytest.mark.e2e  # real Axolotl training of the tiny model

ARGS = ("tune", "tiny", "marc", "--trials", "3", "--epochs", "2", "--tune-rows", "6", "--data-from", "src")


def ids(path: Path) -> set[str]:
    return {json.loads(line)["id"] for line in path.open(encoding="utf-8")}


def test_the_epoch_gate_stops_real_axolotl_training(tmp_path, tiny_model):
    """A trial told to stop after epoch 1 of 3 (the verdict written beforehand, as the tuner writes it) ends
    there: one checkpoint, run.json `pruned`, exit 0; the recipe still says 3 epochs (the same schedule)."""
    from prompts.data import prepare
    from prompts.tasks import TASKS
    sample_slice("marc", tmp_path / "src" / "marc", 13, 4)
    prepare(TASKS["marc"], tmp_path / "src" / "marc", tmp_path / "data" / "marc")
    run_dir = tmp_path / "runs" / "tiny-marc-tune-9"
    (run_dir / "tune-gate").mkdir(parents=True)
    (run_dir / "tune-gate" / "epoch-1.json").write_text(json.dumps({"epoch": 1, "stop": True, "why": "test"}))
    proc = just("train", "tiny", "marc", "1e-4", "--trial", "9", "--epochs", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((run_dir / "run.json").read_text())
    assert (run["status"], run["epochs_saved"], run["num_epochs"], run["trial"]) == ("pruned", 1, 3, 9)
    assert len(list(run_dir.glob("checkpoint-*"))) == 1 and "pruned by the tuner after epoch 1" in proc.stderr


def test_tune_study_end_to_end(tmp_path, tiny_model):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    ws = tmp_path
    sample_slice("marc", ws / "src" / "marc", 26, 12)  # 5 steps an epoch: a trial is mostly start-up
    env = {"JAFT_DATA": str(ws / "data"), "JAFT_RUNS": str(ws / "runs"), "JAFT_REPORTS": str(ws / "reports")}
    first = just(*ARGS, cwd=ws, env=env)
    assert first.returncode == 0, first.stderr[-4000:]
    study_dir = ws / "runs" / "tiny-marc-tune"
    storage = JournalStorage(JournalFileBackend(str(study_dir / "study.journal")))
    study = optuna.load_study(study_name="tiny-marc-tune", storage=storage)
    trials = study.trials
    assert len(trials) == 3 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert all(t.intermediate_values for t in trials)  # every trial reported at least one epoch
    for t in trials:  # each trial is a real run; run.json says what it trained with
        run = json.loads((study_dir / t.user_attrs["run_id"] / "run.json").read_text())
        assert run["run_id"] == f"tiny-marc-tune-{t.number}" and run["lr"] == t.user_attrs["lr_trained"]
        assert run["learning_rate"] == float(run["lr"]) and run["lora_r"] == 16
        assert run["status"] == ("finished" if t.state.name == "COMPLETE" else "pruned")
    # The tuning rows: out of every trial's training rows, and none of them an eval row.
    tuning = set(json.loads((study_dir / "data" / "marc" / "tuning.json").read_text())["tuning_ids"])
    assert len(tuning) == 6 and tuning == ids(study_dir / "data" / "marc" / "validation.jsonl")
    assert not tuning & ids(ws / "data" / "marc" / "validation.jsonl")
    assert not tuning & ids(study_dir / "tiny-marc-tune-0" / "data" / "train.jsonl")
    # What each trial was scored on, read back from its predictions: the tuning rows, never an eval row.
    scored = list(study_dir.glob("tiny-marc-tune-*/eval/epoch-*/predictions.jsonl"))
    assert scored and all(ids(f) == tuning for f in scored)
    # The best trial's epoch was scored once on the real eval split: the tuned cell and tune.md.
    tuned = json.loads((study_dir / "scores.json").read_text())
    assert tuned["lr"] == "tuned" and tuned["split"] == "validation" and tuned["best"]["n"] == 11
    table = (ws / "reports" / "table3.md").read_text()
    assert "| tuned |" in table and f"(lr {tuned['tuned_lr']})" in table
    tune_md = (ws / "reports" / "tune.md").read_text()
    assert "## tiny-marc-tune" in tune_md and tune_md.count("| tiny-marc-tune-") == 3
    assert (ws / "reports" / "tune_tiny-marc-tune.png").is_file()
    # The same command again: nothing to run, no new trial.
    second = just(*ARGS, cwd=ws, env=env)
    assert second.returncode == 0, second.stderr[-4000:]
    assert "0 to run" in second.stderr
    assert len(optuna.load_study(study_name="tiny-marc-tune", storage=storage).trials) == 3
