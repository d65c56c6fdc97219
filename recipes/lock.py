"""One lock per run, `runs/<run-id>/.lock`, held by `just train`, `just eval` and `just render` while they
change the run: a second one on the same run is refused in one line naming the holder.

The lock is `fcntl.flock` on that file, so the kernel drops it when the last process holding it dies: a
lock left behind by a killed jaft is simply taken over. The file also says who holds it (pid, host,
command, since), which is what a refusal prints. A jaft killed while it trains leaves its lock with the
training and its watchdog (recipes.supervise) for the seconds they take to stop: a new holder waits for
them (up to `orphan_wait_s()`) instead of being refused, so a retry right after a lost node or a `kill -9`
resumes the run. The file is never deleted: a process that opened it before the unlink would lock a file
nobody else sees.

Example: `with RunLock(run_dir): ...` (raises UsageError when another process holds the run).
"""
from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path

from jaft.common import UsageError

LOCK_NAME = ".lock"


def orphan_wait_s() -> float:
    """How long a new holder waits for the training of a killed jaft to stop: the watchdog's SIGTERM grace
    (then SIGKILL) and a margin for its last record."""
    from jaft.settings import current
    return current().orphan_wait_s


def current_command() -> str:
    """This process's command as a user typed it: `python -m eval eval runs/x`, not the __main__.py path."""
    argv = list(sys.argv)
    if argv and argv[0].endswith("__main__.py"):
        argv[0:1] = ["python", "-m", Path(argv[0]).parent.name]
    return shlex.join(argv)


def holder_text(info: dict) -> str:
    if not info:
        return "another process (it is just starting)"
    text = (f"`{info.get('command', '?')}` (pid {info.get('pid', '?')} on {info.get('host', '?')}, "
            f"since {info.get('since', '?')})")
    if orphaned(info):
        text += "; that process is gone but its training processes still hold the lock"
    return text


def orphaned(info: dict) -> bool:
    """The lock's holder was a jaft on this machine that is gone: what holds the lock now is what it left
    running (its training and watchdog), on its way out."""
    return info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int) and not _alive(info["pid"])


def _alive(pid: int) -> bool:
    """Running: a zombie (killed, not yet reaped by its parent, e.g. a Ray raylet reaping its lost workers'
    children later) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return not Path("/proc/self/stat").exists()  # no /proc (macOS): kill(0) is all we know
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class RunLock:
    """Exclusive, non-blocking lock of one run folder (created if missing)."""

    def __init__(self, run_dir: Path | str):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.fd: int | None = None

    def acquire_if_present(self) -> "RunLock":
        """Take the lock only if its file exists (a holder always made it): a command can then refuse a
        busy run at once, yet write nothing (not even the lock file) when it refuses for another reason."""
        return self.acquire() if self.path.is_file() else self

    def acquire(self) -> "RunLock":
        from recipes.manifest import now
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise UsageError(f"cannot lock {self.path}: {e.strerror} (is the runs folder read-only?)") from None
        if not _try_lock(fd):
            info = _read_info(fd)
            waited = ""
            if orphaned(info):
                info = self._wait_for_orphans(fd, info)
                waited = f" (waited {orphan_wait_s():g} s)" if info is not None and orphaned(info) else ""
            if info is not None:
                os.close(fd)
                raise UsageError(f"run {self.run_dir.name} is busy: held by {holder_text(info)}{waited}; "
                                 f"wait for it to end (or stop it), then try again") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": current_command(), "since": now()}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info, ensure_ascii=False) + "\n").encode("utf-8"), 0)
        except OSError:
            pass  # the lock holds without its note (e.g. a full disk); a refusal then names "another process"
        self.fd = fd
        return self

    def _wait_for_orphans(self, fd: int, info: dict) -> dict | None:
        """Wait for the processes a killed jaft left holding the lock to end: None once the lock is ours,
        else the note of whoever holds it then. Another waiter that takes the lock first is a live holder:
        the wait ends there, and the refusal names it."""
        wait = orphan_wait_s()
        print(f"[jaft] run {self.run_dir.name}: `{info.get('command', '?')}` (pid {info.get('pid')}) is gone but "
              f"its training still holds the run; waiting up to {wait:g} s for it to stop", file=sys.stderr, flush=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            time.sleep(0.25)
            if _try_lock(fd):
                return None
            info = _read_info(fd)
            if not orphaned(info):
                return info
        return info

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock (children given the fd keep it until they end)
            self.fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_info(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
