"""Run Axolotl so that no training process outlives jaft.

Axolotl starts in a session (process group) of its own, so a terminal's Ctrl-C reaches it only through
jaft. SIGTERM, SIGINT and SIGHUP to jaft are forwarded to the whole group; a second signal, or GRACE_S
seconds without an exit, sends SIGKILL. SIGKILL to jaft cannot be caught, so a small watchdog process,
started beside the training and reading a pipe from jaft, notices jaft's end (the pipe closes), ends the
group the same way and records the run as interrupted. On Linux the training's first process also gets
PR_SET_PDEATHSIG, in case the watchdog is gone too. Processes left in the group after the training's first
process exits (workers it forked) are killed as well.

Example: `code, signum = run_training(cmd, env, print, run_dir, keep_fds=(lock.fd,))` (recipes.train)
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_S = 30.0  # the default of JAFT_KILL_GRACE_S (jaft.settings): kill_grace_s() is what a command uses


def kill_grace_s() -> float:
    from jaft.settings import current
    return current().kill_grace_s
PR_SET_PDEATHSIG = 1


class Interrupted(Exception):
    """Training stopped by a signal to jaft (already recorded in run.json). The CLI ends by that same
    signal, so that a parent (a shell, a sweep, a Ray worker) sees "killed by SIGTERM", not an exit code."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    def die(self) -> int:
        sys.stderr.flush()
        signal.signal(self.signum, signal.SIG_DFL)
        os.kill(os.getpid(), self.signum)
        return 128 + self.signum  # not reached: the signal's default action ends the process


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes Linux send SIGTERM to the child when jaft dies; None elsewhere.
    libc is loaded here, before the fork, so the child only makes the call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl, parent = libc.prctl, os.getpid()

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # jaft died between the fork and the call: the signal was missed
            os._exit(1)
    return set_death_signal


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def end_group(pgid: int, first: int = signal.SIGTERM, grace: float | None = None) -> None:
    """`first` to every process of the group, SIGKILL to whatever is left after `grace` seconds."""
    grace = kill_grace_s() if grace is None else grace
    kill_group(pgid, first)
    deadline = time.monotonic() + grace
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    kill_group(pgid, signal.SIGKILL)


def run_training(cmd: list[str], env: dict, on_line: Callable[[str], None], run_dir: Path,
                 keep_fds: tuple[int, ...] = ()) -> tuple[int, int | None]:
    """Run `cmd` in its own process group, each output line to `on_line`; return (exit code, the signal
    that interrupted it or None). `keep_fds` (the run's lock) are inherited by the training and the
    watchdog, so the run stays locked until the last of them ends."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", start_new_session=True, pass_fds=keep_fds,
                            preexec_fn=die_with_parent())
    pgid = proc.pid  # the session leader's pid is the group id
    watchdog = subprocess.Popen([sys.executable, "-m", "recipes.watchdog", str(pgid), str(run_dir)],
                                stdin=subprocess.PIPE, env=env, start_new_session=True, pass_fds=keep_fds)
    received: list[int] = []
    timers: list[threading.Timer] = []

    def forward(signum, frame) -> None:
        received.append(signum)
        kill_group(pgid, signum if len(received) == 1 else signal.SIGKILL)
        if len(received) == 1:  # give the training GRACE_S to stop, then make sure
            timers.append(threading.Timer(kill_grace_s(), kill_group, (pgid, signal.SIGKILL)))
            timers[0].daemon = True
            timers[0].start()

    # Signal handlers can only be set from the main thread; elsewhere the watchdog alone guards the group.
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, forward) for s in FORWARDED} if main else {}

    def pump() -> None:
        for line in proc.stdout:
            on_line(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait()
        for timer in timers:
            timer.cancel()
        if group_alive(pgid):  # workers the training forked (they may hold the output pipe): none outlives it
            end_group(pgid, signal.SIGTERM, grace=2.0)
        reader.join()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        try:  # "done" only when the training has ended; otherwise the watchdog ends it
            if proc.returncode is not None:
                watchdog.stdin.write(b"done\n")
            watchdog.stdin.close()
        except OSError:
            pass
        watchdog.wait()
    return code, (received[0] if received else None)


class RunLog:
    """train.log, appended line by line. A write that fails (a full disk) is said once; the output goes on
    to stderr, and the training is not stopped by its log."""

    def __init__(self, path: Path):
        self.path, self.file = path, None
        try:
            self.file = path.open("a", encoding="utf-8")
        except OSError as e:
            self._fail(e)

    def _fail(self, error: OSError) -> None:
        print(f"[jaft] warning: cannot write {self.path} ({error.strerror or error}); "
              f"the output goes on to stderr only", file=sys.stderr)
        self.close()

    def write(self, line: str) -> None:
        if self.file is None:
            return
        try:
            self.file.write(line)
            self.file.flush()
        except OSError as e:
            self._fail(e)

    def close(self) -> None:
        file, self.file = self.file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass
