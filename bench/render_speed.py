"""How long `just render` takes, beside the Axolotl import it no longer does (the target: ≤3 s on 2 cores).

Example: `.venv/bin/python -m bench.render_speed --repeat 3`

Prints, in seconds: each `just render calm2 marc 2e-4` (into a temporary project; the first may build
caches), and `python -c "import axolotl.utils.config"`, the import `just train` still pays for Axolotl's
validate_config. Nothing is written outside the temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.render_speed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    just = str(Path(sys.executable).with_name("just"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAFT_")}
    with tempfile.TemporaryDirectory() as tmp:
        render = [timed([just, "--justfile", str(REPO / "justfile"), "--working-directory", tmp,
                         "render", "calm2", "marc", "2e-4", "--force"], Path(tmp), env) for _ in range(args.repeat)]
    axolotl = timed([sys.executable, "-c", "import axolotl.utils.config"], REPO, env)
    print(json.dumps({"render_s": [round(t, 2) for t in render], "axolotl_import_s": round(axolotl, 2),
                      "cores": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
