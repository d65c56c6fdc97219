"""Issue 14's cases with real Axolotl on the tiny model: a real `just train` killed by a real signal, a real
`just eval` holding its run against a second eval and a `--force`, a cut save set aside by a real resume
(the suite's resume test)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.manifest import checkpoints, fingerprint
from tests.conftest import REPO, SAMPLES, copy_project, just
from tests.safety_fixtures import alive, wait_for

RUN = "runs/tiny-marc-lr2e-4"

pytestmark = pytest.mark.e2e


def processes_of(project: Path) -> list[int]:
    """Pids of the processes training in `project`: Axolotl (its command names a recipe.yaml) and jaft's
    watchdog, found by their working directory."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                here = os.readlink(proc / "cwd") == str(project.resolve())
            except OSError:
                continue
            if here and ("recipe.yaml" in cmdline or "recipes.watchdog" in cmdline) and alive(int(proc.name)):
                found.append(int(proc.name))
    return found


def lock_holder(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / ".lock").read_text() or "{}")
    except (OSError, ValueError):
        return {}


def test_sigterm_to_just_train_stops_axolotl_and_records_it(tmp_path, tiny_model):
    """Case 3: SIGTERM to the `just` process (just forwards it to jaft, jaft to Axolotl's group)."""
    from prompts.data import prepare
    from prompts.tasks import TASKS
    prepare(TASKS["marc"], SAMPLES / "marc", tmp_path / "data" / "marc")
    run_dir = tmp_path / RUN
    proc = subprocess.Popen([str(Path(sys.executable).with_name("just")), "--justfile", str(REPO / "justfile"),
                             "--working-directory", str(tmp_path), "train", "tiny", "marc", "2e-4", "--epochs", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "JAFT_KILL_GRACE_S": "10"})
    try:
        log = run_dir / "train.log"
        wait_for(lambda: log.is_file() and "Starting trainer" in log.read_text(errors="replace"), 600,
                 "Axolotl to start training")
        training = processes_of(tmp_path)
        assert len(training) >= 2, "no training process or watchdog found"
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "interrupted (SIGTERM); `just train` again resumes" in err, err[-3000:]
    wait_for(lambda: not any(alive(p) for p in training), 30, "every training process to end")
    assert processes_of(tmp_path) == []
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["error"] == "stopped by SIGTERM"


def test_a_running_eval_holds_its_run(trained, tmp_path):
    """Cases 1 and 2 with real processes: a second eval and a `train --force` during an eval are refused;
    the eval's numbers come from the checkpoints it names, each prediction once."""
    project = copy_project(trained, tmp_path / "p")
    run_dir = project / RUN
    proc = subprocess.Popen([str(Path(sys.executable).with_name("just")), "--justfile", str(REPO / "justfile"),
                             "--working-directory", str(project), "eval", "--batch-size", "1", "--limit", "24"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: "jaft eval" in lock_holder(run_dir).get("command", "")
                 and alive(lock_holder(run_dir)["pid"]), 300, "the eval to take its run's lock")
        pid = lock_holder(run_dir)["pid"]
        for args in (("eval",), ("train", "tiny", "marc", "2e-4", "--epochs", "2", "--force")):
            other = just(*args, cwd=project)
            assert other.returncode == 2, other.stderr[-2000:]
            assert (f"run tiny-marc-lr2e-4 is busy: held by `python -m jaft eval --batch-size 1 --limit 24` "
                    f"(pid {pid} on") in other.stderr
        assert proc.wait(600) == 0, proc.stderr.read()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    for epoch, checkpoint in checkpoints(run_dir):
        ids = [json.loads(line)["id"] for line in (run_dir / f"eval/epoch-{epoch}/predictions.jsonl").open()]
        assert len(ids) == len(set(ids)) == 24
        scores = json.loads((run_dir / f"eval/epoch-{epoch}/scores.json").read_text())
        assert scores["n"] == 24 and scores["checkpoint_fingerprint"]["sha256"] == fingerprint(checkpoint)["sha256"]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"  # --force changed nothing


def test_interrupted_run_resumes_from_its_last_whole_checkpoint(trained, tmp_path):
    """Cases 3 and 5: killed while saving epoch 2, the last save lost its trainer_state.json (a full disk) and
    the run says "running": other options are refused, `just train` sets the cut save aside and resumes
    from epoch 1 (Axolotl's own resume), and the cost counts both sessions. (One training stands for the
    plain resume too: a run killed during epoch 2 has the same whole checkpoint to resume from.)"""
    project = copy_project(trained, tmp_path / "p")
    run_dir = project / RUN
    (_, first), (_, last) = checkpoints(run_dir)
    (last / "trainer_state.json").unlink()
    shutil.rmtree(run_dir / "eval", ignore_errors=True)
    manifest = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**manifest, "status": "running"}))
    proc = just("train", "tiny", "marc", "2e-4", "--epochs", "2", "--set", "lora_r=8", cwd=project)
    assert proc.returncode == 2 and "checkpoints trained with lora_r 16; this command gives lora_r 8" in proc.stderr
    assert last.is_dir()  # a refusal moves nothing
    proc = just("train", "tiny", "marc", "2e-4", "--epochs", "2", cwd=project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{last.name} is an incomplete save (no trainer_state.json); set aside as incomplete-{last.name}" \
        in proc.stderr
    assert f"resume from checkpoint at {RUN}/{first.name}" in proc.stderr  # Axolotl's own log line
    assert "(resuming)" in proc.stderr
    assert [e for e, _ in checkpoints(run_dir)] == [1, 2] and (run_dir / f"incomplete-{last.name}").is_dir()
    after = json.loads((run_dir / "run.json").read_text())
    assert after["status"] == "finished" and after["resumed"] is True
    # The cost counts both sessions; the trainer's token count carries on from the checkpoint.
    assert after["cost"]["sessions"] == 2 and after["cost"]["wall_s"] > manifest["cost"]["wall_s"]
    one_epoch = json.loads((first / "trainer_state.json").read_text())["num_input_tokens_seen"]
    assert after["cost"]["tokens"] == 2 * one_epoch == manifest["cost"]["tokens"]
