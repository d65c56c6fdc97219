"""Shared fixtures: the repository, a CLI runner, the tiny model (built once into .cache/), prepared data."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "prompts" / "samples"
FIXTURES = Path(__file__).parent / "fixtures"
# Every JAFT_* variable of the user's shell is cleared (a test that wants one sets it): with JAFT_RUNS set as
# the docs tell users to, the suite must not write into the user's runs.
for _name in [n for n in os.environ if n.startswith("JAFT_")]:
    del os.environ[_name]
os.environ["JAFT_TINY_DIR"] = str(REPO / ".cache" / "tiny-model")
# Tests never reach a hub: every load is local.
os.environ.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "AXOLOTL_DO_NOT_TRACK": "1",
                   "WANDB_MODE": "disabled"})


def cli(*args: str, cwd: Path, check: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m <args>` as a user would, in `cwd`."""
    proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def just(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`just ARGS` typed in `cwd`, the project folder (paths typed are relative to it, as runs/ and data/ are)."""
    exe = Path(sys.executable).with_name("just")
    return subprocess.run([str(exe), "--justfile", str(REPO / "justfile"), "--working-directory", str(cwd),
                           *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})


# `e2e` marks the tests that train the tiny model with real Axolotl, and only those, so that
# `-m 'not e2e'` is the whole fast suite. Checked at collection, as far as fixtures show it: a test using a
# shared training run must be marked, and a marked test must at least need the tiny model (a test that
# trains inline, like test_registry's, requests `tiny_model` and carries the marker by hand).
TRAINING_FIXTURES = {"trained", "evaluated", "demo", "ten_epochs"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything
def pytest_collection_modifyitems(config, items):
    wrong = []
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        marked = item.get_closest_marker("e2e") is not None
        if (TRAINING_FIXTURES & uses and not marked) or (marked and "tiny_model" not in uses):
            wrong.append(item.nodeid)
    if wrong:
        raise pytest.UsageError(f"e2e marker on a test that cannot train, or missing on one using "
                                f"{sorted(TRAINING_FIXTURES)}: {', '.join(wrong)}")
    if not config.getoption("registry"):
        leave_out_registry_tests(config, items)
    group_for_workers(items)


def pytest_addoption(parser):
    parser.addoption("--registry", action="store_true",
                     help="also run the tests marked `registry`, which ask PyPI (left out by default)")


# A test never reaches the network by default: the `registry` tests (pip's resolver asked about docs/gpu.md's
# install line) run only with `just test --registry` (docs/commands.md), and are listed as deselected otherwise.
def leave_out_registry_tests(config, items) -> None:
    out = [item for item in items if item.get_closest_marker("registry") is not None]
    if out:
        config.hook.pytest_deselected(items=out)
        items[:] = [item for item in items if item.get_closest_marker("registry") is None]


# `just test` runs the suite on two pytest-xdist workers (`--dist loadgroup`): run alone, it keeps about one
# of two cores busy (imports, tokenizers, Axolotl's start). A group runs on one worker, so a fixture is built
# once: the tests sharing the session's `trained` run form one group, every other module is its own (its
# module fixtures: a sweep, a study, the demo). Trainings go first, so the long groups do not start last
# (`--no-loadscope-reorder` keeps this order; xdist would otherwise sort groups by their number of tests).
# Without `-n` the groups change nothing. pytest-xdist 3.8 names the group by rewriting `item._nodeid`, which
# pytest 9.2 no longer reads (its groups were silently ignored and every module fixture was built once per
# test): pytest stays at 9.1.1, and `pytest_xdist_node_collection_finished` below stops the run if they are
# lost again.
SESSION_TRAINING = {"trained", "evaluated"}


# The longest groups, longest first (`just test --durations=0`, summed per group): a worker holds its group
# and the next, so the longest must be handed out first or one of them runs alone at the end.
LONGEST_FIRST = ["test_demo_sweep", "test_twins_e2e", "trained", "test_cluster_e2e", "test_tune_e2e"]  # 2026-12-01


def group_for_workers(items) -> None:
    groups = {}
    for item in items:
        uses_session_run = bool(SESSION_TRAINING & set(getattr(item, "fixturenames", ())))
        groups[item] = "trained" if uses_session_run else item.path.stem
        item.add_marker(pytest.mark.xdist_group(groups[item]))

    def rank(item):
        group = groups[item]
        return (LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST),
                item.get_closest_marker("e2e") is None)
    items.sort(key=rank)  # stable: within a rank, collection order is kept


def pytest_xdist_node_collection_finished(node, ids):
    """On `--dist loadgroup`, every test id a worker collected ends in `@group`; else the groups are lost."""
    if node.config.getvalue("dist") != "loadgroup":
        return
    lost = [i for i in ids if "@" not in i.rpartition("::")[2]]
    if lost:
        pytest.exit(f"pytest-xdist did not apply the test groups ({len(lost)} tests, e.g. {lost[0]}): pytest "
                    f"{pytest.__version__} is not a version it supports; install the pinned ones "
                    f"(pip install -e '.[test]')", returncode=3)


# Planted in the training environment of `trained`: no file of the run may contain it.
SECRET = "hf_jaftTestSecretDoNotWrite"


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from recipes.tiny import ensure_tiny
    return ensure_tiny()


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty project folder with `data/<task>/` prepared from the bundled samples."""
    from prompts.data import prepare
    from prompts.tasks import TASKS
    for name, task in TASKS.items():
        prepare(task, SAMPLES / name, tmp_path / "data" / name)
    return tmp_path


@pytest.fixture
def fake_axolotl(workdir, monkeypatch):
    """`recipes.train.train` in `workdir` with Axolotl replaced by a process that does nothing: everything
    jaft writes (fitted rows, recipe, run.json) is real. Call it as train(spec, epochs=1, ...)."""
    import recipes.train as train_mod
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(train_mod, "axolotl_command", lambda recipe: [sys.executable, "-c", "pass"])
    return train_mod.train


def without_venv_on_path() -> str:
    """PATH as a user has it who runs `.venv/bin/just train` without activating the virtualenv."""
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)


