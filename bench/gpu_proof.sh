#!/usr/bin/env bash
# The GPU proof (bench/gpu_proof.py): jaft's recipes, the VRAM cap, the planner and eval's generation on a
# real GPU, with random-weight models at the paper's shapes; results in bench/results/.
#
# Example: `bash bench/gpu_proof.sh`          on one H100/H200 (the kit first: bench/gpu_kit.sh, docs/gpu.md)
#          `bash bench/gpu_proof.sh --tiny`   the same steps on a CPU with the tiny model
# Runs with .venv/bin/python where there is one, else python3 (the GPU machine's); a kit in .whl/ is
# installed first when Axolotl is missing (pip, no index: nothing is fetched).
set -euo pipefail
cd "$(dirname "$0")/.."
py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
if ! "$py" -c "import axolotl" 2>/dev/null; then
  if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "error: Axolotl is not installed and there is no kit in .whl/ (build it with bash bench/gpu_kit.sh)" >&2
    exit 2
  fi
  "$py" -m pip install --quiet --no-index --no-deps --no-compile .whl/*.whl
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$py" -m bench.gpu_proof "$@"
