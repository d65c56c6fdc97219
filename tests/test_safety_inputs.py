"""Inputs and scoring (issue 24, items 0-5 and 14-17): hostile inputs refused in one line before the hours
of work, scoring in work linear in the text, rows fitted without losing their answer.

Nothing here times anything: where the issue measured seconds, a test counts the work (tagger calls, the
characters handed to the tokenizer); bench/ holds the timings.
"""
from __future__ import annotations

import json

import pytest

from tests.conftest import cli


def one_line_error(proc) -> str:
    """The error line of a refused command; no traceback anywhere."""
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-2000:]
    return errors[0]


# ---- item 3: JSON that Python will not hold ------------------------------------------------------------

@pytest.mark.parametrize("line, says", [
    ('{"id": 1, "raw": "x", "references": ["x"], "deep": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ('{"id": 1, "raw": "x", "references": ["x"], "big": ' + "7" * 5000 + "}", "4300 digits"),
])
def test_json_python_cannot_hold_is_a_one_line_error_naming_the_line(tmp_path, line, says):
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": 0, "raw": "positive", "references": ["positive"]}\n' + line + "\n", encoding="utf-8")
    proc = cli("eval", "score", "marc", str(f), cwd=tmp_path)
    assert proc.returncode == 2
    error = one_line_error(proc)
    assert f"{f}:2:" in error and says in error


def test_read_json_names_a_file_python_cannot_hold(tmp_path):
    from jaft.common import DataError, read_json
    f = tmp_path / "run.json"
    f.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(DataError, match="run.json: damaged"):
        read_json(f)


# ---- item 4: nothing to score is not a score of zero ---------------------------------------------------

@pytest.mark.parametrize("text", ["", "\n", "  \n\t\n\n"])
def test_an_empty_or_blank_predictions_file_is_refused(tmp_path, text):
    f = tmp_path / "p.jsonl"
    f.write_text(text, encoding="utf-8")
    proc = cli("eval", "score", "jsquad", str(f), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert str(f) in one_line_error(proc) and "empty" in one_line_error(proc)


# ---- item 5: MARC-ja, what comes before the label and what denies it -----------------------------------

@pytest.mark.parametrize("raw, want", [
    ("\u200bpositive", "positive"), ("\ufeffnegative", "negative"), ("\u200b\ufeff\u2060 positive", "positive"),
    ("> positive", "positive"), ("# negative", "negative"), ("## **positive**", "positive"),
    ("> - negative", "negative"), ("＃ positive", "positive"),
    # the label is denied right after it: no label
    ("positiveではない", ""), ("negativeではなくpositive", ""), ("positiveではありません。", ""),
    ("negativeじゃない", ""), ("positive でない", ""), ("ｐｏｓｉｔｉｖｅではない", ""),
    ("positive…not", ""), ("positive... not really", ""), ("Positive? Not at all.", ""), ("negative isn't it", ""),
    ("positive、ではなく", ""),
    # ... but not when the denial is of the other label, or later, or another word
    ("positive, not negative", "positive"), ("negative (not positive)", "negative"),
    ("positiveです", "positive"), ("positive。negativeではない", "positive"), ("positive note", "positive"),
    ("positive nothing else", "positive"), ("negativeでしょう", "negative"),
])
def test_marc_label_skips_invisible_and_markdown_and_is_denied_by_a_negation(raw, want):
    from eval.postprocess import label_first
    assert label_first(raw, ("positive", "negative")) == want


def test_marc_denied_labels_are_scored_as_unparsed(tmp_path):
    f = tmp_path / "p.jsonl"
    rows = [{"id": 1, "raw": "positiveではない", "references": ["positive"]},
            {"id": 2, "raw": "\ufeffnegative", "references": ["negative"]}]
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    proc = cli("eval", "score", "marc", str(f), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accuracy"] == 0.5
    assert "unparsed: 1 of 2" in proc.stderr
