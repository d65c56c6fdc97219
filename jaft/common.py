"""The plumbing every stage shares: the two user-facing errors, the CLI runner that turns them into one
line and exit code 2, atomic file writes, strict JSONL reading, and the project's folders.

Nothing here knows about tasks, models or runs; every package may import it.
"""
from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


from jaft.errors import DataError, UsageError  # noqa: F401 - every stage imports them from here


def nearest(value, valid) -> str | None:
    """The valid name closest to a misspelt one (difflib), or None when none is close."""
    import difflib
    found = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1, cutoff=0.5)
    return found[0] if found else None


def did_you_mean(value, valid) -> str:
    """'; did you mean 'x'?' when a valid name is close, else ''."""
    close = nearest(value, valid)
    return f"; did you mean '{close}'?" if close else ""


def choose(kind: str, value: str, valid) -> str:
    """Return `value` if it is one of `valid`, else raise a one-line UsageError listing them."""
    valid = list(valid)
    if value not in valid:
        raise UsageError(f"unknown {kind} '{value}'; valid: {', '.join(map(str, valid))}")
    return value


def run(main: Callable[[list[str]], int | None], argv: list[str] | None = None) -> int:
    """The one way every entry point reports a user's mistake: one line on stderr, exit code 2. The command
    runs under one settings object (jaft.settings), built here from the environment."""
    from jaft import settings
    try:
        with settings.use():
            code = main(sys.argv[1:] if argv is None else argv) or 0
        sys.stdout.flush()  # a reader that left (`| head`) is found here, not in Python's exit
        return code
    except (UsageError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `jaft plan | head`: the reader left. Quiet, as `cat` would be; stdout points at /dev/null so that
        # Python's own flush at exit does not print a second traceback. 141 = 128 + SIGPIPE, like the shell's.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:
        if e.errno not in ENVIRONMENT_ERRNOS:
            raise
        # A full disk or a read-only folder is the machine's state, not a bug: one line, exit code 1.
        print(f"error: {e.filename or 'write'}: {e.strerror}", file=sys.stderr)
        return 1


ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


# ---- folders (every command honours the same settings: jaft/settings.py) ----------------------------------

def data_root() -> Path:
    from jaft.settings import current
    return current().data


def runs_root() -> Path:
    from jaft.settings import current
    return current().runs


def reports_root() -> Path:
    from jaft.settings import current
    return current().reports


# ---- files ------------------------------------------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def follow_umask(root: Path | str) -> None:
    """Give `root` and everything under it the permissions new files get (the umask): libraries that write
    private files (safetensors writes 0600, mkdtemp makes 0700) would otherwise keep a run's weights from
    colleagues on a shared server. Files of someone else (chmod refused) are left as they are."""
    mask = _umask()
    for path in [Path(root), *Path(root).rglob("*")]:
        try:
            st = path.lstat()
            if path.is_symlink():
                continue
            executable = path.is_dir() or st.st_mode & 0o111
            os.chmod(path, (0o777 if executable else 0o666) & ~mask)
        except OSError:
            continue


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write via a temp file in the same directory, then rename: a reader never sees half a file.
    The file gets the permissions any new file gets (umask), not mkstemp's private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def quiet_stderr():
    """What libraries print while they load (torchao's CUDA kernels missing on a CPU, torch's deprecation
    notes, bitsandbytes' kernel lookup, huggingface_hub's retries) kept off the user's terminal, at the file
    descriptor, so that C code's lines are caught too; shown after all if the block fails.

    Example: `with quiet_stderr(): import axolotl.utils.config`"""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path | str, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def atomic_write_jsonl(path: Path | str, rows) -> Path:
    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_json(path: Path | str, what: str = "file"):
    """A JSON file jaft wrote (run.json, scores.json): a damaged one is a one-line DataError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: damaged {what} ({type(e).__name__}: {e}); repair or delete it") from None
    except (ValueError, RecursionError) as e:
        raise DataError(f"{path}: damaged {what} ({_json_limit(e)}); repair or delete it") from None


def _json_limit(error: Exception) -> str:
    """Valid JSON that Python will not hold: nesting deeper than its recursion limit, or an integer of more
    digits than int() converts (4,300 by default)."""
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error).split(":", 1)[0].strip() or type(error).__name__


def read_jsonl(path: Path | str, required: tuple = ()) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object); a broken line or a missing required key raises DataError naming both.
    Lines are decoded one by one (bytes), so that a non-UTF-8 line is named exactly; a BOM is accepted."""
    path = Path(path)
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path}:{lineno}: not UTF-8 text (save the file as UTF-8)") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            except (ValueError, RecursionError) as e:
                raise DataError(f"{path}:{lineno}: JSON this reader refuses ({_json_limit(e)})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object")
            missing = [k for k in required if k not in obj]
            if missing:
                raise DataError(f"{path}:{lineno}: missing field {', '.join(missing)}")
            yield lineno, obj
