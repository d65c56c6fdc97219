"""Fetch a published data file by its plain URL into the download cache: mirror-aware, resumable, hashed.

Example: `JAFT_DATA_MIRROR=http://127.0.0.1:8000 python -m prompts data jsquad` fetches JGLUE's files from
the same paths on that host. No hub API is used, so any static copy of the files works as a mirror.

A file is first written as `<name>.part` (a later call resumes it with an HTTP Range request, or starts
again where the server does not resume) and renamed into the cache only when every byte announced has
arrived; a cached file whose hash no longer matches the one recorded at download time is fetched again.
"""
from __future__ import annotations

import fcntl
import hashlib
import http.client
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import Request, urlopen

from jaft.common import DataError, UsageError, atomic_write_json, read_json

HUB_HOST = "huggingface.co"
CHUNK = 1 << 20
TIMEOUT_S = 60


class Unreachable(DataError):
    """The server could not be reached or refused the file (the message names the URL)."""


@dataclass(frozen=True)
class Fetched:
    url: str          # what was fetched, after JAFT_DATA_MIRROR / HF_ENDPOINT
    path: Path        # the cached copy
    sha256: str
    bytes: int
    downloaded: str   # when it was downloaded (UTC, ISO 8601)
    fresh: bool       # downloaded by this call, not taken from the cache


def cache_root() -> Path:
    """`$JAFT_CACHE/downloads`, else `$XDG_CACHE_HOME/jaft/downloads` (default `~/.cache/jaft/downloads`)."""
    if os.environ.get("JAFT_CACHE"):
        return Path(os.environ["JAFT_CACHE"]) / "downloads"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaft" / "downloads"


def _rebase(url: str, base: str, variable: str) -> str:
    b = urlsplit(base)
    if b.scheme not in ("http", "https") or not b.netloc:
        raise UsageError(f"{variable}={base!r} is not a URL like http://host:port")
    return urlunsplit((b.scheme, b.netloc, b.path.rstrip("/") + urlsplit(url).path, urlsplit(url).query, ""))


def effective_url(url: str) -> str:
    """The URL actually fetched: JAFT_DATA_MIRROR swaps every URL's scheme and host (a path in the mirror is
    put in front of the file's path); otherwise HF_ENDPOINT swaps the hub's."""
    mirror = os.environ.get("JAFT_DATA_MIRROR", "").strip()
    if mirror:
        return _rebase(url, mirror, "JAFT_DATA_MIRROR")
    endpoint = os.environ.get("HF_ENDPOINT", "").strip()
    if endpoint and urlsplit(url).netloc == HUB_HOST:
        return _rebase(url, endpoint, "HF_ENDPOINT")
    return url


def cache_path(url: str) -> Path:
    """`<cache>/<host>/<path>`: readable, and one file per URL (a mirror's copy is cached apart)."""
    parts = urlsplit(url)
    segments = [s for s in unquote(parts.path).split("/") if s]
    if not segments or any(s in (".", "..") for s in segments):
        raise UsageError(f"{url}: not a file URL")
    host = re.sub(r"[^\w.-]", "_", parts.netloc)
    return cache_root().joinpath(host, *segments)


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def git_blob_of(path: Path) -> str:
    """The id git gives the file's content (sha1 of `blob <size>\\0` + bytes): checks a file of a tagged repo."""
    h = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def discard(path: Path) -> None:
    """Remove a cached copy (a corrupt download) and its record, so that the next call fetches it anew."""
    for p in (path, _meta_path(path), path.with_name(path.name + ".part")):
        p.unlink(missing_ok=True)


@contextmanager
def _locked(path: Path):
    """One download of a file at a time: a second `just data` waits for the first instead of mixing bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[jaft data] waiting for another download of {path.name}", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def fetch(url: str) -> Fetched:
    """The cached copy of `url` (after the mirror swap), downloading what is missing."""
    url = effective_url(url)
    path = cache_path(url)
    with _locked(path):
        if path.is_file():
            meta = _read_meta(path)
            digest = sha256_of(path)
            if meta.get("sha256") == digest and meta.get("url") == url:
                return Fetched(url, path, digest, path.stat().st_size, meta.get("downloaded", ""), fresh=False)
            discard(path)  # changed since it was downloaded (or its record is gone): fetch it again
        _download(url, path)
        digest = sha256_of(path)
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        atomic_write_json(_meta_path(path), {"url": url, "sha256": digest, "bytes": path.stat().st_size,
                                             "downloaded": when})
        return Fetched(url, path, digest, path.stat().st_size, when, fresh=True)


def _read_meta(path: Path) -> dict:
    try:
        meta = read_json(_meta_path(path), "download record")
    except (OSError, DataError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _open(url: str, start: int):
    headers = {"User-Agent": "jaft-data"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        return urlopen(Request(url, headers=headers), timeout=TIMEOUT_S)  # noqa: S310 - http(s) only, see _rebase
    except HTTPError as e:
        if e.code == 416 and start:
            return None  # the partial file does not fit the file now served: start again
        hint = ": the file is not there (moved? see docs/data.md)" if e.code == 404 else ""
        raise Unreachable(f"could not download {url} (HTTP {e.code} {e.reason}{hint})") from None
    except (URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise Unreachable(f"could not download {url} ({reason})") from None


def _download(url: str, path: Path) -> None:
    from tqdm import tqdm

    part = path.with_name(path.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    resp = _open(url, start)
    if resp is None:
        part.unlink()
        start, resp = 0, _open(url, 0)
    with resp:
        total = None
        if resp.status == 206:
            m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", "").strip())
            if not m or int(m.group(1)) != start:  # a range we did not ask for: start again
                resp.close()
                part.unlink()
                return _download(url, path)
            total = None if m.group(2) == "*" else int(m.group(2))
        else:
            start = 0  # the server sends the whole file (no resume support)
            if resp.headers.get("Content-Length"):
                total = int(resp.headers["Content-Length"])
        got = start
        with part.open("ab" if start else "wb") as f, tqdm(
                total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=path.name,
                file=sys.stderr, disable=None, leave=False) as bar:
            try:
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as e:
                raise DataError(f"download of {url} broke off after {got:,} bytes ({type(e).__name__}); "
                                "run the command again to resume it") from None
    if total is not None and got != total:
        raise DataError(f"download of {url} stopped at {got:,} of {total:,} bytes; "
                        "run the command again to resume it")
    os.replace(part, path)
