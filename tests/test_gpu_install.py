"""The GPU install command of docs/gpu.md resolves: pip's own resolver, asked for real against the registry
(`--dry-run --ignore-installed`: metadata only where the registry offers it, nothing installed), with every
dependency, not `--no-deps`, because the conflicts that broke it (flash-attn's build needing torch, vllm's
pins against Axolotl's) only show in a full resolve. About 1-2 minutes."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.registry


def documented_gpu_install() -> list[str]:
    """The arguments of docs/gpu.md's `.venv/bin/pip install` line for the gpu extra."""
    for line in (REPO / "docs" / "gpu.md").read_text(encoding="utf-8").splitlines():
        m = re.search(r"\.venv/bin/pip install (.*'\.\[gpu\]'.*?)\s*(#|$)", line)
        if m:
            return shlex.split(m.group(1))
    raise AssertionError("docs/gpu.md has no `.venv/bin/pip install ... '.[gpu]'` line")


def test_documented_gpu_install_resolves(tmp_path):
    args = documented_gpu_install()
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", str(report), *args], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    installs = json.loads(report.read_text())["install"]
    found = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in installs}
    assert found["deepspeed"] == "0.19.8" and found["axolotl"] == "0.19.0"
    assert found["torch"].split("+")[0] == "2.13.0" and found["transformers"] == "5.16.1"
    assert "flash-attn" not in found and "vllm" not in found
