"""A report is written into a temporary folder beside its destination and moved into place whole: the
previous report stays until the new one is complete, and two `just report` at once never mix (the swap
is done under a lock; the last to finish wins, whole).

A report also lists the files it wrote (`.jaft-report.json`): a file someone else put in the folder is
never deleted by the next report without a word (it is refused, or deleted with --force).

Example: `with staged(Path("reports")) as tmp: write files into tmp` (moved to reports/ on success).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from jaft.common import UsageError, atomic_write_text

MARK = "# jaft report"  # the first line of every report's README.md: how a folder is known as ours
WRITTEN = ".jaft-report.json"  # the files a report wrote: anything else in its folder is someone else's
# What a report of an older jaft (no WRITTEN list) consists of.
OLD_REPORT = ("*.md", "*.tex", "*.png", "results.csv", "results.json")


def check_out(out: Path, force: bool = False) -> None:
    """Refuse (one line, nothing written) an --out that is a file, a folder that is not a jaft report, or a
    report folder holding files jaft did not write (unless `force`): replacing it whole would delete them."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder (default reports/)")
    if out.is_dir() and any(out.iterdir()) and not _is_report(out):
        raise UsageError(f"--out {out} holds files that are not a jaft report; a report replaces its folder "
                         f"whole, so give an empty or new folder")
    theirs = foreign(out) if out.is_dir() and not force else []
    if theirs:
        shown = ", ".join(theirs[:5]) + (f" and {len(theirs) - 5} more" if len(theirs) > 5 else "")
        raise UsageError(f"{out}/ holds files jaft did not write ({shown}); a report replaces its folder whole: "
                         f"move them out, or pass --force to delete them")


def foreign(out: Path) -> list[str]:
    """Paths under a report folder (files, and empty folders) that no report wrote, relative to it."""
    try:
        written = set(json.loads((out / WRITTEN).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        written = None  # an older jaft's report: its files are known by their names
    found = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                found.append(rel + "/")
            continue
        if rel == WRITTEN:
            continue
        ours = rel in written if written is not None else "/" not in rel and any(path.match(p) for p in OLD_REPORT)
        if not ours:
            found.append(rel)
    return found


def write_list(folder: Path) -> None:
    """Record every file now in `folder` (a report just written) as jaft's."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    atomic_write_text(folder / WRITTEN, json.dumps({"files": files}, indent=1) + "\n")


def _is_report(folder: Path) -> bool:
    try:
        with (folder / "README.md").open(encoding="utf-8") as f:
            return f.readline().startswith(MARK)
    except (OSError, UnicodeDecodeError):
        return False


@contextmanager
def staged(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside `out`; when the block ends without error, it replaces `out`
    (refused as `check_out` says, `force` included)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp's folder is private; a report is not
        yield tmp
        write_list(tmp)
        with _swap_lock(out):
            check_out(out, force)  # again: something else may have appeared there meanwhile
            old = None
            if out.exists():
                old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
                os.rename(out, old / out.name)
            os.rename(tmp, out)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename; left over only on failure


@contextmanager
def _swap_lock(out: Path) -> Iterator[None]:
    fd = os.open(out.parent / f".{out.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits: a swap takes milliseconds
        yield
    finally:
        os.close(fd)
