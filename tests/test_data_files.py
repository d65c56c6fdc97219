"""Bad data files are refused at `just data` time: one line naming file and line, exit code 2, nothing
written (issue 14, cases 6 and 7); what real files legitimately contain (a UTF-8 BOM) is accepted."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from jaft.common import run
from prompts.__main__ import main as data_main
from tests.conftest import FIXTURES, SAMPLES


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """JAFT_DATA for the test: where `just data` writes (it must stay absent after a refusal)."""
    monkeypatch.setenv("JAFT_DATA", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "store"


def refused(capsys, store: Path, task: str, src: Path) -> str:
    code = run(data_main, ["data", task, "--from", str(src)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert not store.exists(), "a refused preparation wrote something"
    return err.strip()


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def marc_dir(tmp_path: Path, train: str | bytes | None = None, validation: str | bytes | None = None,
             suffix: str = ".jsonl") -> Path:
    """A MARC-ja folder: the bundled samples unless a split's content is given."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for split, content in (("train", train), ("validation", validation)):
        if content is None:
            content = (SAMPLES / "marc" / f"{split}.jsonl").read_text(encoding="utf-8")
            path = src / f"{split}.jsonl"
        else:
            path = src / f"{split}{suffix}"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return src


ROWS = [{"sentence": "良い品です。", "label": 0, "review_id": "R1"},
        {"sentence": "壊れました。", "label": 1, "review_id": "R2"},
        {"sentence": "普通です。", "label": 2, "review_id": "R3"}]


# ---- case 6: files that are not what they claim -----------------------------------------------------------

def test_shift_jis_json_names_file_and_line(tmp_path, store, capsys):
    text = jsonl(ROWS)
    src = marc_dir(tmp_path, validation=text.encode("shift_jis"), suffix=".json")
    err = refused(capsys, store, "marc", src)
    assert err == f"error: {src / 'validation.json'}:1: not UTF-8 text (save the file as UTF-8)"


def test_latin1_jsonl_names_file_and_line(tmp_path, store, capsys):
    rows = [{"sentence": "good", "label": 0, "review_id": "R1"},
            {"sentence": "très bien, café", "label": 0, "review_id": "R9"}]
    src = marc_dir(tmp_path, train=jsonl(rows).encode("latin-1"))
    err = refused(capsys, store, "marc", src)
    assert err == f"error: {src / 'train.jsonl'}:2: not UTF-8 text (save the file as UTF-8)"


def test_broken_json_array_names_line(tmp_path, store, capsys):
    items = ",\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS)
    text = "[\n" + items.replace('"R3"', '"R3",,') + "\n]\n"  # the third item, on line 4, is broken
    src = marc_dir(tmp_path, validation=text, suffix=".json")
    err = refused(capsys, store, "marc", src)
    assert err.startswith(f"error: {src / 'validation.json'}:4: not valid JSON (")


def test_json_array_items_carry_their_line(tmp_path, store, capsys):
    text = ('[\n  {"sentence": "良い品です。", "label": 0, "review_id": "R1"},\n'
            '  {"sentence": "壊れました。", "label": 1, "review_id": "R2"},\n'
            '  {\n    "sentence": "",\n    "label": 0,\n    "review_id": "R4"\n  }\n]\n')
    src = marc_dir(tmp_path, validation=text, suffix=".json")
    err = refused(capsys, store, "marc", src)
    assert err == f"error: {src / 'validation.json'}:4: empty or non-text field 'sentence'"  # the item's '{'


def test_cut_utf8_json_says_cut_short(tmp_path, store, capsys):
    raw = jsonl(ROWS).encode("utf-8")
    cut = raw[: raw.index("壊".encode()) + 1]  # ends inside a three-byte character
    src = marc_dir(tmp_path, validation=cut, suffix=".json")
    err = refused(capsys, store, "marc", src)
    assert err == f"error: {src / 'validation.json'}:2: the file ends inside a character (cut short?)"


def test_corrupt_parquet(tmp_path, store, capsys):
    src = marc_dir(tmp_path, train=b"PAR1 this is not parquet at all", suffix=".parquet")
    err = refused(capsys, store, "marc", src)
    assert err.startswith(f"error: {src / 'train.parquet'}: not a readable parquet file (")
    assert str(src) not in err.split("not a readable parquet file")[1]  # pyarrow's repetition of the path


