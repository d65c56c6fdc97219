"""The one settings object: every `JAFT_*` variable is read here and nowhere else.

Built once at the front door (`jaft.cli`, `jaft.common.run`) from the environment, held for the length of
the command, and read by every stage through `current()`. A bad value is a one-line error (exit 2) before
anything runs, e.g. `JAFT_KILL_GRACE_S=abc jaft train ...` -> `error: JAFT_KILL_GRACE_S='abc': ...`.

Paths a user gives (in a variable or a flag) are relative to where the user is: `JAFT_INVOCATION_DIR`, which
the justfile sets to just's `invocation_directory()` (just itself runs every verb in the project folder, so
that the default `data/`, `runs/`, `reports/` stay at the project's root).

Example: `JAFT_RUNS=/scratch/runs jaft report --no-plots`
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from jaft.errors import UsageError

# Every variable jaft reads, with what it means (docs/commands.md lists the same; a test compares).
VARIABLES = {
    "JAFT_DATA": "prepared task data (default data/)",
    "JAFT_RUNS": "run folders (default runs/)",
    "JAFT_REPORTS": "the report (default reports/)",
    "JAFT_CACHE": "download cache (default $XDG_CACHE_HOME/jaft, ~/.cache/jaft)",
    "JAFT_DATA_MIRROR": "http://host:port serving the data sources' files (scheme and host swapped)",
    "JAFT_TASKS": "extra task registry files, os.pathsep-separated",
    "JAFT_MODELS": "extra model registry files, os.pathsep-separated",
    "JAFT_GRID": "a grid file replacing recipes/grid.yaml (the learning rates)",
    "JAFT_TINY_DIR": "where the tiny test model is built (default .cache/tiny-model)",
    "JAFT_LAUNCHER": "force Axolotl's launcher: accelerate or python",
    "JAFT_KILL_GRACE_S": "seconds a stopped training gets before SIGKILL (default 30)",
    "JAFT_ORPHAN_WAIT_S": "seconds a new holder waits for a training a killed jaft left (default grace + 30)",
    "JAFT_INVOCATION_DIR": "where the user typed the command (set by the justfile); relative paths start there",
    "JAFT_TRACK": "the experiment tracker when no --track is given: mlflow, wandb, or off (default)",
    "JAFT_WANDB_MODE": "the user's WANDB_MODE, kept by the justfile (which pins WANDB_MODE=disabled)",
    "JAFT_MLFLOW_PARENT_RUN_ID": "set by `sweep --track mlflow` for the runs it starts: their parent MLflow run",
}


@dataclass(frozen=True)
class Settings:
    user_dir: Path
    data: Path
    runs: Path
    reports: Path
    runs_given: bool                 # JAFT_RUNS was set: a missing folder is a typo, not an empty project
    cache: Path | None
    data_mirror: str
    task_files: tuple[Path, ...]
    model_files: tuple[Path, ...]
    grid_file: Path | None
    tiny_dir: Path
    launcher: str | None
    kill_grace_s: float
    orphan_wait_s: float
    track: str = ""
    wandb_mode: str | None = None    # None: JAFT_WANDB_MODE not set at all
    mlflow_parent: str = ""          # a sweep's MLflow run, parent of the runs it starts

    def user_path(self, text: str | os.PathLike) -> Path:
        """A path the user typed, relative to where the user is: as typed when the user is here, else relative
        to here when it lies inside this folder, else absolute (never `../../tmp/x/...`)."""
        return _from_user(Path(text).expanduser(), self.user_dir, Path.cwd())

    def environ(self) -> dict[str, str]:
        """Every variable a child jaft (a sweep's step, a cluster task, the sweep's report) needs to see these
        settings: paths absolute (a child may start in another folder), and the folder this process's relative
        paths start from (a child's arguments are typed by this process, not by the user), the tracker and
        the sweep's parent run included. Empty values are given too: they override the parent's environment."""
        env = {"JAFT_DATA": self.data, "JAFT_RUNS": self.runs, "JAFT_REPORTS": self.reports,
               "JAFT_TINY_DIR": self.tiny_dir, "JAFT_KILL_GRACE_S": self.kill_grace_s,
               "JAFT_ORPHAN_WAIT_S": self.orphan_wait_s, "JAFT_INVOCATION_DIR": Path.cwd()}
        env = {k: str(Path(v).resolve()) if isinstance(v, Path) else str(v) for k, v in env.items()}
        env["JAFT_TASKS"] = os.pathsep.join(str(p.resolve()) for p in self.task_files)
        env["JAFT_MODELS"] = os.pathsep.join(str(p.resolve()) for p in self.model_files)
        for key, value in (("JAFT_CACHE", self.cache), ("JAFT_GRID", self.grid_file)):
            if value is not None:
                env[key] = str(Path(value).resolve())
        if self.data_mirror:
            env["JAFT_DATA_MIRROR"] = self.data_mirror
        if self.launcher:
            env["JAFT_LAUNCHER"] = self.launcher
        env["JAFT_TRACK"] = self.track
        env["JAFT_MLFLOW_PARENT_RUN_ID"] = self.mlflow_parent
        if self.wandb_mode is not None:
            env["JAFT_WANDB_MODE"] = self.wandb_mode
        return env


def _from_user(path: Path, user_dir: Path, here: Path) -> Path:
    """`path` typed in `user_dir`, for a process working in `here` (Settings.user_path)."""
    if path.is_absolute() or user_dir == here:
        return path
    target = Path(os.path.normpath(Path(user_dir, path).absolute()))
    base = Path(os.path.normpath(here.absolute()))
    return target.relative_to(base) if target == base or base in target.parents else target


def _seconds(env, name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"{name}={text!r}: expected a number of seconds (0 or more), e.g. 30")
    return value


def from_environ(env=None, cwd: Path | None = None) -> Settings:
    """The settings the environment gives; every value checked (one line naming the variable)."""
    env = os.environ if env is None else env
    here = Path.cwd() if cwd is None else cwd
    user_dir = Path(env.get("JAFT_INVOCATION_DIR") or here)
    if not user_dir.is_dir():
        raise UsageError(f"JAFT_INVOCATION_DIR={str(user_dir)!r}: no such folder")

    def path(name: str, default: str | None) -> Path | None:
        text = env.get(name, "").strip()
        if not text:
            return None if default is None else Path(default)
        return _from_user(Path(text).expanduser(), user_dir, here)

    def folder(name: str, default: str) -> Path:
        p = path(name, default)
        if p.exists() and not p.is_dir():
            raise UsageError(f"{name}={env[name]!r} names a file; give a folder (default {default}/)")
        return p

    def files(name: str) -> tuple[Path, ...]:
        return tuple(Path(user_dir, p.strip()).resolve() for p in env.get(name, "").split(os.pathsep) if p.strip())

    launcher = env.get("JAFT_LAUNCHER", "").strip() or None
    grace = _seconds(env, "JAFT_KILL_GRACE_S", 30.0)
    return Settings(
        user_dir=user_dir,
        data=folder("JAFT_DATA", "data"), runs=folder("JAFT_RUNS", "runs"), reports=folder("JAFT_REPORTS", "reports"),
        runs_given=bool(env.get("JAFT_RUNS", "").strip()),
        cache=path("JAFT_CACHE", None), data_mirror=env.get("JAFT_DATA_MIRROR", "").strip(),
        task_files=files("JAFT_TASKS"), model_files=files("JAFT_MODELS"), grid_file=path("JAFT_GRID", None),
        tiny_dir=path("JAFT_TINY_DIR", ".cache/tiny-model").resolve(),
        launcher=launcher, kill_grace_s=grace, orphan_wait_s=_seconds(env, "JAFT_ORPHAN_WAIT_S", grace + 30),
        track=env.get("JAFT_TRACK", "").strip(), wandb_mode=env.get("JAFT_WANDB_MODE"),
        mlflow_parent=env.get("JAFT_MLFLOW_PARENT_RUN_ID", "").strip(),
    )


_CURRENT: list[Settings] = []
_LAST: dict = {}


def current() -> Settings:
    """The command's settings; outside a command (a library call, a test), the environment's as it is now
    (built again only when a JAFT_* variable or the current folder changed: a per-row lookup stays cheap)."""
    if _CURRENT:
        return _CURRENT[-1]
    key = (tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("JAFT_"))), os.getcwd())
    if _LAST.get("key") != key:
        _LAST.update(key=key, settings=from_environ())
    return _LAST["settings"]


@contextlib.contextmanager
def use(settings: Settings | None = None):
    """Hold `settings` (default: the environment's) for the length of a command."""
    _CURRENT.append(settings or from_environ())
    try:
        yield _CURRENT[-1]
    finally:
        _CURRENT.pop()


def changed(**values) -> Settings:
    """The current settings with some fields replaced (the demo's own folders)."""
    names = {f.name for f in fields(Settings)}
    unknown = set(values) - names
    if unknown:
        raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
    return replace(current(), **values)
