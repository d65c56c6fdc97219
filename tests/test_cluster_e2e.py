"""`just sweep --ray local` end to end: a Ray cluster started on this machine's CPUs (runs ask for CPUs),
the tiny model trained with real Axolotl over two learning rates on a slice of the bundled samples.

One sweep carries the main contracts: both runs finish, are scored and reported, although each loses a
task mid-training and is retried and resumes from its checkpoint: one run's Ray worker is killed with its
whole process group (what a node going down does), the other's training processes alone (a preemption,
the OOM killer). A second sweep starts nothing; Ctrl-C marks a run in progress interrupted."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLES

pytestmark = pytest.mark.e2e  # real Axolotl training on the tiny model, on a local Ray cluster

NODE_LOST = "tiny-marc-lr2e-4"   # its Ray worker's process group is killed
STEP_KILLED = "tiny-marc-lr5e-5"  # its `just train` and Axolotl are killed, the worker lives


def sweep(ws: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "JAFT_DATA": str(ws / "data"), "JAFT_RUNS": str(ws / "runs"),
           "JAFT_REPORTS": str(ws / "reports")}
    return subprocess.Popen([sys.executable, "-m", "pipeline", "sweep", "--ray", "local", "--models", "tiny",
                             "--tasks", "marc", "--ray-cpus-per-run", "1", "--limit", "8", "--data-from",
                             str(ws / "src"), *args], cwd=ws, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def workspace(root: Path) -> Path:
    """A slice of the MARC-ja samples: 48 training rows (12 steps an epoch), 12 validation rows."""
    src = root / "src" / "marc"
    src.mkdir(parents=True)
    for split, n in (("train", 48), ("validation", 12)):
        lines = (SAMPLES / "marc" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        (src / f"{split}.jsonl").write_text("".join(lines[:n]), encoding="utf-8")
    return root


def train_processes(ws: Path, lr: str) -> list[int]:
    """Pids of `python -m recipes train tiny marc LR` working in this workspace (other tests may train too)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"recipes" in argv and argv[argv.index(b"recipes") + 1:][:4] == [b"train", b"tiny", b"marc", lr.encode()] \
                and f"JAFT_RUNS={ws / 'runs'}".encode() in environ:
            found.append(int(pid))
    return found


def wait_for(what, timeout: float, proc: subprocess.Popen):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = what()
        if found:
            return found
        assert proc.poll() is None, f"the sweep ended early:\n{proc.communicate()[1][-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s")


def after_first_checkpoint(ws: Path, run_id: str, proc: subprocess.Popen) -> list[int]:
    """The run's training processes once it saved its first epoch (and went on into the second)."""
    wait_for(lambda: list((ws / "runs" / run_id).glob("checkpoint-*/trainer_state.json")), 600, proc)
    time.sleep(0.5)  # past the checkpoint's last file
    pids = train_processes(ws, run_id.rsplit("-lr", 1)[1])
    assert pids, f"{run_id} finished training before it could be killed"
    return pids


def lose_node(ws: Path, proc: subprocess.Popen) -> None:
    """SIGKILL the Ray worker of NODE_LOST with its process group (worker, `just train`, Axolotl)."""
    group = os.getpgid(after_first_checkpoint(ws, NODE_LOST, proc)[0])
    assert group not in (os.getpgid(0), proc.pid)  # the Ray worker's own group, not ours or the driver's
    os.killpg(group, signal.SIGKILL)


def kill_step(ws: Path, proc: subprocess.Popen) -> None:
    """SIGKILL STEP_KILLED's `just train` and everything under it; its Ray worker lives on."""
    import psutil
    train = psutil.Process(after_first_checkpoint(ws, STEP_KILLED, proc)[0])
    for p in train.children(recursive=True) + [train]:
        p.kill()


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_model):
    ws = workspace(tmp_path_factory.mktemp("cluster"))
    proc = sweep(ws, "--lrs", "2e-4", "5e-5", "--epochs", "3")
    done = []
    killers = [threading.Thread(target=lambda f=f: (f(ws, proc), done.append(f.__name__)), daemon=True)
               for f in (lose_node, kill_step)]
    for k in killers:
        k.start()
    _, err = proc.communicate(timeout=900)
    for k in killers:
        k.join(timeout=5)
    assert proc.returncode == 0, err[-4000:]
    assert sorted(done) == ["kill_step", "lose_node"], "a kill never happened"
    return ws, err


def test_both_runs_finish_and_are_scored_and_reported(swept):
    ws, err = swept
    for run_id in (NODE_LOST, STEP_KILLED):
        run = ws / "runs" / run_id
        assert json.loads((run / "run.json").read_text())["status"] == "finished"
        scores = json.loads((run / "scores.json").read_text())
        assert [e["epoch"] for e in scores["epochs"]] == [1, 2, 3]
        assert f"{run_id}: done on node " in err
    table3 = (ws / "reports" / "table3.md").read_text()
    assert "| Tiny (test)" in table3 and "all 2 runs finished and scored" in err
    assert not list((ws / "runs").glob(".jaft-shared-check-*"))  # the storage check cleans up after itself


@pytest.mark.parametrize("run_id", [NODE_LOST, STEP_KILLED])
def test_a_killed_task_is_retried_and_resumes_from_its_checkpoint(swept, run_id):
    ws, err = swept
    starts = re.findall(rf"{run_id}: train \+ eval on node \S+ \(\w+\)(.*)", err)
    assert starts == ["", " (retry 1, after a lost attempt)"], err
    run = json.loads((ws / "runs" / run_id / "run.json").read_text())
    assert run["resumed"] is True and run["epochs_saved"] == 3
    assert "(resuming)" in (ws / "runs" / run_id / "sweep-train.log").read_text()  # the retry's `just train`


def test_a_second_sweep_starts_nothing(swept):
    ws = swept[0]
    stamp = (ws / "runs" / NODE_LOST / "run.json").stat().st_mtime
    proc = sweep(ws, "--lrs", "2e-4", "5e-5", "--epochs", "3")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "nothing to do" in err and "tasks submitted" not in err
    assert (ws / "runs" / NODE_LOST / "run.json").stat().st_mtime == stamp


def test_ctrl_c_cancels_the_tasks_and_marks_runs_interrupted(tmp_path, tiny_model):
    ws = workspace(tmp_path)
    run = ws / "runs" / "tiny-marc-lr1e-5"
    proc = sweep(ws, "--lrs", "1e-5", "--epochs", "3")
    running = lambda: (run / "run.json").is_file() and json.loads((run / "run.json").read_text())["status"] == "running"
    wait_for(running, 600, proc)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends the driver; Ray's own processes block it
    _, err = proc.communicate(timeout=200)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted: cancelling 1 tasks" in err and "tiny-marc-lr1e-5: interrupted" in err
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert "interrupted (SIGINT); `just train` again resumes" in (run / "sweep-train.log").read_text()  # not a kill
    assert train_processes(ws, "1e-5") == []  # nothing left training
