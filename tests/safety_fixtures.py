"""Helpers for the safety tests: run folders built by hand, a stand-in for Axolotl, process checks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import REPO


def fake_checkpoint(run_dir: Path, step: int, epoch: int, *, state=True, adapter=True) -> Path:
    """A checkpoint folder as the Trainer leaves it (weights, then trainer_state.json)."""
    path = run_dir / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if adapter:
        (path / "adapter_model.safetensors").write_bytes(safetensors_bytes(os.urandom(64)))
    if state:
        history = [{"epoch": float(e), "eval_loss": 2.0 / e} for e in range(1, epoch + 1)]
        (path / "trainer_state.json").write_text(json.dumps({"epoch": float(epoch), "log_history": history}))
    return path


def safetensors_bytes(data: bytes) -> bytes:
    """A whole safetensors file holding `data` as one uint8 tensor (its header says how long it is)."""
    header = json.dumps({"w": {"dtype": "U8", "shape": [len(data)], "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + data


def fake_finished_run(runs: Path, model: str = "tiny", task: str = "marc", lr: str = "2e-4", epochs: int = 1,
                      scored: bool = False) -> Path:
    """A finished run with `epochs` checkpoints; with `scored`, every epoch scored from its checkpoint and
    the run's scores.json written, exactly as `just eval` leaves them."""
    run_id = f"{model}-{task}-lr{lr}"
    run = runs / run_id
    run.mkdir(parents=True)
    manifest = {"run_id": run_id, "model": model, "task": task, "lr": lr, "variant": None, "seed": 42,
                "status": "finished"}
    (run / "run.json").write_text(json.dumps(manifest))
    for epoch in range(1, epochs + 1):
        fake_checkpoint(run, 57 * epoch, epoch)
    if scored:
        from eval.runner import write_run_scores
        from recipes.manifest import checkpoints, fingerprint
        for epoch, ck in checkpoints(run):
            out = run / "eval" / f"epoch-{epoch}"
            out.mkdir(parents=True)
            (out / "checkpoint.json").write_text(json.dumps(epoch_record(ck, task)))
            (out / "scores.json").write_text(json.dumps({
                "epoch": epoch, "split": "validation", "n": 2, "metrics": {"accuracy": 0.5}, "limit": None,
                "checkpoint": ck.name, "checkpoint_fingerprint": fingerprint(ck),
                "inputs": epoch_record(ck, task)["inputs"]}))
        write_run_scores(run, manifest)
    return run


def epoch_record(checkpoint: Path, task: str = "marc") -> dict:
    """An epoch's checkpoint.json as `just eval` writes it: the checkpoint's fingerprint and the inputs (data,
    generation settings) of a plain `just eval` in the current folder."""
    from eval.inputs import current
    from recipes.manifest import fingerprint
    return {**fingerprint(checkpoint), "inputs": current(task, "hf", None)}


def hold_lock(run_dir: Path, command: str = "python -m eval eval") -> subprocess.Popen:
    """A real second process holding the run's lock (as a running train or eval does) until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.argv = {command.split()!r}
        from recipes.lock import RunLock
        lock = RunLock({str(run_dir)!r}).acquire()
        print("locked", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "locked"
    return proc


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


# A stand-in for `axolotl train`: a process that forks a worker (as dataloaders and accelerate do), writes
# both pids where the test reads them, says it started, and trains "forever".
FOREVER = textwrap.dedent("""
    import json, os, subprocess, sys, time
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.environ["JAFT_TEST_PIDS"], "w") as f:
        json.dump([os.getpid(), worker.pid], f)
    print("Starting trainer...", flush=True)
    time.sleep(600)
""")


def fake_axolotl_run(axolotl_code: str, args: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    """A real jaft process (`python -m recipes ...`) in which only Axolotl's command is replaced."""
    code = textwrap.dedent(f"""
        import sys
        import recipes.train
        recipes.train.axolotl_command = lambda recipe: [sys.executable, "-c", {axolotl_code!r}]
        from jaft.common import run
        from recipes.__main__ import main
        sys.argv = ["recipes/__main__.py"] + {args!r}
        sys.exit(run(main, {args!r}))
    """)
    return subprocess.Popen([sys.executable, "-c", code], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO), **env})
