"""`just data` against a loopback mirror serving files in the published formats (JGLUE's SQuAD-style JSON,
the hub's parquet with MARC-ja's class ids): prompts, provenance, cache, resume, and clean refusals."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jaft.common import run
from prompts.__main__ import main as data_main
from prompts.download import cache_path, effective_url
from prompts.tasks import TASKS
from tests.conftest import SAMPLES, just
from tests.loopback import dead_base, serve


def _samples(task: str, split: str) -> list[dict]:
    return [json.loads(line) for line in (SAMPLES / task / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def _parquet(rows: list[dict], schema: pa.Schema) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buf)
    return buf.getvalue()


MARC_SCHEMA = pa.schema([("sentence", pa.string()), ("label", pa.int64()), ("review_id", pa.string())])
XLSUM_SCHEMA = pa.schema([(c, pa.string()) for c in ("id", "url", "title", "summary", "text")])


def _squad(rows: list[dict]) -> bytes:
    """JGLUE's layout: articles -> paragraphs -> qas with a list of answers, the whole file on one line."""
    data = []
    for r in rows:  # consecutive questions on the same context share a paragraph, as in JGLUE's files
        if not data or data[-1]["title"] != r["title"] or data[-1]["paragraphs"][-1]["context"] != r["context"]:
            data.append({"title": r["title"], "paragraphs": [{"context": r["context"], "qas": []}]})
        data[-1]["paragraphs"][-1]["qas"].append({
            "question": r["question"], "id": r["id"], "is_impossible": r["is_impossible"],
            "answers": [{"text": t, "answer_start": s}
                        for t, s in zip(r["answers"]["text"], r["answers"]["answer_start"])]})
    return json.dumps({"version": "v1.1", "data": data}, ensure_ascii=False).encode("utf-8")


def published(task: str, version: str | None = None) -> dict[str, bytes]:
    """split -> the bytes a source would serve for it, made from the bundled samples."""
    _, entry = TASKS[task].version(version)
    out = {}
    for split in entry["files"]:
        rows = _samples(task, split if (SAMPLES / task / f"{split}.jsonl").is_file() else "validation")
        if task == "marc":
            out[split] = _parquet(rows, MARC_SCHEMA)  # labels stay the hub's class ids 0/1/2
        elif task == "xlsum":
            out[split] = _parquet(rows, XLSUM_SCHEMA)
        else:
            if split == "test":  # JSQuAD v1.3's test split: other ids than validation's
                rows = [{**r, "id": "t-" + r["id"]} for r in rows]
            out[split] = _squad(rows)
    return out


