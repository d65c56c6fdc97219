"""Nothing lost, nothing mixed (issue 14): locks, signals, honest resumes, one-line errors, whole reports.

Each numbered case of the issue is reproduced here with Axolotl replaced by a stand-in process (real
processes, real signals, real files); tests/test_safety_e2e.py repeats the key ones with real training.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from jaft.common import UsageError, run
from recipes.lock import RunLock
from recipes.manifest import checkpoints, fingerprint
from recipes.runs import RunSpec
from tests.conftest import REPO, cli
from tests.report_fixtures import write_scores
from tests.safety_fixtures import (FOREVER, alive, epoch_record, fake_axolotl_run, fake_checkpoint, fake_finished_run,
                                   hold_lock, wait_for)

RUN = "runs/tiny-marc-lr2e-4"


def snapshot(folder):
    """Every file under `folder` with its bytes, inode and mtime: what "nothing written" compares."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(proc) -> str:
    """The error line of a refused command; no traceback anywhere."""
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-2000:]
    return errors[0]


def stand_in(script: str):
    """An `axolotl_command` replacement running `script` (Python) in the run's folder."""
    return lambda recipe: [sys.executable, "-c", script, str(recipe.parent)]


# Stand-ins for Axolotl. Each gets the run folder as argv[1].
SAVE_EPOCH_1 = """
import json, os, sys
ck = os.path.join(sys.argv[1], "checkpoint-57")
seen = sorted(n for n in os.listdir(sys.argv[1]) if "checkpoint" in n)
open(os.path.join(sys.argv[1], "seen.json"), "w").write(json.dumps(seen))
os.makedirs(ck, exist_ok=True)
open(os.path.join(ck, "adapter_model.safetensors"), "wb").write(os.urandom(32))
json.dump({"epoch": 1.0, "log_history": []}, open(os.path.join(ck, "trainer_state.json"), "w"))
"""
DISK_FULL_DURING_SAVE = """
import os, sys
ck = os.path.join(sys.argv[1], "checkpoint-57")
os.makedirs(ck)
open(os.path.join(ck, "adapter_model.safetensors"), "wb").write(b"half")
print("OSError: [Errno 28] No space left on device", flush=True)
sys.exit(1)
"""


# ---- case 1, 2, 4: one process at a time per run --------------------------------------------------------

def test_busy_run_refuses_train_force_render_and_eval_naming_the_holder(workdir):
    """Case 4 (two trains), case 1 (--force during an eval), case 2 (two evals): the holder is a real process."""
    run_dir = fake_finished_run(workdir / "runs")
    manifest = json.loads((run_dir / "run.json").read_text())
    train = ("recipes", "train", "tiny", "marc", "2e-4", "--epochs", "1")
    for status, holder_command, commands in (
            ("running", "python -m recipes train tiny marc 2e-4", [train, train + ("--force",)]),
            ("finished", "python -m eval eval --batch-size 1",
             [train + ("--force",), ("eval", "eval", RUN), ("recipes", "render", "tiny", "marc", "2e-4", "--force")])):
        (run_dir / "run.json").write_text(json.dumps({**manifest, "status": status}))
        before = snapshot(run_dir)
        holder = hold_lock(run_dir, holder_command)
        try:
            for args in commands:
                proc = cli(*args, cwd=workdir)
                line = one_line_error(proc)
                assert proc.returncode == 2, args
                assert f"run tiny-marc-lr2e-4 is busy: held by `{holder_command}` (pid {holder.pid} on " in line
            after = snapshot(run_dir)
            assert after == {**before, ".lock": after[".lock"]}
        finally:
            holder.kill()
            holder.wait()


def test_a_sweep_never_marks_a_busy_run_failed(tmp_path, monkeypatch):
    """A sweep's train step refused because someone else trains the run must not write "failed" over it."""
    from pipeline.steps import record_failure
    monkeypatch.chdir(tmp_path)
    spec = RunSpec.parse("tiny", "marc", "2e-4")
    spec.dir.mkdir(parents=True)
    (spec.dir / "run.json").write_text(json.dumps({"run_id": spec.id, "status": "running"}))
    holder = hold_lock(spec.dir, "python -m recipes train tiny marc 2e-4")
    try:
        record_failure(spec, "train exited 2: error: run tiny-marc-lr2e-4 is busy")
    finally:
        holder.kill()
        holder.wait()
    assert json.loads((spec.dir / "run.json").read_text())["status"] == "running"
    record_failure(spec, "train exited 1")
    assert json.loads((spec.dir / "run.json").read_text())["error"] == "train exited 1"


