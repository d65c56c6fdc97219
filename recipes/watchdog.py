"""The watchdog beside a training: it outlives a jaft killed by SIGKILL, ends the training's process group
and records the run as interrupted (recipes.supervise starts it; jaft keeps a pipe to its stdin open).

Example (what recipes.supervise runs): `python -m recipes.watchdog PGID RUN_DIR`
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from jaft.common import follow_umask
from recipes import manifest
from recipes.cost import close_session
from recipes.supervise import FORWARDED, end_group


def watch(pgid: int, run_dir: Path) -> int:
    """The watchdog: wait until jaft closes the pipe; unless it said "done", end the training group and
    record the run as interrupted."""
    for s in FORWARDED:
        signal.signal(s, signal.SIG_IGN)
    if sys.stdin.buffer.read().strip() == b"done":
        return 0
    end_group(pgid)
    follow_umask(run_dir)  # what jaft would have done after the training: weights readable as the umask says
    try:
        run = manifest.read(run_dir)
        if run.get("status") == "running":
            # The killed session's time counts (its start is in run.json); it is closed here, now.
            try:
                cost = close_session(run, run_dir)
            except Exception:  # noqa: BLE001 - a cost that cannot be read must not cost the status record
                cost = run.get("cost")
            manifest.update(run_dir, status="interrupted", error="jaft was killed; its watchdog stopped the training",
                            cost=cost, cost_session=None)
    except Exception as e:  # noqa: BLE001 - the group is ended; a record that fails is only reported
        print(f"[jaft watchdog] could not record the interruption in {run_dir}/run.json: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(watch(int(sys.argv[1]), Path(sys.argv[2])))