def site_files(tasks=TASKS, version: str | None = None) -> dict[str, bytes]:
    """request path (as a mirror receives it) -> bytes, for every published file of `tasks`."""
    files = {}
    for name in tasks:
        _, entry = TASKS[name].version(version if name == "jsquad" else None)
        for split, body in published(name, version if name == "jsquad" else None).items():
            files[urlsplit(entry["files"][split]["url"]).path] = body
    return files


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh project folder, data root and download cache; no mirror set yet."""
    values = {"JAFT_DATA": str(tmp_path / "store"), "JAFT_CACHE": str(tmp_path / "cache")}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("JAFT_DATA_MIRROR", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.chdir(tmp_path)
    return values


def data(capsys, *argv: str) -> tuple[int, str]:
    code = run(data_main, ["data", *argv])
    return code, capsys.readouterr().err


def one_error(err: str) -> str:
    """The single `error:` line of a refusal (a licence line may precede it: those files did arrive)."""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_just_data_downloads_all_three_through_the_mirror(tmp_path, env):
    """`just data` (no task) against the mirror: every task prepared under JAFT_DATA, prompts identical to
    `--from` on the same files and to the hub-schema samples, provenance naming what was served."""
    files = site_files()
    with serve(files) as site:
        proc = just("data", cwd=tmp_path, env={**env, "JAFT_DATA_MIRROR": site.base})
        assert proc.returncode == 0, proc.stderr
        first_requests = list(site.requests)
        again = just("data", cwd=tmp_path, env={**env, "JAFT_DATA_MIRROR": site.base})
    assert again.returncode == 0, again.stderr
    assert site.requests == first_requests, "the second run downloaded again"
    assert sorted(p for p, _ in first_requests) == sorted(files)
    assert not (tmp_path / "data").exists()  # JAFT_DATA decides where, not the working directory
    for name, task in TASKS.items():
        assert f"{task.title} licence: {task.source['licence']}" in proc.stderr
        assert "licence" not in again.stderr  # printed once, when the files first arrive
        out = tmp_path / "store" / name
        # the same files through --from: byte-exact prompts
        local = tmp_path / "local" / name
        local.mkdir(parents=True)
        _, entry = task.version()
        for split, spec in entry["files"].items():
            (local / Path(urlsplit(spec["url"]).path).name).write_bytes(files[urlsplit(spec["url"]).path])
        assert just("data", name, "--from", str(local), "--out", str(tmp_path / "viafrom" / name),
                    cwd=tmp_path, env=env).returncode == 0
        hub_schema = tmp_path / "viasamples" / name
        assert just("data", name, "--from", str(SAMPLES / name), "--out", str(hub_schema),
                    cwd=tmp_path, env=env).returncode == 0
        for split in entry["files"]:
            got = (out / f"{split}.jsonl").read_bytes()
            assert got == (tmp_path / "viafrom" / name / f"{split}.jsonl").read_bytes()
            assert got == (hub_schema / f"{split}.jsonl").read_bytes()
        source = json.loads((out / "source.json").read_text(encoding="utf-8"))
        assert source["version"] == task.source["default"] and source["licence"] == task.source["licence"]
        for split, spec in entry["files"].items():
            served = files[urlsplit(spec["url"]).path]
            record = source["files"][split]
            assert record["sha256"] == _sha(served) and record["bytes"] == len(served)
            assert record["url"] == site.base + urlsplit(spec["url"]).path
            assert record["published_url"] == spec["url"]
            assert record["rows"] == len(_samples(name, split)) and record["published_rows"] == spec["rows"]
            # the fixture is not the published file: the known row count and hash say so
            assert f"has {record['rows']:,} rows, the published file {spec['rows']:,}" in proc.stderr
            assert record["matches_published"] is (False if {"sha256", "git_blob"} & set(spec) else None)
    assert "differs from the published file's" in proc.stderr
    marc = json.loads((tmp_path / "store" / "marc" / "source.json").read_text())
    assert marc["files"]["validation"]["left_out"] == 4  # the class id 2 rows (neutral)


def test_jsquad_version_v13_adds_its_test_split(env, capsys, monkeypatch):
    files = site_files(["jsquad"], "v1.3")
    with serve(files) as site:
        monkeypatch.setenv("JAFT_DATA_MIRROR", site.base)
        code, err = data(capsys, "jsquad", "--version", "v1.3")
    assert code == 0, err
    out = Path(env["JAFT_DATA"]) / "jsquad"
    assert sorted(p.name for p in out.iterdir()) == ["source.json", "test.jsonl", "train.jsonl", "validation.jsonl"]
    source = json.loads((out / "source.json").read_text())
    assert source["version"] == "v1.3" and source["origin"]["tag"] == "v1.3.0"
    assert all("/v1.3.0/" in f["url"] for f in source["files"].values())


def test_unknown_version_lists_valid(env, capsys):
    code, err = data(capsys, "jsquad", "--version", "v9")
    assert code == 2 and err.strip() == "error: unknown jsquad version 'v9'; valid: v1.1, v1.3"
    assert not Path(env["JAFT_DATA"]).exists()


def test_dead_mirror_is_one_line_and_writes_nothing(env, capsys, monkeypatch):
    base = dead_base()
    monkeypatch.setenv("JAFT_DATA_MIRROR", base)
    code, err = data(capsys, "xlsum")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"could not download {base}/datasets/csebuetnlp/xlsum/" in err
    assert "JAFT_DATA_MIRROR" in err and "just data xlsum --from DIR" in err
    assert not Path(env["JAFT_DATA"]).exists()


def test_missing_file_names_url_and_404(env, capsys, monkeypatch):
    files = site_files(["marc"])
    valid = urlsplit(TASKS["marc"].version()[1]["files"]["validation"]["url"]).path
    del files[valid]
    with serve(files) as site:
        monkeypatch.setenv("JAFT_DATA_MIRROR", site.base)
        code, err = data(capsys, "marc")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"could not download {site.base}{valid} (HTTP 404" in err and "--from DIR" in err
    assert not Path(env["JAFT_DATA"]).exists()


@pytest.mark.parametrize("task, says", [("xlsum", "not a readable parquet file"), ("jsquad", "not valid JSON")])
def test_truncated_file_is_refused_and_uncached(env, capsys, monkeypatch, task, says):
    files = site_files([task])
    spec_url = TASKS[task].version()[1]["files"]["train"]["url"]
    path = urlsplit(spec_url).path
    cut = files[path][: len(files[path]) // 2]  # served whole, but the file itself is cut
    files[path] = cut.decode("utf-8", errors="ignore").encode("utf-8") if task == "jsquad" else cut
    with serve(files) as site:
        monkeypatch.setenv("JAFT_DATA_MIRROR", site.base)
        code, err = data(capsys, task)
        cached = cache_path(effective_url(spec_url))
    line = one_error(err)
    assert code == 2 and line.startswith(f"error: {site.base}{path}")
    assert says in line and "the cached copy was removed" in line
    assert not cached.exists() and not Path(str(cached) + ".json").exists()
    assert not Path(env["JAFT_DATA"]).exists()


def test_broken_off_download_resumes(env, capsys, monkeypatch):
    files = site_files(["xlsum"])
    spec_url = TASKS["xlsum"].version()[1]["files"]["train"]["url"]
    path = urlsplit(spec_url).path
    half = len(files[path]) // 2
    with serve(files) as site:
        monkeypatch.setenv("JAFT_DATA_MIRROR", site.base)
        site.cut[path] = half  # the connection drops after half the announced bytes
        code, err = data(capsys, "xlsum")
        assert code == 2 and f"stopped at {half:,} of {len(files[path]):,} bytes" in err and "resume" in err
        assert not Path(env["JAFT_DATA"]).exists()
        part = Path(str(cache_path(effective_url(spec_url))) + ".part")
        assert part.stat().st_size == half and not cache_path(effective_url(spec_url)).exists()
        del site.cut[path]
        code, err = data(capsys, "xlsum")
    assert code == 0, err
    assert (path, f"bytes={half}-") in site.requests  # the second run asked only for the rest
    source = json.loads((Path(env["JAFT_DATA"]) / "xlsum" / "source.json").read_text())
    assert source["files"]["train"]["sha256"] == _sha(files[path]) and not part.exists()


def test_changed_cache_file_is_fetched_again(env, capsys, monkeypatch):
    files = site_files(["marc"])
    with serve(files) as site:
        monkeypatch.setenv("JAFT_DATA_MIRROR", site.base)
        assert data(capsys, "marc")[0] == 0
        cached = cache_path(effective_url(TASKS["marc"].version()[1]["files"]["train"]["url"]))
        cached.write_bytes(cached.read_bytes()[:100])  # e.g. a disk fault, or an edit by hand
        n = len(site.requests)
        code, err = data(capsys, "marc")
        assert code == 0, err
        assert len(site.requests) == n + 1  # only the damaged file
    assert cached.read_bytes() == files[urlsplit(TASKS["marc"].version()[1]["files"]["train"]["url"]).path]


def test_mirror_and_hf_endpoint_rewrite_urls(monkeypatch):
    hub = TASKS["xlsum"].version()[1]["files"]["test"]["url"]
    github = TASKS["jsquad"].version()[1]["files"]["train"]["url"]
    monkeypatch.delenv("JAFT_DATA_MIRROR", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example/")
    assert effective_url(hub) == "https://hf-mirror.example" + urlsplit(hub).path
    assert effective_url(github) == github  # HF_ENDPOINT is for the hub's files only
    monkeypatch.setenv("JAFT_DATA_MIRROR", "http://10.0.0.5:8080/jaft")
    assert effective_url(github) == "http://10.0.0.5:8080/jaft" + urlsplit(github).path
    assert effective_url(hub) == "http://10.0.0.5:8080/jaft" + urlsplit(hub).path


def test_bad_mirror_value_is_a_usage_error(env, capsys, monkeypatch):
    monkeypatch.setenv("JAFT_DATA_MIRROR", "mirror.local")
    code, err = data(capsys, "marc")
    assert code == 2 and err.strip() == "error: JAFT_DATA_MIRROR='mirror.local' is not a URL like http://host:port"


def test_report_lists_sources_and_hashes(env, capsys, monkeypatch):
    from report.provenance import data_sources
    files = site_files(["jsquad"])
    with serve(files) as site:
        monkeypatch.setenv("JAFT_DATA_MIRROR", site.base)
        assert data(capsys, "jsquad")[0] == 0
    text = "\n".join(data_sources())
    for split, spec in TASKS["jsquad"].version()[1]["files"].items():
        path = urlsplit(spec["url"]).path
        assert f"| jsquad | v1.1 | {split} | {site.base}{path} | `{_sha(files[path])}` |" in text
    assert "JSQuAD: CC BY-SA 4.0" in text


def test_git_blob_id_is_gits(tmp_path):
    """The check of JGLUE's files against their tag uses git's own object id (`git hash-object`)."""
    from prompts.download import git_blob_of
    (tmp_path / "f").write_bytes(b"hello\n")
    assert git_blob_of(tmp_path / "f") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_private_task_without_source_needs_from(tmp_path):
    """A JAFT_TASKS entry with no `source:` has nothing to download: a clear refusal, and --from works."""
    import shutil

    import yaml

    from tests.conftest import REPO, cli
    entry = yaml.safe_load((REPO / "prompts" / "tasks.yaml").read_text(encoding="utf-8"))["marc"]
    entry.pop("source")
    (tmp_path / "mine" / "templates").mkdir(parents=True)
    shutil.copy(REPO / "prompts" / "templates" / entry["template"], tmp_path / "mine" / "templates")
    (tmp_path / "mine" / "tasks.yaml").write_text(yaml.safe_dump({"reviews": entry}, allow_unicode=True))
    env = {"JAFT_TASKS": str(tmp_path / "mine" / "tasks.yaml"), "JAFT_DATA": str(tmp_path / "store")}
    proc = cli("prompts", "data", "reviews", cwd=tmp_path, env=env)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "error: task reviews has no `source:` to download from; prepare it from local files: "
        "`just data reviews --from DIR`")
    assert not (tmp_path / "store").exists()
    proc = cli("prompts", "data", "reviews", "--from", str(SAMPLES / "marc"), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "store" / "reviews" / "source.json").read_text())["kind"] == "local"