def test_lock_of_a_killed_holder_is_taken_over(tmp_path):
    holder = hold_lock(tmp_path / "run", "python -m recipes train tiny marc 2e-4")
    holder.kill()
    holder.wait()
    assert str(holder.pid) in (tmp_path / "run" / ".lock").read_text()  # its note stays behind...
    with RunLock(tmp_path / "run"):  # ...but the kernel released its lock
        assert json.loads((tmp_path / "run" / ".lock").read_text())["pid"] == os.getpid()


def orphaned_lock(run_dir, hold_s: float, zombie: bool = False) -> subprocess.Popen:
    """What a jaft killed mid-training leaves: its lock held by a process (its training, its watchdog) that
    ends `hold_s` seconds later, while the lock's note names the jaft, which is gone: reaped, or a zombie
    (killed, not yet reaped: its parent, a lost Ray worker, is gone too and the raylet reaps it later)."""
    code = textwrap.dedent(f"""
        import json, os, socket, subprocess, time
        from recipes.lock import RunLock
        lock = RunLock({str(run_dir)!r}).acquire()
        gone = subprocess.Popen(["sleep", "30"]); gone.kill()
        if {zombie!r}:  # never waited for: a zombie, which kill(pid, 0) still finds
            while open(f"/proc/{{gone.pid}}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
                time.sleep(0.01)
        else:
            gone.wait()
        note = {{"pid": gone.pid, "host": socket.gethostname(), "command": "python -m recipes train tiny marc 2e-4",
                "since": "2026-11-28T07:19:04+00:00"}}
        os.ftruncate(lock.fd, 0); os.pwrite(lock.fd, json.dumps(note).encode(), 0)
        print("locked", flush=True)
        time.sleep({hold_s})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.parametrize("zombie", [False, True], ids=["reaped", "zombie"])
def test_a_lock_left_to_a_killed_jafts_training_is_waited_for(tmp_path, monkeypatch, capsys, zombie):
    """A retry right after a lost node: the old training still holds the run for the seconds its watchdog
    takes to stop it. The new holder waits for it instead of failing the run as busy."""
    monkeypatch.setenv("JAFT_ORPHAN_WAIT_S", "60")
    holder = orphaned_lock(tmp_path / "run", hold_s=1.5, zombie=zombie)
    try:
        with RunLock(tmp_path / "run"):
            assert holder.poll() is not None  # taken only once the old training ended
            assert json.loads((tmp_path / "run" / ".lock").read_text())["pid"] == os.getpid()
    finally:
        holder.kill()
        holder.wait()
    assert "is gone but its training still holds the run; waiting up to 60 s" in capsys.readouterr().err


def test_of_two_waiters_one_takes_the_run_and_the_other_is_refused_naming_it(tmp_path, monkeypatch):
    """Two retries of the same run wait for one killed jaft's training: once it ends, the first to take the
    lock trains; the other stops waiting at once and names it (not a stale note after a full wait)."""
    monkeypatch.setenv("JAFT_ORPHAN_WAIT_S", "60")
    orphan = orphaned_lock(tmp_path / "run", hold_s=1.5)
    other = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.argv = ["python", "-m", "recipes", "train", "other"]
        from jaft.common import UsageError
        from recipes.lock import RunLock
        try:
            RunLock({str(tmp_path / "run")!r}).acquire()
        except UsageError as e:
            print(e, flush=True)
            sys.exit(2)
        print("locked", flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        try:
            lock = RunLock(tmp_path / "run").acquire()
        except UsageError as e:  # the other took it
            assert other.stdout.readline().strip() == "locked"
            assert "held by `python -m recipes train other`" in str(e) and "waited" not in str(e)
        else:  # we took it: the other is refused, naming us
            refusal = other.stdout.readline()
            assert other.wait(30) == 2 and f"(pid {os.getpid()} " in refusal and "waited" not in refusal
            lock.release()
    finally:
        for proc in (orphan, other):
            proc.kill()
            proc.wait()


def test_a_lock_left_to_a_training_that_never_stops_is_refused_after_the_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFT_ORPHAN_WAIT_S", "0.5")
    holder = orphaned_lock(tmp_path / "run", hold_s=600)
    try:
        with pytest.raises(UsageError, match=r"its training processes still hold the lock \(waited 0.5 s\); wait"):
            RunLock(tmp_path / "run").acquire()
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()


def test_a_live_holder_is_refused_at_once(tmp_path, monkeypatch):
    """Only a gone holder's processes are waited for: a running `just eval` is named at once."""
    monkeypatch.setenv("JAFT_ORPHAN_WAIT_S", "600")
    holder = hold_lock(tmp_path / "run")
    try:
        start = time.monotonic()
        with pytest.raises(UsageError, match=r"held by `python -m eval eval` \(pid \d+ on .*\); wait for it"):
            RunLock(tmp_path / "run").acquire()
        assert time.monotonic() - start < 60
    finally:
        holder.kill()
        holder.wait()


def test_duplicate_predictions_are_scored_once_and_repaired(tmp_path, capsys):
    """Case 2's damage (every id twice) as older jaft left it: scored once, and eval rewrites the file."""
    from eval.predictions import dedupe, load_for_scoring
    rows = [{"id": i, "prompt": "p", "raw": "positive" if i % 2 else "negative", "prediction": "",
             "references": ["positive"]} for i in range(4)]
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + rows))
    proc = cli("eval", "score", "marc", str(path), cwd=tmp_path)
    assert json.loads(proc.stdout) == {"n": 4, "accuracy": 0.5} and "4 lines repeat an id" in proc.stderr
    assert dedupe(path) == 4
    assert [json.loads(line) for line in path.read_text().splitlines()] == rows
    assert dedupe(path) == 0 and len(load_for_scoring("marc", path)) == 4


