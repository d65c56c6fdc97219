"""What a run cost, measured: run.json's `cost` object.

    wall_s        seconds the Axolotl training process ran (model loading, training, per-epoch validation
                  loss, checkpoint saving), summed over every session of the run (an interrupted run resumed)
    device, gpus  the GPU's name and how many ranks trained ("cpu" and 0 without CUDA), as the trainer saw them
    gpu_hours     wall_s × gpus / 3600 per session, summed: the GPU time the run held, idle moments included
    peak_mem_mib  the highest `torch.cuda.max_memory_reserved` over ranks and sessions (what the VRAM cap
                  limits); on a CPU the training process's peak resident memory
    tokens        non-padding tokens the trainer fed through the model (prompt + response + EOS of each row,
                  every epoch), counted by the Hugging Face Trainer itself (`num_input_tokens_seen`, which the
                  VRAM-cap plugin switches to "non_padding") and read from the last checkpoint
    tokens_per_s  tokens / wall_s

The VRAM-cap plugin (recipes/vram_cap.py) writes one `cost.rank<k>.json` per rank at the end of training;
the launcher (recipes/train.py) times the process and combines them here. Example: `just train tiny marc 2e-4`,
then `runs/tiny-marc-lr2e-4/run.json` -> "cost".
"""
from __future__ import annotations

import json
import math
import resource
import sys
import time
from pathlib import Path

from recipes.manifest import checkpoints

MIB = 2**20
RANK_FILES = "cost.rank*.json"


def rank_file(output_dir: Path, rank: int) -> Path:
    return Path(output_dir) / f"cost.rank{rank}.json"


def max_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process (or of its largest finished child) in MiB."""
    rss = resource.getrusage(who).ru_maxrss
    return rss / MIB if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


def trained_tokens(run_dir: Path) -> int | None:
    """The trainer's own count of non-padding input tokens at the last checkpoint (restored on resume)."""
    found = checkpoints(run_dir)
    if not found:
        return None
    seen = json.loads((found[-1][1] / "trainer_state.json").read_text()).get("num_input_tokens_seen")
    if not isinstance(seen, (int, float)) or isinstance(seen, bool) or not math.isfinite(seen):
        return None  # absent or damaged: the count is unknown
    return int(seen) if seen else None  # 0: the count was off (a run trained before jaft counted)


def read_ranks(run_dir: Path) -> list[dict]:
    out = []
    for path in sorted(Path(run_dir).glob(RANK_FILES)):
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, OSError):
            continue  # a rank killed mid-write: its peak is unknown, the others still count
    return out


class Meter:
    """Times one training session; `stop()` returns the run's cost so far (earlier sessions included).

    A session is recorded in run.json (`cost_session`: its start, wall-clock) when it starts, so that one
    whose jaft was killed still counts: its watchdog closes it (`close_session`), and when the watchdog died
    too, the next session closes it at the last moment the run folder shows it alive (train.log's last line,
    its last checkpoint)."""

    def __init__(self, run_dir: Path, before: dict | None = None, open_session: dict | None = None):
        self.run_dir = Path(run_dir)
        self.before = before or {}
        if isinstance(open_session, dict) and isinstance(open_session.get("started"), (int, float)):
            lost = max(0.0, last_alive(self.run_dir) - open_session["started"])
            self.before = combine(self.before, lost, read_ranks(self.run_dir), trained_tokens(self.run_dir), None)
        for stale in self.run_dir.glob(RANK_FILES):  # a previous session's ranks are in `before` already
            stale.unlink()
        self.start = time.perf_counter()
        self.session = {"started": time.time()}

    def stop(self) -> dict:
        wall = time.perf_counter() - self.start
        return combine(self.before, wall, read_ranks(self.run_dir), trained_tokens(self.run_dir),
                       max_rss_mib(resource.RUSAGE_CHILDREN))


def last_alive(run_dir: Path) -> float:
    """The last moment a session left a trace in the run folder (wall-clock seconds)."""
    traces = [Path(run_dir) / "train.log", *Path(run_dir).glob("checkpoint-*/trainer_state.json")]
    return max((p.stat().st_mtime for p in traces if p.is_file()), default=0.0)


def close_session(run: dict, run_dir: Path, ended: float | None = None) -> dict:
    """The run's cost with the open session (run.json `cost_session`) counted up to `ended` (now): what the
    watchdog records for a session whose jaft was killed."""
    started = (run.get("cost_session") or {}).get("started")
    if not isinstance(started, (int, float)):
        return run.get("cost") or {}
    wall = max(0.0, (time.time() if ended is None else ended) - started)
    return combine(run.get("cost") or {}, wall, read_ranks(Path(run_dir)), trained_tokens(Path(run_dir)), None)


def combine(before: dict, wall_s: float, ranks: list[dict], tokens: int | None, child_rss_mib: float | None) -> dict:
    """This session's measurements added to the earlier sessions' (`before`, run.json's last `cost`).

    Without the plugin's files (training died before its end) the device is unknown and the peak falls back
    to the largest finished child's resident memory."""
    gpus = sum(1 for r in ranks if r.get("device") != "cpu")
    device = ranks[0]["device"] if ranks else before.get("device", "unknown")
    peaks = [r["peak_mem_mib"] for r in ranks if r.get("peak_mem_mib") is not None]
    peak = max(peaks) if peaks else child_rss_mib  # None: a killed session's peak is unknown
    peak_of = ranks[0]["peak_mem_of"] if ranks else "largest child process max RSS" if peak is not None else None
    if before.get("peak_mem_mib") is not None and (peak is None or before["peak_mem_mib"] > peak):
        peak, peak_of = before["peak_mem_mib"], before.get("peak_mem_of", peak_of)
    total_wall = before.get("wall_s", 0.0) + wall_s
    return {
        "wall_s": round(total_wall, 3),
        "device": device,
        "gpus": max(gpus, before.get("gpus") or 0),
        "gpu_hours": round(before.get("gpu_hours", 0.0) + wall_s * gpus / 3600, 6),
        "peak_mem_mib": round(peak, 1) if peak is not None else None,
        "peak_mem_of": peak_of,
        "tokens": tokens,
        "tokens_per_s": round(tokens / total_wall, 2) if tokens and total_wall > 0 else None,
        "sessions": before.get("sessions", 0) + 1,
    }
