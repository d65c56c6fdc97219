"""Find out here, without a GPU, whether the GPU kit brings everything `axolotl train` and jaft import.

A bare virtualenv is given exactly the packages the GPU machine's image holds (bench/gpu_machine.txt) plus
the kit (bench/gpu_kit.txt), linked from this project's .venv (same files, this machine's versions); then
the proof's imports are tried and its CPU mode runs there (`--tiny`: data, training through the
accelerate launcher, the GPU's path, and eval's generation). A package the kit lacks shows up as the
ModuleNotFoundError that ends the run.

Example: `.venv/bin/python bench/gpu_kit_check.py`            (~3 minutes on 2 cores)
         `.venv/bin/python bench/gpu_kit_check.py --keep /tmp/sim`   (leave the virtualenv for a look)
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# What the proof itself imports on the GPU machine, beyond `axolotl train`.
PROOF_IMPORTS = ("import axolotl.cli.main, axolotl.integrations.liger, liger_kernel.transformers, bitsandbytes, "
                 "recipes.train, recipes.vram_cap, eval.generate, bench.gpu_proof, bench.proof_plugin")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def names(path: Path) -> set[str]:
    """Package names of a list file: one a line, `name` or `name==version`, `#` comments."""
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.add(canonical(re.split(r"[=<>!~ ;\[]", line, maxsplit=1)[0]))
    return out


def link_packages(wanted: set[str], site: Path, bin_dir: Path) -> list[str]:
    """Link each wanted distribution's top-level files into `site`; write its console scripts into
    `bin_dir` (run by the bare interpreter, as pip would write them). Returns the names linked."""
    linked = []
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])
        if name not in wanted or name in linked:
            continue
        linked.append(name)
        root = Path(dist.locate_file(""))
        # File by file: namespace packages (google.*, opentelemetry.*) share folders across distributions.
        for f in dist.files or []:
            if not f.parts or f.parts[0] == ".." or f.suffix == ".pyc":
                continue
            target = site / f
            if not target.exists() and (root / f).exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(root / f)
        for ep in dist.entry_points.select(group="console_scripts"):
            module, _, attr = ep.value.partition(":")
            script = bin_dir / ep.name
            script.write_text(f"#!{bin_dir / 'python'}\nimport sys\nfrom {module} import {attr.split('.')[0]}\n"
                              f"sys.exit({attr}())\n")
            script.chmod(0o755)
    return sorted(linked)


def make_env(root: Path) -> Path:
    """A virtualenv with no packages; returns its python."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root)], check=True)
    return root / "bin" / "python"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", type=Path, help="build the virtualenv here and leave it")
    args = ap.parse_args()
    machine, kit = names(HERE / "gpu_machine.txt"), names(HERE / "gpu_kit.txt")
    root = args.keep or Path(tempfile.mkdtemp(prefix="jaft-kit-check-"))
    try:
        python = make_env(root)
        site = Path(subprocess.check_output([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                                            text=True).strip())
        linked = link_packages(machine | kit, site, python.parent)
        missing = sorted(kit - set(linked))
        if missing:
            print(f"kit packages not installed in this .venv (cannot be checked): {', '.join(missing)}")
        print(f"linked {len(linked)} packages ({len(kit)} from the kit) into {root}", flush=True)
        # Only the bare venv's interpreter and scripts: nothing from this project's .venv on PATH.
        env = {"PATH": f"{python.parent}:/usr/bin:/bin", "PYTHONPATH": str(REPO),
               "HOME": os.environ.get("HOME", "/tmp"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        proc = subprocess.run([str(python), "-c", PROOF_IMPORTS], env=env)
        if proc.returncode:
            print("FAILED: the proof's imports")
            return 1
        # The proof's CPU mode: data, training through the accelerate launcher, eval's generation.
        step = ["-m", "bench.gpu_proof", "--tiny", "--steps", "3", "--eval-rows", "2",
                "--out", str(root / "results"), "--work", str(root / "work")]
        print("$ python " + " ".join(step), flush=True)
        proc = subprocess.run([str(python), *step], cwd=root, env=env)
        if proc.returncode:
            print(f"FAILED: the proof exited {proc.returncode}")
            return 1
        print("OK: the proof (--tiny) ran with only the machine's packages and the kit")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