def test_scores_of_a_replaced_checkpoint_are_stale(tmp_path):
    """Case 1's damage: epoch scores made from the old checkpoint are not counted once it is replaced."""
    from eval.runner import claim_epoch, epoch_done, run_scores
    run_dir = fake_finished_run(tmp_path / "runs", epochs=2, scored=True)
    (_, first), (_, second) = checkpoints(run_dir)
    assert epoch_done(run_dir / "eval/epoch-1", None, first)
    (first / "adapter_model.safetensors").write_bytes(os.urandom(64))  # retrained: new weights, same name
    assert not epoch_done(run_dir / "eval/epoch-1", None, first)
    assert epoch_done(run_dir / "eval/epoch-1", None)  # the sweep's old question, without the checkpoint
    run = json.loads((run_dir / "run.json").read_text())
    assert [e["epoch"] for e in run_scores(run_dir, run)["epochs"]] == [2]
    claim_epoch(run_dir / "eval/epoch-1", first, fingerprint(first))
    assert (run_dir / "eval/stale-epoch-1/scores.json").is_file()
    assert json.loads((run_dir / "eval/epoch-1/checkpoint.json").read_text())["sha256"] == fingerprint(first)["sha256"]
    # A copy (new mtime, same bytes) is the same checkpoint.
    os.utime(second / "adapter_model.safetensors", ns=(1, 1))
    assert epoch_done(run_dir / "eval/epoch-2", None, second)


# ---- case 3: signals reach the whole training, run.json says so ---------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL])
def test_a_signal_to_jaft_ends_the_whole_training_group(workdir, sig):
    """A real jaft process with a stand-in Axolotl that forks a worker; SIGKILL is handled by the watchdog."""
    pids_file = workdir / "pids.json"
    proc = fake_axolotl_run(FOREVER, ["train", "tiny", "marc", "2e-4", "--epochs", "1"], workdir,
                            {"JAFT_TEST_PIDS": str(pids_file), "JAFT_KILL_GRACE_S": "5"})
    try:
        wait_for(pids_file.is_file, 300, "the stand-in training to start")
        wait_for(lambda: pids_file.read_text().endswith("]"), 10, "its pids")
        pids = json.loads(pids_file.read_text())
        assert all(alive(p) for p in pids)
        os.kill(proc.pid, sig)
        code = proc.wait(60)
        wait_for(lambda: not any(alive(p) for p in pids), 30, "every training process to end")
    finally:
        proc.kill()
    manifest = lambda: json.loads((workdir / RUN / "run.json").read_text())  # noqa: E731
    wait_for(lambda: manifest()["status"] == "interrupted", 30, "run.json to say interrupted")
    assert code == -sig  # jaft ends by the signal, as its parent (a shell, a sweep, Ray) expects
    if sig == signal.SIGKILL:
        assert "watchdog" in manifest()["error"]
    else:
        assert manifest()["error"] == f"stopped by {signal.Signals(sig).name}"
        assert f"interrupted ({signal.Signals(sig).name}); `just train` again resumes" in proc.stderr.read()
    wait_for(lambda: lockable(workdir / RUN), 30, "the run's lock to be free")  # the watchdog ends last


