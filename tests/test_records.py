"""Runs and records (issue 24, items 6-13, 18, 20): nothing lost, nothing mixed, round 3.

Each test reproduces one case of the issue with real processes and real files; Axolotl and the model are
replaced by stand-ins where the case is about jaft's own records (tests/test_safety.py shows the pattern).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from recipes.manifest import checkpoints
from tests.conftest import REPO, cli
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


# ---- item 10: a damaged run.json leaves its run out of everything -----------------------------------------

def test_a_report_of_only_unreadable_runs_keeps_the_report_there(tmp_path):
    """The only run's run.json has a key this jaft does not know (or a newer schema): it is left out, and the
    good report already in reports/ is kept (exit 2, one line) instead of being replaced by an empty one."""
    from tests.report_fixtures import write_scores
    runs = tmp_path / "runs"
    write_scores(runs, "calm2", "marc", "2e-4", {"accuracy": 0.9}, epochs=[{"epoch": 1, "metrics": {"accuracy": 0.9}}])
    run_json = runs / "calm2-marc-lr2e-4" / "run.json"
    run_json.write_text(json.dumps({"schema_version": 2, "run_id": "calm2-marc-lr2e-4", "status": "finished"}))
    assert cli("report", "--runs", "runs", "--out", "reports", "--no-plots", cwd=tmp_path).returncode == 0
    table = (tmp_path / "reports" / "table3.md").read_text()
    assert "**90.00**" in table
    for record in ({**json.loads(run_json.read_text()), "old_thing": 5},
                   {**json.loads(run_json.read_text()), "schema_version": 99}):
        run_json.write_text(json.dumps(record))
        proc = cli("report", "--runs", "runs", "--out", "reports", "--no-plots", cwd=tmp_path)
        last = proc.stderr.splitlines()[-1]
        assert proc.returncode == 2 and last.startswith("error: every run under runs was left out"), proc.stderr
        assert "its run is left out of the report" in proc.stderr
        assert (tmp_path / "reports" / "table3.md").read_text() == table
    proc = cli("report", "--runs", "runs", "--out", "reports", "--no-plots", "--force", cwd=tmp_path)
    assert proc.returncode == 0 and "**90.00**" not in (tmp_path / "reports" / "table3.md").read_text()


def test_a_damaged_run_json_leaves_its_run_out_of_every_table(tmp_path):
    from tests.report_fixtures import write_scores
    runs = tmp_path / "runs"
    for lr, acc in (("2e-4", 0.9), ("5e-5", 0.8)):
        write_scores(runs, "calm2", "marc", lr, {"accuracy": acc}, epochs=[{"epoch": 1, "metrics": {"accuracy": acc}}])
    (runs / "calm2-marc-lr5e-5" / "run.json").write_text('{"status": "fini')
    proc = cli("report", "--runs", "runs", "--out", "reports", "--no-plots", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warned = [line for line in proc.stderr.splitlines() if "calm2-marc-lr5e-5" in line]
    assert len(warned) == 1 and "damaged run.json" in warned[0], proc.stderr
    assert warned[0].endswith("its run is left out of the report"), proc.stderr
    out = tmp_path / "reports"
    assert "| CALM2 7B | **90.00** | – |" in (out / "table3.md").read_text()
    assert "80.00" not in (out / "comparison.md").read_text()
    csv = (out / "results.csv").read_text()
    assert "calm2-marc-lr2e-4" in csv and "calm2-marc-lr5e-5" not in csv
    assert "calm2-marc-lr5e-5" not in json.dumps(json.loads((out / "results.json").read_text()))
    assert "80.00" not in (out / "intervals.md").read_text() + (out / "cost.md").read_text()


# ---- item 20 (second half): files a user put in reports/ are never deleted without a word -----------------

def test_a_report_refuses_to_delete_files_it_did_not_write(tmp_path):
    from tests.report_fixtures import write_scores
    write_scores(tmp_path / "runs", "calm2", "marc", "2e-4", {"accuracy": 0.9})
    report = ("report", "--runs", "runs", "--out", "reports", "--no-plots")
    cli(*report, cwd=tmp_path, check=True)
    out = tmp_path / "reports"
    cli(*report, cwd=tmp_path, check=True)  # its own files are replaced without a question
    (out / "notes.txt").write_text("my notes")
    (out / "drafts").mkdir()
    (out / "drafts" / "table3-edited.md").write_text("mine")
    (out / "table3.md").write_text("edited by hand")  # a file jaft wrote: replaced, as before
    proc = cli(*report, cwd=tmp_path)
    assert proc.returncode == 2
    assert "reports/ holds files jaft did not write (drafts/table3-edited.md, notes.txt); a report replaces its " \
           "folder whole: move them out, or pass --force to delete them" in one_line_error(proc)
    assert (out / "notes.txt").read_text() == "my notes" and (out / "table3.md").read_text() == "edited by hand"
    cli(*report, "--force", cwd=tmp_path, check=True)
    assert not (out / "notes.txt").exists() and "90.00" in (out / "table3.md").read_text()


def test_a_report_of_an_older_jaft_is_known_by_its_file_names(tmp_path):
    from tests.report_fixtures import write_scores
    write_scores(tmp_path / "runs", "calm2", "marc", "2e-4", {"accuracy": 0.9})
    report = ("report", "--runs", "runs", "--out", "reports", "--no-plots")
    cli(*report, cwd=tmp_path, check=True)
    out = tmp_path / "reports"
    (out / ".jaft-report.json").unlink()  # as an older jaft left it
    cli(*report, cwd=tmp_path, check=True)
    (out / ".jaft-report.json").unlink()
    (out / "budget.xlsx").write_bytes(b"PK")
    proc = cli(*report, cwd=tmp_path)
    assert proc.returncode == 2 and "holds files jaft did not write (budget.xlsx)" in one_line_error(proc)


# ---- item 18: a sweep goes on past one task's bad data; an eval failure leaves the training finished ------

def test_a_task_with_bad_data_fails_alone_in_a_sweep(tmp_path, monkeypatch, capsys):
    import shutil

    import pipeline.sweep as sweep
    from tests.conftest import SAMPLES
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "mine"
    for task in ("marc", "jsquad"):
        shutil.copytree(SAMPLES / task, source / task)
    bad = sorted((source / "marc").iterdir())[0]
    bad.write_text(bad.read_text()[:-40])  # cut short: its last row is broken
    started = []

    def run_one(spec, todo, opts, env=None):
        started.append(spec.id)
        return True, "ok"
    monkeypatch.setattr(sweep, "run_one", run_one)
    code = sweep.main(["--models", "tiny", "--tasks", "marc", "jsquad", "--lrs", "2e-4", "--data-from", str(source),
                       "--no-report"])
    err = capsys.readouterr().err
    assert code == 1 and started == ["tiny-jsquad-lr2e-4"], err
    assert (tmp_path / "data" / "jsquad" / "train.jsonl").is_file() and not (tmp_path / "data" / "marc").exists()
    record = json.loads((tmp_path / "runs" / "tiny-marc-lr2e-4" / "run.json").read_text())
    assert record["status"] == "failed" and record["error"].startswith("data for marc: "), record
    assert bad.name in record["error"]
    assert "1 of 2 runs failed:" in err and "  tiny-marc-lr2e-4: data for marc: " in err


def test_a_failed_eval_leaves_the_training_finished(tmp_path, monkeypatch):
    from pipeline.steps import StepOptions, run_one, state
    from recipes.runs import RunSpec
    monkeypatch.chdir(tmp_path)
    fake_finished_run(tmp_path / "runs", epochs=1)
    spec = RunSpec.parse("tiny", "marc", "2e-4")
    calls = []

    def call(cmd, env, log, code=1):
        calls.append(cmd[2])
        log.write("error: out of disk while scoring\n")
        return code
    ok, detail = run_one(spec, "eval", StepOptions(), call=call)
    record = json.loads((spec.dir / "run.json").read_text())
    assert not ok and calls == ["eval"] and detail.startswith("eval exited 1: error: out of disk while scoring")
    assert record["status"] == "finished" and record["eval_error"].startswith("eval exited 1: error: out of disk")
    assert state(spec, None) == "eval"  # the next sweep evaluates again; it does not relaunch Axolotl
    ok, _ = run_one(spec, "eval", StepOptions(), call=lambda cmd, env, log: 0)
    record = json.loads((spec.dir / "run.json").read_text())
    assert ok and record["status"] == "finished" and record["eval_error"] is None


# ---- items 7, 12: an epoch's outputs record their data and generation settings; nothing mixed ------------

class EchoGenerator:
    """A stand-in for the model: the tiny model's tokenizer, every answer "positive", and as many new tokens
    as it was allowed (so that a prediction tells which settings made it)."""

    def __init__(self, base_model, trust_remote_code=False, **options):
        from transformers import AutoTokenizer
        self.tokenizer = AutoTokenizer.from_pretrained(base_model)

    def use_adapter(self, path):
        pass

    def generate(self, prompts, settings):
        from eval.generate import Generation
        return [Generation("positive", settings.max_new_tokens) for _ in prompts]

    def free_memory(self):
        pass


def preds(run_dir, epoch=1):
    return [json.loads(line) for line in (run_dir / f"eval/epoch-{epoch}/predictions.jsonl").read_text().splitlines()]


def epoch_scores(run_dir, epoch=1):
    return json.loads((run_dir / f"eval/epoch-{epoch}/scores.json").read_text())


@pytest.fixture
def echo_eval(workdir, monkeypatch, tiny_model):
    """`eval_run` on a finished run of `workdir` (real data, real files) with the model replaced."""
    import eval.runner as runner
    monkeypatch.chdir(workdir)
    monkeypatch.setitem(runner.BACKENDS, "hf", EchoGenerator)
    run_dir = fake_finished_run(workdir / "runs", epochs=1)

    def run(**options):
        options = {"batch_size": 8, "backend": "hf", "limit": None, "max_new_tokens": None, **options}
        return runner.eval_run(run_dir, **options)
    return run_dir, run


def test_other_generation_settings_are_redone_not_mixed(echo_eval, capsys):
    run_dir, run = echo_eval
    assert run(limit=3, max_new_tokens=1) == "scored"
    assert [p["new_tokens"] for p in preds(run_dir)] == [1, 1, 1]
    assert run() == "scored"  # the task's 8 tokens: the three made with 1 are set aside, not kept
    rows = preds(run_dir)
    full = len(rows)
    assert full > 3 and {p["new_tokens"] for p in rows} == {8}
    assert (epoch_scores(run_dir)["n"], epoch_scores(run_dir)["max_new_tokens"]) == (full, 8)
    assert (run_dir / "eval/stale-epoch-1/predictions.jsonl").is_file()
    assert "made from other inputs (max_new_tokens 1 -> 8)" in capsys.readouterr().err
    assert run(max_new_tokens=2) == "scored"  # not "up to date"
    assert {p["new_tokens"] for p in preds(run_dir)} == {2} and epoch_scores(run_dir)["max_new_tokens"] == 2
    assert run(max_new_tokens=2) == "up to date"
    # A smaller --limit keeps the scores over the whole split (never turns n 56 into n 3).
    assert run(limit=3, max_new_tokens=2) == "up to date"
    assert epoch_scores(run_dir)["n"] == full and len(preds(run_dir)) == full
    assert f"(its epochs are scored on {full} rows, more than --limit 3; kept)" in capsys.readouterr().err
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["epochs"][0]["n"] == full and scores["epochs"][0]["limit"] is None


def test_an_epoch_s_scores_json_carries_its_version(echo_eval):
    """eval/epoch-<k>/scores.json had no schema_version: it is a versioned record now, as the run's is."""
    from jaft.records import EPOCH_SCORES_SCHEMA, SCORES_SCHEMA
    from jaft.validate import check_path
    run_dir, run = echo_eval
    assert run(limit=3) == "scored"
    assert epoch_scores(run_dir)["schema_version"] == EPOCH_SCORES_SCHEMA
    assert json.loads((run_dir / "scores.json").read_text())["schema_version"] == SCORES_SCHEMA
    assert check_path(run_dir) == []


