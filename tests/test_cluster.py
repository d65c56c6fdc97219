"""`just sweep --ray`'s parts that need no cluster: the missing-Ray error, the dry run's resources, how a
step is run inside a Ray task (interruptible, a kill is a lost run), the shared-storage and capacity checks.
The cluster itself (a local Ray instance training the tiny model) is in test_cluster_e2e.py."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from jaft.common import UsageError, run
from pipeline import cluster
from pipeline.sweep import gpu_slots, main as sweep_main
from tests.conftest import cli


def test_ray_without_ray_installed_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code = run(sweep_main, ["--ray", "local", "--models", "tiny", "--tasks", "marc", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and err.splitlines() == [
        "error: --ray needs Ray, which is not installed here: pip install -e '.[cluster]'"]
    assert list(tmp_path.iterdir()) == []


def test_dry_run_on_ray_lists_runs_and_resources_without_connecting(tmp_path):
    proc = cli("pipeline", "sweep", "--ray", "local", "--models", "tiny", "--tasks", "marc", "--lrs", "2e-4", "5e-5",
               "--ray-cpus-per-run", "2", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "tiny-marc-lr2e-4                     train + eval, asks for 2 CPUs" in proc.stderr
    assert "2 runs, 2 to do, on Ray (local), each asking for 2 CPUs" in proc.stderr
    assert "Ray instance" not in proc.stderr and list(tmp_path.iterdir()) == []  # no cluster started
    proc = cli("pipeline", "sweep", "--ray", "--models", "llama2-13b", "--tasks", "xlsum", "--lrs", "2e-4",
               "--gpus-per-run", "2", "--dry-run", cwd=tmp_path)
    assert "llama2-13b-xlsum-lr2e-4              train + eval, asks for 2 GPUs" in proc.stderr
    assert "on Ray (auto)" in proc.stderr


@pytest.mark.parametrize("args, bad", [
    (["--ray", "--gpus", "0,1"], "--gpus and --jobs place runs on this machine"),
    (["--ray", "--jobs", "2"], "--gpus and --jobs place runs on this machine"),
    (["--ray-cpus-per-run", "2"], "--ray-cpus-per-run is for --ray"),
    (["--ray", "--ray-cpus-per-run", "0"], "--ray-cpus-per-run must be at least 1, got 0"),
    (["--gpus", "0", "--gpus-per-run", "2"], "--gpus 0 has fewer GPUs than --gpus-per-run 2"),
    (["--deepspeed", "zero9.json"], "--deepspeed zero9.json: no such file"),
])
def test_bad_placement_options_are_one_line_errors(tmp_path, args, bad):
    proc = cli("pipeline", "sweep", "--models", "tiny", "--tasks", "marc", *args, "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [proc.stderr.strip()] and bad in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_gpus_are_grouped_by_gpus_per_run():
    assert gpu_slots(["0", "1", "2", "3"], 1) == ["0", "1", "2", "3"]
    assert gpu_slots(["0", "1", "2", "3", "4"], 2) == ["0,1", "2,3"]


def test_a_step_killed_by_a_signal_is_a_lost_run_and_an_exit_code_is_not(tmp_path):
    with (tmp_path / "log").open("w") as log:
        assert cluster.call_step([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ), log) == 3
        with pytest.raises(cluster.RunLost, match="killed by SIGKILL"):
            cluster.call_step([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
                              dict(os.environ), log)


def test_a_step_can_be_interrupted_although_ray_workers_block_sigint(tmp_path):
    """Ray's processes block SIGINT and children inherit the mask: a step must unblock it."""
    out = tmp_path / "mask"
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # as in a Ray worker
    try:
        with (tmp_path / "log").open("w") as log:
            cluster.call_step(["bash", "-c", f"grep SigBlk /proc/self/status > {out}"], dict(os.environ), log)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    assert int(out.read_text().split()[1], 16) & (1 << (signal.SIGINT - 1)) == 0