def lockable(run_dir) -> bool:
    try:
        RunLock(run_dir).acquire().release()
        return True
    except UsageError:
        return False


# ---- case 3 and 5: resume only what matches; incomplete saves set aside; --force starts clean -----------

def test_resume_with_other_options_or_data_is_refused(workdir, monkeypatch):
    import recipes.train as train_mod
    monkeypatch.chdir(workdir)
    spec = RunSpec.parse("tiny", "marc", "2e-4")
    monkeypatch.setattr(train_mod, "axolotl_command", stand_in(SAVE_EPOCH_1 + "\nsys.exit(1)"))
    assert train_mod.train(spec, epochs=2) == 1  # saved epoch 1, then died
    run_dir = workdir / RUN
    assert json.loads((run_dir / "run.json").read_text())["identity"]["seed"] == 42
    before = snapshot(run_dir)
    with pytest.raises(UsageError, match=r"checkpoints trained with lora_r 16; this command gives lora_r 8: .*--force"):
        train_mod.train(spec, epochs=2, overrides=["lora_r=8"])
    with pytest.raises(UsageError, match=r"num_epochs 2; this command gives num_epochs 3"):
        train_mod.train(spec, epochs=3)
    rows = (workdir / "data/marc/train.jsonl").read_text().splitlines(keepends=True)
    (workdir / "data/marc/train.jsonl").write_text("".join(rows[1:]))  # the data changed since
    with pytest.raises(UsageError, match=r"train_rows_sha256 \"[0-9a-f]{16}\"; this command gives train_rows_sha256"):
        train_mod.train(spec, epochs=2)
    assert snapshot(run_dir) == {**before, ".lock": snapshot(run_dir)[".lock"]}
    (workdir / "data/marc/train.jsonl").write_text("".join(rows))
    monkeypatch.setattr(train_mod, "axolotl_command", stand_in(SAVE_EPOCH_1))
    assert train_mod.train(spec, epochs=1, force=True) == 0  # --force: clean, whatever the status
    assert json.loads((run_dir / "seen.json").read_text()) == []
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "finished" and manifest["resumed"] is False


def test_orphan_checkpoints_without_a_record_are_not_resumed(workdir, monkeypatch):
    import recipes.train as train_mod
    monkeypatch.chdir(workdir)
    fake_checkpoint(workdir / RUN, 57, 1)  # written by a training jaft never recorded
    with pytest.raises(UsageError, match="no record of the options .* --force to start it clean"):
        train_mod.train(RunSpec.parse("tiny", "marc", "2e-4"), epochs=1)


def test_damaged_run_json_is_named_and_force_starts_clean(workdir, monkeypatch):
    import recipes.train as train_mod
    from jaft.common import DataError
    monkeypatch.chdir(workdir)
    spec = RunSpec.parse("tiny", "marc", "2e-4")
    fake_checkpoint(workdir / RUN, 57, 1)
    (workdir / RUN / "run.json").write_text('{"status": "runn')
    with pytest.raises(DataError, match="run.json: damaged run.json .*repair or delete it"):
        train_mod.train(spec, epochs=1)
    monkeypatch.setattr(train_mod, "axolotl_command", stand_in(SAVE_EPOCH_1))
    assert train_mod.train(spec, epochs=1, force=True) == 0
    assert json.loads((workdir / RUN / "seen.json").read_text()) == []


