"""A report is written into a temporary folder beside its destination and moved into place whole: the
previous report stays until the new one is complete, and two `just report` at once never mix (the swap
is done under a lock; the last to finish wins, whole).

Example: `with staged(Path("reports")) as tmp: write files into tmp` (moved to reports/ on success).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from jaft.common import UsageError

MARK = "# jaft report"  # the first line of every report's README.md: how a folder is known as ours
LISTING = ".jaft-files"  # the names a report wrote: anything else in the folder is the user's


def check_out(out: Path) -> None:
    """Refuse (one line, nothing written) an --out that is a file, or a folder with files jaft did not
    write: replacing it whole would delete them."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder (default reports/)")
    if out.is_dir() and any(out.iterdir()) and not _is_report(out):
        raise UsageError(f"--out {out} holds files that are not a jaft report; a report replaces its folder "
                         f"whole, so give an empty or new folder")
    foreign = _not_ours(out) if out.is_dir() else []
    if foreign:
        raise UsageError(f"--out {out} holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}, which "
                         f"the report did not write; a report replaces its folder whole: move them out first")


def _not_ours(folder: Path) -> list[str]:
    """Names in a report folder that its listing does not hold (a report from before listings: none)."""
    try:
        ours = set((folder / LISTING).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return []
    return sorted(p.name for p in folder.iterdir() if p.name not in ours and p.name != LISTING)


def _is_report(folder: Path) -> bool:
    try:
        with (folder / "README.md").open(encoding="utf-8") as f:
            return f.readline().startswith(MARK)
    except (OSError, UnicodeDecodeError):
        return False


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `out`; when the block ends without error, it replaces `out`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp's folder is private; a report is not
        yield tmp
        (tmp / LISTING).write_text("".join(p.name + "\n" for p in sorted(tmp.iterdir())), encoding="utf-8")
        with _swap_lock(out):
            check_out(out)  # again: something else may have appeared there meanwhile
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