def sample_slice(task: str, dest: Path, train: int, validation: int | None = None) -> Path:
    """The first rows of a task's bundled samples (every validation row unless told), in `dest/`: a training
    there is mostly Axolotl's start-up."""
    dest.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("validation", validation)):
        lines = (SAMPLES / task / f"{split}.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        (dest / f"{split}.jsonl").write_text("".join(lines[:n]), encoding="utf-8")
    return dest


def copy_samples(task: str, dest: Path) -> Path:
    shutil.copytree(SAMPLES / task, dest)
    return dest


TRAINED_ROWS = 64


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_model) -> Path:
    """A project folder where `just train tiny marc 2e-4 --epochs 2` ran real Axolotl (once per session), on
    the first 64 training rows of the MARC-ja samples (16 steps an epoch) and all 56 validation rows.

    Tests that change the run copy it first (`copy_project`)."""
    from prompts.data import prepare
    from prompts.tasks import TASKS
    root = tmp_path_factory.mktemp("trained")
    prepare(TASKS["marc"], sample_slice("marc", root / "src", TRAINED_ROWS), root / "data" / "marc")
    proc = just("train", "tiny", "marc", "2e-4", "--epochs", "2", cwd=root,
                env={"HF_TOKEN": SECRET, "WANDB_API_KEY": SECRET})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


@pytest.fixture(scope="session")
def evaluated(trained, tmp_path_factory) -> Path:
    """A copy of `trained` after `just eval`: predictions and scores for both epochs (once per session)."""
    project = copy_project(trained, tmp_path_factory.mktemp("eval") / "p")
    proc = just("eval", cwd=project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return project


def copy_project(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest
