"""JAFT_LAUNCHER forces the launcher. The GPU's launch line itself (`axolotl train ... --launcher accelerate`,
what jaft builds whenever CUDA is there) trains on the CPU in tests/test_gpu_proof.py's tiny proof, with the
virtualenv off PATH, so that a GPU user's first run does not discover a broken launch line or a plugin
Axolotl cannot import: one training proves both."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import cli, just, sample_slice


def few_rows(tmp_path: Path, n: int = 12) -> Path:
    """A project with MARC-ja prepared from the first rows of the bundled samples."""
    src = sample_slice("marc", tmp_path / "src", n, 4)
    project = tmp_path / "p"
    project.mkdir()
    cli("prompts", "data", "marc", "--from", str(src), cwd=project, check=True)
    return project


def test_an_unknown_launcher_is_one_line_and_writes_nothing(tmp_path):
    project = few_rows(tmp_path)
    proc = just("train", "tiny", "marc", "2e-4", cwd=project, env={"JAFT_LAUNCHER": "torchrun"})
    assert proc.returncode == 2
    assert "error: unknown launcher (JAFT_LAUNCHER) 'torchrun'; valid: accelerate, python" in proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr
    assert not (project / "runs").exists()
