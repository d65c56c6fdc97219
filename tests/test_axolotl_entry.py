"""recipes/axolotl_entry.py: Axolotl's CLI started as a module ends the way a normal exit would (its exit code,
non-daemon threads joined, every atexit handler run), only without the interpreter teardown. Checked with a
stand-in `axolotl.cli.main` on the path, so the test runs in a second."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

STAND_IN = '''
import atexit, sys, threading, time
from pathlib import Path

OUT = Path(sys.argv[-1])

def main():
    atexit.register(lambda: (OUT / "atexit").write_text("ran"))  # e.g. a tracker finishing its run
    def late():
        time.sleep(0.3)
        (OUT / "thread").write_text("joined")
    threading.Thread(target=late).start()  # a non-daemon thread still writing when main() returns
    print("training output", flush=False)  # buffered: must still reach the pipe
    {end}
'''


def run_entry(tmp_path: Path, end: str) -> subprocess.CompletedProcess:
    fake = tmp_path / "fake"
    (fake / "axolotl" / "cli").mkdir(parents=True)
    (fake / "axolotl" / "__init__.py").write_text("")
    (fake / "axolotl" / "cli" / "__init__.py").write_text("")
    (fake / "axolotl" / "cli" / "main.py").write_text(STAND_IN.format(end=end))
    return subprocess.run([sys.executable, "-P", "-m", "recipes.axolotl_entry", "train", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": f"{fake}:{REPO}", "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("end, code", [("sys.exit(3)", 3), ("sys.exit(0)", 0), ("return None", 0),
                                       ("raise RuntimeError('boom')", 1)])
def test_exit_code_threads_and_atexit_handlers_survive_the_fast_exit(tmp_path, end, code):
    proc = run_entry(tmp_path, end)
    assert proc.returncode == code, proc.stderr
    assert (tmp_path / "atexit").read_text() == "ran" and (tmp_path / "thread").read_text() == "joined"
    assert "training output" in proc.stdout
    if code == 1:
        assert "RuntimeError: boom" in proc.stderr  # the traceback is printed before the exit


def test_a_folder_named_recipes_where_the_user_stands_shadows_nothing(tmp_path):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "axolotl_entry.py").write_text("raise SystemExit('the user folder was imported')")
    proc = run_entry(tmp_path, "sys.exit(0)")
    assert proc.returncode == 0, proc.stderr
