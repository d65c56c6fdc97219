"""How long one tiny training takes through the `axolotl` script, beside `python -P -m recipes.axolotl_entry`
(what `just train` runs: recipes/axolotl_entry.py says what it avoids).

Example: `.venv/bin/python -m bench.train_start --repeat 2`

Trains `tiny-qwen3` on the bundled MARC-ja samples for one epoch with `just train` once (to render its
recipe and rows), then runs the same recipe.yaml through both commands in turn, each from an empty run folder
(no checkpoint, no tokenized cache). Prints the seconds of each and the ratio of their medians, measured in
this one run. Nothing is written outside a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN = "tiny-qwen3-marc-lr2e-4"


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return time.perf_counter() - start


def empty_run(run: Path) -> None:
    for path in [*run.glob("checkpoint-*"), run / "prepared"]:
        shutil.rmtree(path, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.train_start", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    just = str(Path(sys.executable).with_name("just"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAFT_")}
    env.update({"HF_HUB_OFFLINE": "1", "AXOLOTL_DO_NOT_TRACK": "1", "TOKENIZERS_PARALLELISM": "false"})
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        for step in (["data", "marc", "--from", str(REPO / "prompts" / "samples" / "marc")],
                     ["train", "tiny-qwen3", "marc", "2e-4", "--epochs", "1"]):
            timed([just, "--justfile", str(REPO / "justfile"), "--working-directory", tmp, *step], ws, env)
        recipe = f"runs/{RUN}/recipe.yaml"
        commands = {"axolotl_script": [str(Path(sys.executable).with_name("axolotl")), "train", recipe],
                    "axolotl_entry": [sys.executable, "-P", "-m", "recipes.axolotl_entry", "train", recipe]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                empty_run(ws / "runs" / RUN)
                times[name].append(timed([*cmd, "--launcher", "python"], ws, env))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(json.dumps({"seconds": {n: [round(x, 2) for x in t] for n, t in times.items()},
                      "entry_over_script": round(medians["axolotl_entry"] / medians["axolotl_script"], 3),
                      "cores": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