def test_interrupt_reaches_every_process_of_a_step(tmp_path):
    """Cancel after Ctrl-C: the step and its children (`just train` and Axolotl) each get SIGINT."""
    child = ("import pathlib, sys, time\n"
             "try:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    pathlib.Path(sys.argv[1]).write_text('int')\n")
    parent = (f"import subprocess, sys, time\np = subprocess.Popen([sys.executable, '-c', {child!r}, sys.argv[2]])\n"
              f"{child}")
    proc = subprocess.Popen([sys.executable, "-c", parent, str(tmp_path / "parent"), str(tmp_path / "child")])
    time.sleep(1.5)  # both started
    cluster.interrupt_tree(proc.pid, grace_s=20)
    assert proc.wait(timeout=5) == 0
    assert (tmp_path / "parent").read_text() == "int" and (tmp_path / "child").read_text() == "int"


def test_a_node_that_cannot_read_the_markers_is_found(tmp_path):
    (tmp_path / "ok").write_text("t1")
    (tmp_path / "other").write_text("someone else's")
    markers = {str(tmp_path / "ok"): "t1", str(tmp_path / "other"): "t1", str(tmp_path / "absent"): "t1"}
    assert cluster.unreadable(markers) == [str(tmp_path / "other"), str(tmp_path / "absent")]


def test_a_grid_no_node_can_run_is_refused(monkeypatch):
    import ray
    nodes = [{"Alive": True, "NodeID": "ab" * 28, "NodeManagerAddress": "10.0.0.5",
              "Resources": {"CPU": 8.0, "memory": 1e10}},
             {"Alive": False, "NodeID": "cd" * 28, "NodeManagerAddress": "10.0.0.6", "Resources": {"GPU": 8.0}}]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    with pytest.raises(UsageError, match=r"no node of the Ray cluster has 1 GPU for a run \(10\.0\.0\.5: 0 GPU, "
                                         r"8 CPU\); on a cluster without GPUs pass --ray-cpus-per-run N"):
        cluster.check_cluster(cluster.Ask.of(1, None))
    assert cluster.check_cluster(cluster.Ask.of(1, 4)) == nodes[:1]


def test_an_address_where_no_cluster_answers_is_a_one_line_error_at_once():
    start = time.monotonic()
    with pytest.raises(UsageError, match=r"^cannot reach a Ray cluster at '127\.0\.0\.1:1' \(Connection refused\); "
                                         r"start one with `ray start --head`, or use --ray local$"):
        cluster.connect("127.0.0.1:1", {})
    assert time.monotonic() - start < 15


def test_the_tasks_runtime_env_carries_the_tracker_and_the_sweep_run(tmp_path, monkeypatch):
    """`sweep --ray --track mlflow`: a Ray task sees the tracker, the sweep's parent run and its store (Ray's
    runtime env; no cluster started: ray.init is replaced)."""
    import ray

    from jaft import settings
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "environ", dict(os.environ))  # shared_env also sets them here: undone after
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.lab:5000")
    seen = {}
    monkeypatch.setattr(ray, "init", lambda **kw: seen.update(kw))
    with settings.use(settings.changed(track="mlflow", mlflow_parent="abc123", wandb_mode="offline")):
        cluster.connect("local", cluster.shared_env(set()))
    env = seen["runtime_env"]["env_vars"]
    assert env["JAFT_TRACK"] == "mlflow" and env["JAFT_MLFLOW_PARENT_RUN_ID"] == "abc123"
    assert env["JAFT_WANDB_MODE"] == "offline" and env["MLFLOW_TRACKING_URI"] == "http://mlflow.lab:5000"
    assert env["JAFT_RUNS"] == str(tmp_path / "runs") and "JAFT_INVOCATION_DIR" not in env
    # a password in the store's address is not handed to Ray (it would show it): set it on each node
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://alice:s3cret@mlflow.lab:5000")
    with settings.use(settings.changed(track="mlflow")):
        assert "MLFLOW_TRACKING_URI" not in cluster.shared_env(set())