def test_predictions_from_other_data_are_redone(echo_eval, workdir):
    run_dir, run = echo_eval
    assert run(limit=3) == "scored"
    kept = preds(run_dir)
    data = workdir / "data/marc/validation.jsonl"
    flip = {"positive": "negative", "negative": "positive"}
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    rows = [{**r, "response": flip[r["response"]], "references": [flip[x] for x in r["references"]]} for r in rows]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))  # `just data` anew
    assert run() == "scored"
    now = {str(r["id"]): r["references"] for r in rows}
    got = preds(run_dir)
    assert len(got) == len(rows) and all(p["references"] == now[str(p["id"])] for p in got)
    assert all(p["references"] != now[str(p["id"])] for p in kept)  # the old three were set aside
    positive = sum(r["references"] == ["positive"] for r in rows)
    assert epoch_scores(run_dir)["metrics"]["accuracy"] == positive / len(rows)
    assert epoch_scores(run_dir)["inputs"]["data"]["sha256"] is not None


# ---- item 9: cut adapter weights are that run's one-line problem -----------------------------------------

def test_cut_adapter_weights_stop_only_their_run(echo_eval, workdir, capsys):
    from eval.__main__ import main
    fine, _ = echo_eval
    broken = fake_finished_run(workdir / "runs", lr="5e-5", epochs=1)
    weights = broken / "checkpoint-57" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])  # a copy stopped midway
    assert main(["eval"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "checkpoint-57: adapter_model.safetensors is cut short" in errors[0], err
    assert (fine / "scores.json").is_file() and not (broken / "scores.json").exists()


# ---- item 12: Ctrl-C during `just eval` ----------------------------------------------------------------

SLOW_EVAL = textwrap.dedent("""
    import sys, time
    import eval.runner
    from tests.test_records import EchoGenerator

    class Slow(EchoGenerator):
        def generate(self, prompts, settings):
            print("generating", file=sys.stderr, flush=True)
            time.sleep(600)
    eval.runner.BACKENDS["hf"] = Slow
    from jaft.common import run
    from eval.__main__ import main
    sys.exit(run(main, ["eval"]))
""")


def test_ctrl_c_during_eval_is_one_line_and_exit_130(workdir, tiny_model):
    fake_finished_run(workdir / "runs", epochs=1)
    proc = subprocess.Popen([sys.executable, "-c", SLOW_EVAL], cwd=workdir, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        for line in proc.stderr:
            if line.strip() == "generating":
                break
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
        err = proc.stderr.read()
    finally:
        proc.kill()
    assert code == 130 and "Traceback" not in err, err[-3000:]
    assert "[jaft eval] interrupted; the predictions made so far are kept" in err


# ---- item 11: a killed session's time counts ---------------------------------------------------------

def test_a_session_killed_with_jaft_still_counts(workdir):
    import time

    from tests.safety_fixtures import FOREVER, alive, fake_axolotl_run, wait_for
    pids_file = workdir / "pids.json"
    run_json = workdir / "runs/tiny-marc-lr2e-4/run.json"
    proc = fake_axolotl_run(FOREVER, ["train", "tiny", "marc", "2e-4", "--epochs", "1"], workdir,
                            {"JAFT_TEST_PIDS": str(pids_file), "JAFT_KILL_GRACE_S": "5"})
    try:
        wait_for(pids_file.is_file, 300, "the stand-in training to start")
        started = json.loads(run_json.read_text())["cost_session"]["started"]
        time.sleep(2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
        wait_for(lambda: json.loads(run_json.read_text())["status"] == "interrupted", 60, "the watchdog's record")
    finally:
        proc.kill()
    wait_for(lambda: not any(alive(p) for p in json.loads(pids_file.read_text())), 30, "the training to end")
    run = json.loads(run_json.read_text())
    assert run["cost_session"] is None and run["cost"]["sessions"] == 1
    assert 2 <= run["cost"]["wall_s"] <= time.time() - started


def test_a_session_lost_with_its_watchdog_is_counted_by_the_next(fake_axolotl):
    import time

    from recipes.runs import RunSpec
    spec = RunSpec.parse("tiny", "marc", "2e-4")
    assert fake_axolotl(spec, epochs=1) == 1  # one session; the stand-in saves nothing
    first = json.loads((spec.dir / "run.json").read_text())
    assert first["cost"]["sessions"] == 1 and first["cost_session"] is None
    # A second session whose jaft and watchdog were both killed 100 s in: its start is all run.json says.
    log = spec.dir / "train.log"
    os.utime(log, (time.time(), time.time()))
    lost = {**first, "status": "running", "cost_session": {"started": log.stat().st_mtime - 100}}
    (spec.dir / "run.json").write_text(json.dumps(lost))
    assert fake_axolotl(spec, epochs=1) == 1
    cost = json.loads((spec.dir / "run.json").read_text())["cost"]
    assert cost["sessions"] == 3 and cost["wall_s"] >= first["cost"]["wall_s"] + 100


# ---- item 13: files a run leaves follow the umask -------------------------------------------------------

SAVE_WITH_SAFETENSORS = """
import json, os, sys, torch
from safetensors.torch import save_file
ck = os.path.join(sys.argv[1], "checkpoint-57")
os.makedirs(ck)
save_file({"w": torch.zeros(4)}, os.path.join(ck, "adapter_model.safetensors"))
json.dump({"epoch": 1.0, "log_history": []}, open(os.path.join(ck, "trainer_state.json"), "w"))
"""


def modes(folder) -> dict:
    return {str(p.relative_to(folder)): oct(p.stat().st_mode & 0o777) for p in [folder, *folder.rglob("*")]}


def test_checkpoint_weights_follow_the_umask(fake_axolotl, monkeypatch):
    import recipes.train as train_mod
    from recipes.runs import RunSpec
    monkeypatch.setattr(train_mod, "axolotl_command",
                        lambda recipe: [sys.executable, "-c", SAVE_WITH_SAFETENSORS, str(recipe.parent)])
    old = os.umask(0o022)
    try:
        spec = RunSpec.parse("tiny", "marc", "2e-4")
        assert fake_axolotl(spec, epochs=1) == 0
    finally:
        os.umask(old)
    found = modes(spec.dir / "checkpoint-57")
    assert found == {".": "0o755", "adapter_model.safetensors": "0o644", "trainer_state.json": "0o644"}, found


def test_the_tiny_model_cache_follows_the_umask(tmp_path):
    target = tmp_path / "tiny"
    proc = subprocess.run([sys.executable, "-m", "recipes", "tiny"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "JAFT_TINY_DIR": str(target), "PYTHONPATH": str(REPO)},
                          preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = modes(target)
    assert found["."] == "0o755" and found["model.safetensors"] == "0o644", found
    assert set(found.values()) == {"0o755", "0o644"}, found


def test_two_processes_asking_for_the_tiny_model_at_once_build_it_once(tmp_path):
    """A `--jobs 2` sweep (or two test workers) may ask for the same twin at the same moment: it is built
    once (the other waits), both get the whole model, and no half-built folder is left beside it."""
    target = tmp_path / "tiny"
    env = {**os.environ, "JAFT_TINY_DIR": str(target), "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "recipes", "tiny"], cwd=REPO, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert [out.strip() for out, _ in outs] == [str(target)] * 2
    assert (target / "config.json").is_file() and (target / "model.safetensors").is_file()
    assert sum("Writing model shards" in err for _, err in outs) == 1, [err[-800:] for _, err in outs]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".tiny-")]


@pytest.mark.e2e
def test_a_real_training_leaves_weights_the_umask_allows(trained):
    """`trained` ran real Axolotl under this process's umask: every file of the run follows it."""
    mask = os.umask(0)
    os.umask(mask)
    run_dir = trained / "runs/tiny-marc-lr2e-4"
    weights = sorted(run_dir.glob("checkpoint-*/adapter_model.safetensors"))
    assert weights
    for path in weights:
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, (path, oct(path.stat().st_mode))