@pytest.mark.parametrize("whole, where, says", [
    ({"data": 5}, "data", "expected a list of articles, got int"),
    ({"data": [{"title": "t", "paragraphs": {"x": 1}}]}, "data[0].paragraphs",
     "expected a list of paragraphs, got dict"),
    ({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q", "question": "?", "answers": "東京"}]}]}]},
     "data[0].paragraphs[0].qas[0].answers", "expected a list of answers, got str"),
])
def test_squad_nesting_with_wrong_types(tmp_path, store, capsys, whole, where, says):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("train-v1.1.json", "valid-v1.1.json"):
        (src / name).write_text(json.dumps(whole, ensure_ascii=False), encoding="utf-8")
    err = refused(capsys, store, "jsquad", src)
    assert err == f"error: {src / 'train-v1.1.json'}:{where}: {says}"


# ---- case 7: data that parses but would train on nonsense -----------------------------------------------

def test_answers_given_as_a_string(tmp_path, store, capsys):
    src = tmp_path / "src"
    src.mkdir()
    good = (SAMPLES / "jsquad" / "train.jsonl").read_text(encoding="utf-8")
    bad = {"id": "q9", "title": "東京", "context": "東京 [SEP] 東京都は首都。", "question": "首都は？",
           "answers": {"text": "東京都", "answer_start": 6}, "is_impossible": False}
    (src / "train.jsonl").write_text(good + json.dumps(bad, ensure_ascii=False) + "\n", encoding="utf-8")
    (src / "validation.jsonl").write_text((SAMPLES / "jsquad" / "validation.jsonl").read_text(encoding="utf-8"))
    err = refused(capsys, store, "jsquad", src)
    line = len(good.splitlines()) + 1
    assert err == (f"error: {src / 'train.jsonl'}:{line}: field 'answers.text' is a string; it must be a list "
                   "of answers (e.g. ['東京都'])")


@pytest.mark.parametrize("split", ["train", "validation"])
def test_empty_split(tmp_path, store, capsys, split):
    src = marc_dir(tmp_path, **{split: "\n"})
    err = refused(capsys, store, "marc", src)
    assert err == f"error: {src / (split + '.jsonl')}: no rows (split '{split}' is empty)"


def test_split_with_only_neutral_rows(tmp_path, store, capsys):
    src = marc_dir(tmp_path, validation=jsonl([ROWS[2], {**ROWS[2], "review_id": "R4", "label": "neutral"}]))
    err = refused(capsys, store, "marc", src)
    assert err == f"error: {src / 'validation.jsonl'}: all 2 rows are neutral; split 'validation' has no labelled rows"


def test_duplicate_ids(tmp_path, store, capsys):
    src = marc_dir(tmp_path, validation=jsonl([ROWS[0], ROWS[1], {**ROWS[1], "sentence": "別の文。"}]))
    err = refused(capsys, store, "marc", src)
    path = src / "validation.jsonl"
    assert err == f"error: {path}:3: duplicate id 'R2' (first at {path}:2)"


def test_id_of_the_wrong_type(tmp_path, store, capsys):
    src = marc_dir(tmp_path, validation=jsonl([ROWS[0], {**ROWS[1], "review_id": {"id": 2}}]))
    err = refused(capsys, store, "marc", src)
    assert err == f"error: {src / 'validation.jsonl'}:2: field 'review_id' must be a string or an integer, got dict"


# ---- accepted -------------------------------------------------------------------------------------------

def test_utf8_bom_is_accepted(tmp_path, store, capsys):
    """Windows tools save JSON with a BOM: JSON lines, a JSON array and SQuAD nesting all read the same."""
    bom = "\ufeff"
    src = marc_dir(tmp_path, train=bom + (SAMPLES / "marc" / "train.jsonl").read_text(encoding="utf-8"),
                   validation=bom + json.dumps(ROWS, ensure_ascii=False), suffix=".json")
    assert run(data_main, ["data", "marc", "--from", str(src)]) == 0, capsys.readouterr().err
    assert len((store / "marc" / "validation.jsonl").read_text().splitlines()) == 2
    squad = tmp_path / "squad"
    squad.mkdir()
    for name in ("train-v1.3.json", "valid-v1.3.json"):
        text = (FIXTURES / "jsquad_jglue" / name).read_text(encoding="utf-8")
        (squad / name).write_text(bom + text, encoding="utf-8")
    assert run(data_main, ["data", "jsquad", "--from", str(squad), "--version", "v1.3"]) == 0
    source = json.loads((store / "jsquad" / "source.json").read_text())
    assert source["kind"] == "local" and source["version"] == "v1.3"
    assert source["files"]["validation"]["path"] == str((squad / "valid-v1.3.json").resolve())


def test_from_writes_under_jaft_data_with_provenance(tmp_path, store, capsys):
    assert run(data_main, ["data", "marc", "--from", str(SAMPLES / "marc")]) == 0
    assert not (tmp_path / "data").exists()  # JAFT_DATA decides, not the working directory
    source = json.loads((store / "marc" / "source.json").read_text())
    record = source["files"]["validation"]
    assert record["path"] == str(SAMPLES / "marc" / "validation.jsonl")
    assert record["rows"] == 60 and record["examples"] == 56 and record["left_out"] == 4
    assert record["sha256"] == hashlib.sha256((SAMPLES / "marc" / "validation.jsonl").read_bytes()).hexdigest()