@pytest.mark.parametrize("damage", ["no trainer_state.json", "damaged trainer_state.json", "no adapter weights"])
def test_incomplete_checkpoints_are_set_aside_not_resumed(workdir, monkeypatch, damage):
    import recipes.train as train_mod
    monkeypatch.chdir(workdir)
    run_dir = workdir / RUN
    ck = fake_checkpoint(run_dir, 57, 1, state=damage != "no trainer_state.json",
                         adapter=damage != "no adapter weights")
    if damage.startswith("damaged"):
        (ck / "trainer_state.json").write_text('{"epoch": 1.0, "log_hi')
    (run_dir / "run.json").write_text(json.dumps({"run_id": "tiny-marc-lr2e-4", "status": "running"}))
    monkeypatch.setattr(train_mod, "axolotl_command", stand_in(SAVE_EPOCH_1))
    assert train_mod.train(RunSpec.parse("tiny", "marc", "2e-4"), epochs=1) == 0
    assert json.loads((run_dir / "seen.json").read_text()) == ["incomplete-checkpoint-57"]
    assert json.loads((run_dir / "run.json").read_text())["resumed"] is False


def test_full_disk_during_a_save_does_not_block_the_run(workdir, monkeypatch, capsys):
    """Case 5 with a real ENOSPC: train.log is /dev/full; the stand-in dies mid-save as Axolotl does."""
    import recipes.manifest as manifest_mod
    import recipes.train as train_mod
    monkeypatch.chdir(workdir)
    spec = RunSpec.parse("tiny", "marc", "2e-4")
    (workdir / RUN).mkdir(parents=True)
    (workdir / RUN / "train.log").symlink_to("/dev/full")
    monkeypatch.setattr(train_mod, "axolotl_command", stand_in(DISK_FULL_DURING_SAVE))
    assert train_mod.train(spec, epochs=1) == 1
    err = capsys.readouterr().err
    assert "warning: cannot write runs/tiny-marc-lr2e-4/train.log (No space left on device)" in err
    assert "error: tiny-marc-lr2e-4: axolotl exited 1" in err and "Traceback" not in err
    assert json.loads((workdir / RUN / "run.json").read_text())["status"] == "failed"
    # The next train sets the half save aside and starts; its run.json write meets a full disk too.
    (workdir / RUN / "train.log").unlink()
    update = manifest_mod.update

    def full_disk_at_the_end(run_dir, **fields):
        if fields.get("status") == "finished":
            raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "run.json"))
        return update(run_dir, **fields)
    monkeypatch.setattr(manifest_mod, "update", full_disk_at_the_end)
    monkeypatch.setattr(train_mod, "axolotl_command", stand_in(SAVE_EPOCH_1))
    assert train_mod.train(spec, epochs=1) == 1
    err = capsys.readouterr().err
    assert "checkpoint-57 is an incomplete save (no trainer_state.json); set aside as incomplete-checkpoint-57" in err
    assert "error: tiny-marc-lr2e-4: could not record status 'finished'" in err and "Traceback" not in err
    assert json.loads((workdir / RUN / "seen.json").read_text()) == ["incomplete-checkpoint-57"]
    assert json.loads((workdir / RUN / "run.json").read_text())["status"] == "running"
    monkeypatch.setattr(manifest_mod, "update", update)
    assert train_mod.train(spec, epochs=1) == 0  # resumes its complete checkpoint
    assert json.loads((workdir / RUN / "run.json").read_text())["resumed"] is True


def test_environment_errors_are_one_line(capsys):
    def main(argv):
        raise OSError(errno.EROFS, "Read-only file system", "runs/x/scores.json")
    assert run(main, []) == 1
    assert capsys.readouterr().err == "error: runs/x/scores.json: Read-only file system\n"


# ---- case 6: one-line errors -------------------------------------------------------------------------

@pytest.mark.parametrize("value, message", [
    ("lora_r=[1,", "bad --set 'lora_r=[1,': the value is not valid YAML"),
    ("lora_r=abc", "Axolotl refuses the recipe: lora_r: Input should be a valid integer"),
])
def test_bad_set_values_are_one_line_errors(tmp_path, value, message):
    proc = cli("recipes", "render", "tiny", "marc", "2e-4", "--set", value, cwd=tmp_path)
    assert proc.returncode == 2 and message in one_line_error(proc)
    assert not (tmp_path / "runs").exists()


def test_damaged_trainer_state_stops_only_its_own_run(tmp_path):
    runs = tmp_path / "runs"
    broken = fake_finished_run(runs, lr="2e-4")
    (broken / "checkpoint-57" / "trainer_state.json").write_bytes(b"\x00\x00{")
    fine = fake_finished_run(runs, lr="5e-5", scored=True)
    proc = cli("eval", "eval", cwd=tmp_path)
    assert proc.returncode == 2
    assert "checkpoint-57: damaged trainer_state.json" in one_line_error(proc)
    assert f"{fine.name}: up to date" in proc.stderr


