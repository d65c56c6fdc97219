#!/usr/bin/env bash
# Create .venv/ and install jaft with everything it needs (idempotent: skipped when pyproject.toml is
# unchanged since the last install). torch==2.13.0 is pinned first so pip takes the CPU wheel on disk
# rather than a multi-GB CUDA build. Example: `bash setup.sh && .venv/bin/just demo`
set -euo pipefail
cd "$(dirname "$0")"
stamp=.venv/.jaft-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The CPU wheel of torch lies on this kind of machine's disk; elsewhere pip takes it from the registry.
links=(); [ -d /opt/wheels ] && links=(--find-links /opt/wheels)
.venv/bin/python -m pip install -q "${links[@]}" torch==2.13.0
.venv/bin/python -m pip install -q -e '.[test,cluster,track]'  # the tests start a local Ray cluster, track to MLflow
echo "$want" > "$stamp"
echo "jaft installed into .venv/ (run commands with .venv/bin/just VERB)" >&2
