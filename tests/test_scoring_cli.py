"""`just score TASK FILE [--rows OUT.jsonl]`: the summary on stdout as before, each row for error analysis,
hostile text scored without a crash, bad input refused in one line."""
from __future__ import annotations

import json

import pytest

from eval.metrics import score_rows
from eval.predictions import load_for_scoring
from tests.conftest import cli


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


JSQUAD = [{"id": "q1", "raw": "\n大阪府で", "references": ["大阪府"], "new_tokens": 3},
          {"id": "q2", "raw": "6歳から15歳まで", "references": ["6歳から15歳まで"], "new_tokens": 5},
          {"id": "q3", "raw": "東京の大学", "references": ["東京大学"], "new_tokens": 2}]


def test_rows_hold_each_prediction_and_its_metrics(tmp_path):
    f = write(tmp_path / "p.jsonl", JSQUAD)
    proc = cli("eval", "score", "jsquad", str(f), "--rows", str(tmp_path / "out" / "rows.jsonl"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert list(summary) == ["n", "f1", "exact_match", "llmjp_char_f1"]  # the paper's first, the leaderboard's after
    assert summary == score_rows("jsquad", load_for_scoring("jsquad", f))
    rows = [json.loads(l) for l in (tmp_path / "out" / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    assert rows[0] == {"id": "q1", "raw": "\n大阪府で", "new_tokens": 3, "extracted": "大阪府で",
                       "prediction": "大阪府", "references": ["大阪府"], "references_scored": ["大阪府"],
                       "metrics": {"f1": 1.0, "exact_match": 1.0, "llmjp_char_f1": 0.86}}  # round(100 * 6/7)
    assert rows[1]["metrics"] == {"f1": 1.0, "exact_match": 1.0, "llmjp_char_f1": 1.0}
    assert rows[2]["metrics"]["exact_match"] == 0.0 and rows[2]["metrics"]["f1"] == pytest.approx(8 / 9)
    assert summary["exact_match"] == pytest.approx(2 / 3)


def test_without_rows_nothing_else_is_written(tmp_path):
    f = write(tmp_path / "p.jsonl", JSQUAD)
    cli("eval", "score", "jsquad", str(f), cwd=tmp_path, check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl"]


@pytest.mark.parametrize("task, raw, reference", [
    ("xlsum", "\ud800九州北部で大雨", "九州北部で大雨"),
    ("xlsum", "九州北部で\u0000大雨が降った", "九州北部で大雨が降った"),
    ("jsquad", "\ud800東京で\u0000", "東京"),
    ("marc", "positive\ud800", "positive"),
])
def test_hostile_text_is_scored_and_kept_whole(tmp_path, task, raw, reference):
    f = write(tmp_path / "p.jsonl", [json.dumps({"id": 1, "raw": raw, "references": [reference]})])  # \\u escapes
    out = tmp_path / "rows.jsonl"
    proc = cli("eval", "score", task, str(f), "--rows", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(out.read_text(encoding="utf-8"))
    assert row["raw"] == raw                                       # read back exactly, surrogate and all
    if task == "xlsum":                                            # NUL no longer cuts MeCab's input
        assert json.loads(proc.stdout)["rouge1"] == 1.0


def test_diagnostics_are_named_on_stderr(tmp_path):
    f = write(tmp_path / "p.jsonl", [{"id": 1, "raw": "ポジティブ", "references": ["positive"]},
                                     {"id": 2, "raw": "「positive」", "references": ["positive"]}])
    proc = cli("eval", "score", "marc", str(f), cwd=tmp_path, check=True)
    assert json.loads(proc.stdout) == {"n": 2, "accuracy": 0.5}
    assert "unparsed: 1 of 2" in proc.stderr


@pytest.mark.parametrize("line, message", [
    ('{"id": 1, "raw": 5, "references": ["x"]}', "p.jsonl:2: 'raw' must be a string"),
    ('{"id": 1, "raw": "x", "references": "x"}', "p.jsonl:2: 'references' must be a non-empty list of strings"),
    ('{"id": 1, "raw": "x"', "p.jsonl:2: not valid JSON"),
])
def test_bad_rows_are_one_line_naming_file_and_line(tmp_path, line, message):
    f = write(tmp_path / "p.jsonl", [{"id": 0, "raw": "東京", "references": ["東京"]}, line])
    proc = cli("eval", "score", "jsquad", str(f), "--rows", str(tmp_path / "rows.jsonl"), cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "rows.jsonl").exists()


def test_not_utf8_is_one_line(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_bytes('{"id": 1, "raw": "東京", "references": ["東京"]}\n'.encode("shift_jis"))
    proc = cli("eval", "score", "jsquad", str(f), cwd=tmp_path)
    assert proc.returncode == 2 and "p.jsonl:1: not UTF-8" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_rows_into_a_folder_is_refused(tmp_path):
    f = write(tmp_path / "p.jsonl", JSQUAD)
    proc = cli("eval", "score", "jsquad", str(f), "--rows", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "is a folder" in proc.stderr and proc.stdout == ""
