"""Where a task's files come from: the published URLs of a version (fetched into the download cache) or a
local folder (`--from DIR`), each with what `source.json` records about it.

Example: `python -m prompts data marc --from ~/datasets/marc_ja` (local) or `python -m prompts data marc`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator
from urllib.parse import unquote, urlsplit

from jaft.common import DataError
from prompts.download import Fetched, Unreachable, fetch, git_blob_of, sha256_of
from prompts.readers import Row, read_rows
from prompts.tasks import Task


@dataclass
class Input:
    split: str
    path: Path
    record: dict                    # what source.json says about this file
    fetched: Fetched | None = None  # set for a downloaded (cached) file


def _local_names(task: Task, split: str, version: str | None) -> list[str]:
    """`<split>.jsonl/.json/.parquet`, then the published files' names (the chosen version's first), then
    the names of other builds (`local_files`: JGLUE's own MARC-ja build)."""
    names = [f"{split}.jsonl", f"{split}.json", f"{split}.parquet"]
    order = []
    if task.versions or version is not None:  # a private task may have no `source:` (then --version is refused)
        first, _ = task.version(version)
        order = [first] + [v for v in task.versions if v != first]
    for name in order:
        spec = task.versions[name]["files"].get(split)
        if spec:
            names.append(PurePosixPath(unquote(urlsplit(spec["url"]).path)).name)
    extra = task.source.get("local_files", {}).get(split)
    return list(dict.fromkeys(names + ([extra] if extra else [])))


def _local_file(task: Task, directory: Path, split: str, version: str | None) -> Path | None:
    return next((directory / n for n in _local_names(task, split, version) if (directory / n).is_file()), None)


def local_split(task: Task, directory: Path, split: str, version: str | None = None) -> Iterator[Row] | None:
    """Rows of one split from DIR (see `_local_names`), or None when DIR has no file for it."""
    path = _local_file(task, directory, split, version)
    return read_rows(path) if path else None


def local_inputs(task: Task, directory: Path, version: str | None) -> list[Input]:
    """Every split's file in DIR (`--from`), recorded by path and sha256."""
    inputs = []
    published = task.version(version)[1]["files"] if task.versions or version is not None else {}
    for split in dict.fromkeys([*task.splits, *published]):
        path = _local_file(task, directory, split, version)
        if path is None:
            names = _local_names(task, split, version)
            if split not in task.splits:
                continue  # a split the published version has but jaft does not need (JSQuAD v1.3's test)
            # every needed split is used: train, validation (loss each epoch), the scored split
            raise DataError(f"{directory}: no file for split '{split}' (looked for {', '.join(names)})")
        inputs.append(Input(split, path, {"path": str(path.resolve()), "sha256": sha256_of(path),
                                          "bytes": path.stat().st_size}))
    return inputs


def downloaded_inputs(task: Task, version: str, entry: dict) -> list[Input]:
    """Every file of the version, fetched into the cache (nothing is converted before all have arrived)."""
    missing = [s for s in task.splits if s not in entry["files"]]
    if missing:
        raise DataError(f"prompts/tasks.yaml: {task.name} {version} has no file for split {', '.join(missing)}")
    inputs = []
    for split, spec in entry["files"].items():
        try:
            got = fetch(spec["url"])
        except Unreachable as e:
            from jaft.settings import current
            mirror = current().data_mirror
            hint = (f"is the mirror JAFT_DATA_MIRROR={mirror} serving the file? (unset it to use the published "
                    "URL)" if mirror else "set JAFT_DATA_MIRROR=http://host:port to fetch it from a mirror")
            raise DataError(f"{e}; {hint}, or put the files in a folder and run "
                            f"`just data {task.name} --from DIR`") from None
        record = {"url": got.url, "sha256": got.sha256, "bytes": got.bytes, "downloaded": got.downloaded}
        if got.url != spec["url"]:
            record["published_url"] = spec["url"]
        record["matches_published"] = _matches(got, spec)
        inputs.append(Input(split, got.path, record, got))
    if any(i.fetched.fresh for i in inputs):  # once, when the files first arrive
        print(f"[jaft data] {task.title} licence: {task.source['licence']}", file=sys.stderr)
    return inputs


def _matches(got: Fetched, spec: dict) -> bool | None:
    """Compare with the facts tasks.yaml knows of the published file; None when it knows none."""
    checks = []
    if "bytes" in spec:
        checks.append(("size", f"{got.bytes:,} bytes", f"{spec['bytes']:,} bytes"))
    if "sha256" in spec:
        checks.append(("sha256", got.sha256, spec["sha256"]))
    elif "git_blob" in spec:
        checks.append(("git blob id", git_blob_of(got.path), spec["git_blob"]))
    for what, have, published in checks:
        if have != published:
            warn(f"{got.url}: {what} {have} differs from the published file's {published} (prompts/tasks.yaml): "
                 "this is another file than the one the version names")
            return False
    return True if checks else None


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
