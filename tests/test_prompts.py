"""Task prompts (golden strings of Table 1) and data preparation from local files in the hub's schema."""
from __future__ import annotations

import json

import pytest

from prompts.data import convert, local_split, prepare
from jaft.common import DataError, UsageError
from prompts.tasks import TASKS, get_task
from tests.conftest import FIXTURES, SAMPLES, cli


def test_marc_golden():
    ex = convert(TASKS["marc"], [("t:1", {"sentence": "良い{品}です。", "label": 0, "review_id": "R1"})])[0][0]
    assert ex["prompt"] == "### Instruction:\n良い{品}です。\n\n### Response:\n"
    assert ex["response"] == "positive"
    assert ex["references"] == ["positive"] and ex["id"] == "R1"


def test_jsquad_golden():
    row = {"id": "q1", "title": "東京", "context": "東京 [SEP] 東京は日本の首都である。", "question": "日本の首都は？",
           "answers": {"text": ["東京", "東京都"], "answer_start": [0, 0]}, "is_impossible": False}
    ex = convert(TASKS["jsquad"], [("t:1", row)])[0][0]
    assert ex["prompt"] == ("### Instruction:\nContext: 東京 [SEP] 東京は日本の首都である。\nQuestion: 日本の首都は？"
                            "\n\n### Response:\n")
    assert ex["response"] == "東京" and ex["references"] == ["東京", "東京都"]


def test_xlsum_golden():
    row = {"id": "x1", "url": "u", "title": "大雨", "summary": "九州で大雨。", "text": "本文一。\n本文二。"}
    ex = convert(TASKS["xlsum"], [("t:1", row)])[0][0]
    assert ex["prompt"] == ('以下のニュース記事をお読みください。\n"""見出し:大雨\n本文一。\n本文二。"""\n'
                            'このニュース記事を要約してください。\n要約は以下の通りです:\n"""')
    assert ex["response"] == '九州で大雨。"""'
    assert ex["references"] == ["九州で大雨。"]
    assert ex["prompt"] + ex["response"] == TASKS["xlsum"].template.format(
        title="大雨", text="本文一。\n本文二。", response="九州で大雨。")


def test_text_goes_in_unchanged():
    text = "ＡＢＣ　全角  と半角\tタブ"
    ex = convert(TASKS["marc"], [("t:1", {"sentence": text, "label": "negative"})])[0][0]
    assert text in ex["prompt"] and ex["response"] == "negative"


def test_marc_labels_words_ids_and_neutral():
    rows = [("a", {"sentence": "x", "label": 0}), ("b", {"sentence": "y", "label": 1}),
            ("c", {"sentence": "z", "label": "neutral"}), ("d", {"sentence": "w", "label": 2}),
            ("e", {"sentence": "v", "label": "positive"})]
    examples, left_out = convert(TASKS["marc"], rows)
    assert [e["response"] for e in examples] == ["positive", "negative", "positive"]
    assert left_out == 2


@pytest.mark.parametrize("row, message", [
    ({"label": 0}, "missing field 'sentence'"),
    ({"sentence": "  ", "label": 0}, "empty or non-text field 'sentence'"),
    ({"sentence": "x", "label": "great"}, "label 'great' is not one of"),
    ({"sentence": "x", "label": 7}, "label 7 is not one of"),
])
def test_bad_rows_name_file_and_line(tmp_path, row, message):
    (tmp_path / "train.jsonl").write_text(json.dumps({"sentence": "ok", "label": 0}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=rf"train.jsonl:2: {message}"):
        convert(TASKS["marc"], local_split(TASKS["marc"], tmp_path, "train"))


def test_broken_json_line_names_file_and_line(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"sentence": "ok", "label": 0}\n{"sentence": "broken\n')
    with pytest.raises(DataError, match=r"train.jsonl:2: not valid JSON"):
        convert(TASKS["marc"], local_split(TASKS["marc"], tmp_path, "train"))


def test_jglue_nested_jsquad(tmp_path):
    src = FIXTURES / "jsquad_jglue"
    examples, _ = convert(TASKS["jsquad"], local_split(TASKS["jsquad"], src, "validation"))
    assert [e["id"] for e in examples] == ["a1000001-0000-0000", "a1000001-0000-0001"]
    assert examples[1]["references"] == ["1917年", "1917"]
    assert "Context: 大阪城 [SEP]" in examples[0]["prompt"]


def test_parquet_and_json_array(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = [json.loads(l) for l in (SAMPLES / "xlsum" / "test.jsonl").read_text().splitlines()[:3]]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test.parquet")
    (tmp_path / "train.json").write_text(json.dumps(rows))
    (tmp_path / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats = prepare(TASKS["xlsum"], tmp_path, tmp_path / "out")
    assert stats == {s: {"rows": 3, "left_out": 0} for s in ("train", "validation", "test")}


def test_data_cli_writes_splits(tmp_path):
    proc = cli("prompts", "data", "marc", "--from", str(SAMPLES / "marc"), "--out", "d", cwd=tmp_path, check=True)
    lines = (tmp_path / "d" / "validation.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 56 and "left out" in proc.stderr
    first = json.loads(lines[0])
    assert set(first) == {"id", "prompt", "response", "references", "meta"}


@pytest.mark.parametrize("args, bad", [(["marcja"], "marcja"), (["xlsum", "--from", "nowhere"], "nowhere")])
def test_data_cli_bad_input(tmp_path, args, bad):
    proc = cli("prompts", "data", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert bad in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_bad_file_writes_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.jsonl").write_text('{"sentence": "ok", "label": 0}\n')
    (src / "validation.jsonl").write_text('{"sentence": "ok", "label": "meh"}\n')
    proc = cli("prompts", "data", "marc", "--from", str(src), cwd=tmp_path)
    assert proc.returncode == 2 and "validation.jsonl:1" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_unknown_task_lists_valid():
    with pytest.raises(UsageError, match="unknown task 'marcja'; valid: marc, jsquad, xlsum"):
        get_task("marcja")


def test_missing_split_is_named(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"id": "1", "title": "t", "summary": "s", "text": "x"}\n')
    (tmp_path / "test.jsonl").write_text('{"id": "1", "title": "t", "summary": "s", "text": "x"}\n')
    looked = "validation.jsonl, validation.json, validation.parquet, xlsum-validation.parquet"
    with pytest.raises(DataError, match=rf"no file for split 'validation' \(looked for {looked}\)"):
        prepare(TASKS["xlsum"], tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