def test_eval_with_nothing_to_do_writes_nothing(tmp_path):
    """A read-only runs folder: `just eval` used to rewrite scores.json even with nothing to do."""
    run_dir = fake_finished_run(tmp_path / "runs", epochs=2, scored=True)
    before = snapshot(run_dir)
    mode = run_dir.stat().st_mode
    for path in [run_dir, *run_dir.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        proc = cli("eval", "eval", cwd=tmp_path)
    finally:
        for path in [run_dir, *run_dir.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        run_dir.chmod(mode)
    assert proc.returncode == 0 and "up to date" in proc.stderr, proc.stderr
    assert snapshot(run_dir) == before


def test_non_utf8_predictions_are_one_line_errors(tmp_path):
    run_dir = fake_finished_run(tmp_path / "runs")
    ck = run_dir / "checkpoint-57"
    out = run_dir / "eval" / "epoch-1"
    out.mkdir(parents=True)
    (out / "checkpoint.json").write_text(json.dumps(epoch_record(ck)))
    (out / "predictions.jsonl").write_bytes('{"id": 1, "raw": "caf\u00e9"}\n'.encode("latin-1"))
    proc = cli("eval", "eval", cwd=tmp_path)
    assert proc.returncode == 2
    assert "eval/epoch-1/predictions.jsonl:1: not UTF-8 text" in one_line_error(proc)


# ---- case 8: reports that hide nothing ------------------------------------------------------------------

@pytest.fixture
def reported(tmp_path):
    """A runs folder with two scored cells and an earlier report of it in reports/."""
    runs = tmp_path / "runs"
    write_scores(runs, "calm2", "marc", "2e-4", {"accuracy": 0.9})
    write_scores(runs, "calm2", "marc", "5e-5", {"accuracy": 0.8})
    cli("report", "--runs", str(runs), "--out", str(tmp_path / "reports"), "--no-plots", cwd=tmp_path, check=True)
    return tmp_path


def test_report_on_a_missing_runs_folder_or_into_a_file_is_refused(reported):
    before = snapshot(reported / "reports")
    proc = cli("report", "--runs", "typo-dir", "--out", "reports", cwd=reported)
    assert proc.returncode == 2 and "--runs typo-dir: no such folder" in one_line_error(proc)
    (reported / "afile").write_text("mine")
    proc = cli("report", "--runs", "runs", "--out", "afile", cwd=reported)
    assert proc.returncode == 2 and "--out afile is a file" in one_line_error(proc)
    (reported / "notes").mkdir()
    (reported / "notes" / "mine.txt").write_text("mine")
    proc = cli("report", "--runs", "runs", "--out", "notes", cwd=reported)
    assert proc.returncode == 2 and "not a jaft report" in one_line_error(proc)
    assert snapshot(reported / "reports") == before and (reported / "afile").read_text() == "mine"


def test_failed_runs_are_marked_and_listed(reported):
    failed = reported / "runs" / "calm2-marc-lr2e-5"
    failed.mkdir()
    (failed / "run.json").write_text(json.dumps({"run_id": failed.name, "model": "calm2", "task": "marc",
                                                 "lr": "2e-5", "variant": None, "status": "failed",
                                                 "error": "axolotl exited 1"}))
    swept = reported / "runs" / "llama2-7b-marc-lr1e-5"  # sweep's record of a train that wrote nothing
    swept.mkdir()
    (swept / "run.json").write_text(json.dumps({"run_id": swept.name, "status": "failed", "error": "train exited 2"}))
    cli("report", "--runs", "runs", "--out", "reports", "--no-plots", cwd=reported, check=True)
    md = (reported / "reports" / "table3.md").read_text()
    assert "| CALM2 7B | **90.00** | 80.00 | ✗ | – |" in md and "| Llama-2 7B | – | – | – | ✗ |" in md
    assert "✗: the run failed" in md and r"$\times$" in (reported / "reports" / "table3.tex").read_text()
    readme = (reported / "reports" / "README.md").read_text()
    assert "| calm2-marc-lr2e-5 | axolotl exited 1 |" in readme and "| llama2-7b-marc-lr1e-5 | train exited 2 |" in readme  # noqa: E501


def test_two_runs_of_one_cell_and_seed_are_an_error_naming_both(reported):
    before = snapshot(reported / "reports")
    copy = reported / "runs" / "calm2-marc-lr2e-4-copy"
    copy.mkdir()
    (copy / "scores.json").write_text((reported / "runs" / "calm2-marc-lr2e-4" / "scores.json").read_text())
    proc = cli("report", "--runs", "runs", "--out", "reports", "--no-plots", cwd=reported)
    line = one_line_error(proc)
    assert proc.returncode == 2 and "two scored runs for one cell (calm2, marc, 2e-4, seed 42)" in line
    assert "runs/calm2-marc-lr2e-4 and runs/calm2-marc-lr2e-4-copy" in line
    assert snapshot(reported / "reports") == before
    scores = json.loads((copy / "scores.json").read_text())
    (copy / "scores.json").write_text(json.dumps({**scores, "seed": 7, "best": {**scores["best"], "metrics": {"accuracy": 0.1}}}))  # noqa: E501
    proc = cli("report", "--runs", "runs", "--out", "reports", "--no-plots", cwd=reported)
    # Another seed of the cell is no clash: the cell shows the mean over both (90 and 10), bold by the mean.
    assert proc.returncode == 0, proc.stderr
    assert "| CALM2 7B | 50.00±56.57 (n=2) | **80.00** |" in (reported / "reports" / "table3.md").read_text()


def test_a_damaged_predictions_file_is_named_and_its_cell_marked(reported):
    preds = reported / "runs" / "calm2-marc-lr2e-4" / "eval" / "epoch-1" / "predictions.jsonl"
    preds.parent.mkdir(parents=True)
    row = {"id": 1, "prompt": "p", "raw": "positive", "prediction": "positive", "references": ["positive"]}
    preds.write_text(json.dumps(row) + "\n" + json.dumps({**row, "id": 2})[:20])  # cut last line
    for _ in range(2):  # and the report after it works as well
        proc = cli("report", "--runs", "runs", "--out", "reports", "--no-plots", cwd=reported)
        assert proc.returncode == 0, proc.stderr
        assert "predictions.jsonl:2: not valid JSON" in proc.stderr and "marked †" in proc.stderr
    md = (reported / "reports" / "table3.md").read_text()
    assert "| CALM2 7B | **90.00†** | 80.00 |" in md and "†: its predictions file is damaged" in md
    assert "predictions.jsonl:2: not valid JSON" in (reported / "reports" / "README.md").read_text()


def test_a_report_that_fails_midway_leaves_the_previous_one_whole(reported, monkeypatch):
    from report import __main__ as report_main
    from report import intervals
    before = snapshot(reported / "reports")
    monkeypatch.chdir(reported)

    def crash(*args):
        raise RuntimeError("killed midway")
    monkeypatch.setattr(intervals, "to_markdown", crash)
    with pytest.raises(RuntimeError):
        report_main.main(["--runs", "runs", "--out", "reports", "--no-plots"])
    assert snapshot(reported / "reports") == before
    assert sorted(p.name for p in reported.iterdir()) == [".reports.lock", "reports", "runs"]


def test_two_reports_at_once_never_mix(reported):
    other = reported / "other"
    write_scores(other, "calm2", "marc", "2e-4", {"accuracy": 0.1})
    env = {**os.environ}
    procs = [subprocess.Popen([sys.executable, "-m", "report", "--runs", str(runs), "--out", "reports"],
                              cwd=reported, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for runs in ("runs", "other", "runs", "other")]
    assert [p.wait() for p in procs] == [0] * 4, [p.stderr.read() for p in procs]
    out = reported / "reports"
    table3 = (out / "table3.md").read_text()
    from_runs = "80.00" in table3
    assert ("10.00" in table3) != from_runs
    readme = (out / "README.md").read_text()
    assert ("calm2-marc-lr5e-5" in readme) == from_runs  # every file from the same report
    assert ("80.00" in (out / "comparison.md").read_text()) == from_runs
    assert {p.name for p in out.iterdir()} >= {"table3.md", "table5.tex", "intervals.md", "score_vs_lr_marc.png"}
    assert [p.name for p in reported.iterdir() if p.name.startswith(".reports.")] == [".reports.lock"]
