#!/usr/bin/env bash
# Build the GPU kit: the wheels of bench/gpu_kit.txt for the GPU machine (CPython 3.12, x86-64 Linux) into
# one folder that travels with the working tree (the device tool's `carry`, 64 MiB in all), then print its
# size. bitsandbytes is slimmed to the one CUDA library the machine's torch loads (BNB_CUDA, default 130 for
# torch's cu130 builds); sdist-only packages (`# sdist` in the list) are built here as pure-Python wheels.
#
# Example: `bash bench/gpu_kit.sh`            -> .whl/ (ignored by git), "kit: 31.9 MiB in 28 wheels"
#          `BNB_CUDA=128 bash bench/gpu_kit.sh /tmp/kit`
# On the GPU machine: `python3 -m pip install --no-index --no-deps .whl/*.whl` (bench/gpu_proof.sh does it).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.whl}
cuda=${BNB_CUDA:-130}
limit_mib=64
py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
list=bench/gpu_kit.txt
tmp=$(mktemp -d "${TMPDIR:-/tmp}/jaft-kit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Requirement lines without comments; the `# sdist` ones apart.
grep -v '^\s*#' "$list" | grep -v '# sdist' | sed 's/#.*//; /^\s*$/d' > "$tmp/wheels.txt"
grep '# sdist' "$list" | grep -v '^\s*#' | sed 's/#.*//; /^\s*$/d' > "$tmp/sdists.txt"

platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64; do platforms+=(--platform "$p"); done
"$py" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$tmp/kit" -r "$tmp/wheels.txt"
if [ -s "$tmp/sdists.txt" ]; then
  "$py" -m pip wheel --quiet --no-deps -w "$tmp/kit" -r "$tmp/sdists.txt"
fi

"$py" - "$tmp/kit" "$cuda" <<'EOF'
"""Slim bitsandbytes to one CUDA library (RECORD rewritten to match); refuse any wheel that is not pure
Python or built for CPython 3.12."""
import base64, hashlib, re, sys, zipfile
from pathlib import Path

kit, cuda = Path(sys.argv[1]), sys.argv[2]
def fits(python: str, abi: str, platform: str) -> bool:
    """Pure Python, the stable ABI from CPython <= 3.12, or CPython 3.12 itself; on x86-64 Linux."""
    pure = abi == "none" and set(python.split(".")) & {"py3", "py312"}
    stable = abi == "abi3" and python.startswith("cp3") and int(python[3:]) <= 12
    return bool(pure or stable or abi == "cp312") and (platform == "any" or "x86_64" in platform)


for whl in sorted(kit.glob("*.whl")):
    if not fits(*whl.stem.split("-")[-3:]):
        sys.exit(f"error: {whl.name} is not for CPython 3.12 on x86-64 Linux")
    if not whl.name.startswith("bitsandbytes-"):
        continue
    keep = re.compile(rf"libbitsandbytes_(cpu|cuda{cuda})\.so$")
    slim = whl.with_suffix(".slim")
    with zipfile.ZipFile(whl) as src, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as dst:
        names = [n for n in src.namelist() if not (re.search(r"libbitsandbytes_\w+\.so$", n) and not keep.search(n))]
        if not any(keep.search(n) and "cuda" in n for n in names):
            sys.exit(f"error: {whl.name} has no libbitsandbytes_cuda{cuda}.so")
        for name in names:
            data = src.read(name)
            if name.endswith(".dist-info/RECORD"):
                lines = [l for l in data.decode().splitlines() if l.split(",")[0] in names or l.startswith(name)]
                data = ("\n".join(lines) + "\n").encode()
            dst.writestr(src.getinfo(name), data)
    slim.replace(whl)
    print(f"bitsandbytes: kept libbitsandbytes_cuda{cuda}.so (and the CPU library) only")
EOF

rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$tmp/kit" "$out"
bytes=$(du -cb "$out"/*.whl | tail -1 | cut -f1)
count=$(ls "$out"/*.whl | wc -l)
mib=$(awk "BEGIN {printf \"%.1f\", $bytes / 1048576}")
echo "kit: $mib MiB in $count wheels, in $out"
if [ "$bytes" -gt $((limit_mib * 1048576)) ]; then
  echo "error: the kit is over $limit_mib MiB (the device tool's carry limit)" >&2
  exit 1
fi
