"""The GPU's launch line on the CPU: `just train` with `axolotl train ... --launcher accelerate` (what jaft
builds whenever CUDA is there), so that a GPU user's first run does not discover a broken launch line or a
plugin Axolotl cannot import. JAFT_LAUNCHER forces the launcher."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from jaft.common import atomic_write_jsonl
from recipes.manifest import checkpoints
from tests.conftest import SAMPLES, cli, just


def few_rows(tmp_path: Path, n: int = 12) -> Path:
    """A project with MARC-ja prepared from the first rows of the bundled samples."""
    src = tmp_path / "src"
    for split, count in (("train", n), ("validation", 4)):
        lines = (SAMPLES / "marc" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:count]
        atomic_write_jsonl(src / f"{split}.jsonl", [json.loads(line) for line in lines])
    project = tmp_path / "p"
    project.mkdir()
    cli("prompts", "data", "marc", "--from", str(src), cwd=project, check=True)
    return project


def without_venv_on_path() -> str:
    """PATH as a user has it who runs `.venv/bin/just train` without activating the virtualenv."""
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)


@pytest.mark.e2e
def test_train_through_the_accelerate_launcher(tmp_path, tiny_model):
    project = few_rows(tmp_path)
    proc = just("train", "tiny", "marc", "2e-4", "--epochs", "1", cwd=project,
                env={"JAFT_LAUNCHER": "accelerate", "PATH": without_venv_on_path()})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--launcher accelerate" in proc.stderr
    assert "`accelerate launch` and had defaults used instead" in proc.stderr  # accelerate's own launcher ran
    run = project / "runs" / "tiny-marc-lr2e-4"
    assert [e for e, _ in checkpoints(run)] == [1]
    log = (run / "train.log").read_text()
    assert "Plugin loaded successfully: recipes.vram_cap.VramCapPlugin" in log
    assert "jaft vram cap: no CUDA device" in log  # the plugin ran inside the launched process


def test_an_unknown_launcher_is_one_line_and_writes_nothing(tmp_path):
    project = few_rows(tmp_path)
    proc = just("train", "tiny", "marc", "2e-4", cwd=project, env={"JAFT_LAUNCHER": "torchrun"})
    assert proc.returncode == 2
    assert "error: unknown launcher (JAFT_LAUNCHER) 'torchrun'; valid: accelerate, python" in proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr
    assert not (project / "runs").exists()
