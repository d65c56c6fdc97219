"""Leaderboard metrics against their references, row by row: `llmjp_char_f1` against fuzzywuzzy 0.18 with
python-Levenshtein (GPL, test-only) as llm-jp-eval 1.3.0's get_evaluation_result calls it, and
`lmeval_rouge2` against lm-evaluation-harness's own japanese_leaderboard XL-Sum tokenizer and rouge_score."""
from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import pytest

from eval.leaderboard import llmjp_char_f1, lmeval_rouge2, token_sort_ratio
from eval.metrics import METRICS, row_scores
from eval.predictions import load_for_scoring
from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = [
    "", " ", "\n\n", "　", "\t東京\n", "。", "、。！？", "😊", "東京😊", "👨‍👩‍👧家族", "ＡＢＣ１２３", "ａｂｃ", "ABC",
    "Ｔｏｋｙｏ　Ｔｏｗｅｒ", "東京\x00都", "\x00", "Café au lait", "naïve×2", "½ ¼", "ﾄｳｷｮｳ", "①②", "ℌ",
    "東京\n\n大阪", "東京\n大阪", "  東京 大阪  ", "大阪 東京", "_東京_", "東京-大阪", "1,000円", "1000円",
    "東京" * 2000, "あ" * 10000 + " い", "\ud800東京", "東\u200b京", "Ⅻ世紀", "ǅ", "İstanbul", "ß",
]


def jglue_rows() -> list[tuple[str, list[str]]]:
    """(prediction, gold answers) from the JGLUE-format fixtures: golds, golds with particles, context
    slices, questions, other answers: what a model outputs and what it gets wrong."""
    rows = []
    for name in ("jsquad_dev_sample.json", "jsquad_jglue/valid-v1.3.json", "jsquad_jglue/train-v1.3.json"):
        data = json.loads((ROOT / "tests" / "fixtures" / name).read_text(encoding="utf-8"))
        for article in data["data"]:
            for p in article["paragraphs"]:
                for q in p["qas"]:
                    golds = [a["text"] for a in q["answers"]]
                    for pred in (golds[0], golds[-1] + "です。", golds[0] + "の", p["context"][:12],
                                 q["question"], golds[0][:1], golds[0] + "\n\n" + q["question"], " " + golds[0]):
                        rows.append((pred, golds))
    return rows


def reference_char_f1(pred: str, golds: list[str]) -> float:
    """llm-jp-eval 1.3.0: y_pred = normalize(output.split("\\n\\n")[0].strip()), y_true = normalize(answers[0])
    (normalize is NFKC), char_f1 = fuzz.token_sort_ratio(y_pred, y_true) / 100.0."""
    from fuzzywuzzy import fuzz
    nfkc = lambda s: unicodedata.normalize("NFKC", s)  # noqa: E731
    return fuzz.token_sort_ratio(nfkc(pred.split("\n\n")[0].strip()), nfkc(golds[0])) / 100.0


def test_char_f1_equals_llm_jp_eval_row_by_row():
    rows = jglue_rows() + [(h, [g]) for h in HOSTILE for g in ("東京", "Tokyo Tower", "1000円", "")]
    rows += [(g, [h]) for h in HOSTILE for g in ("東京", "")]
    rows = [(p, g) for p, g in rows if not any("\ud800" <= c <= "\udfff" for c in p + "".join(g))]
    assert len(rows) > 300
    for pred, golds in rows:
        assert llmjp_char_f1(pred, golds) == pytest.approx(reference_char_f1(pred, golds), abs=1e-9), (pred, golds)


def test_token_sort_ratio_rounds_halves_as_python_does():
    from fuzzywuzzy import fuzz
    # lengths 3 and 5 share 3: 100 * 6/8 = 75 exactly; 1 of 1 vs 1 of 7: 25.0 -> 25; ratios landing on .5
    pairs = [("abc", "abcde"), ("a", "abcdefg"), ("ab", "abcdefgh"), ("abcde", "abcdefghijklmno")]
    pairs += [("a" * i, "a" * j + "b" * k) for i in range(1, 9) for j in range(0, 9) for k in range(0, 9)]
    for a, b in pairs:
        assert token_sort_ratio(a, b) == fuzz.token_sort_ratio(a, b), (a, b)


def test_char_f1_reads_the_answer_before_particle_stripping(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "a1p0q0", "raw": "東京での\n次の質問", "references": ["東京"]},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    row = load_for_scoring("jsquad", path)[0]
    assert row["prediction"] == "東京" and row["extracted"] == "東京での"
    scores = row_scores("jsquad", row)
    assert scores["f1"] == 1.0
    assert scores["llmjp_char_f1"] == pytest.approx(reference_char_f1("東京での", ["東京"]))
    assert scores["llmjp_char_f1"] < 1.0


# ---- lm-eval's XL-Sum ROUGE-2 -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lmeval_reference():
    """lm-eval's own module; its `Tagger("-Owakati")` made on unidic-lite (its requirements'
    `fugashi[unidic-lite]`): the `unidic` package installed beside it has no downloaded dictionary."""
    import fugashi
    import unidic_lite
    from lm_eval.tasks.japanese_leaderboard import ja_leaderboard_xlsum as ref
    from rouge_score import rouge_scorer

    d = unidic_lite.DICDIR
    ref.Tagger = lambda args: fugashi.Tagger(f'-r "{os.path.join(d, "mecabrc")}" -d "{d}" {args}')
    scorer = rouge_scorer.RougeScorer(rouge_types=["rouge2"], tokenizer=ref.MecabTokenizer())
    return lambda pred, gold: scorer.score(gold, pred)["rouge2"].fmeasure


def xlsum_rows() -> list[tuple[str, str]]:
    rows = []
    lines = (ROOT / "prompts" / "samples" / "xlsum" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    examples = [json.loads(line) for line in lines]
    for i, ex in enumerate(examples):
        other = examples[(i + 1) % len(examples)]
        for pred in (ex["summary"], ex["text"].split("\n")[0], ex["text"][:80], other["summary"],
                     ex["summary"][::-1], ex["title"]):
            rows.append((pred, ex["summary"]))
    return rows


def test_rouge2_equals_lm_eval_row_by_row(lmeval_reference):
    news = "気象庁によると、九州北部では24日から記録的な大雨が続き、福岡県と佐賀県に大雨特別警報が出された。"
    hostile = [h for h in HOSTILE if not any("\ud800" <= c <= "\udfff" for c in h)]
    rows = xlsum_rows() + [(h, news) for h in hostile] + [(news, h) for h in hostile]
    rows += [("ＡＢＣ社の株価が１０％上昇した", "ABC社の株価が10%上昇した"),
             ("笑顔😊で👍🏽握手した✂️", "笑顔で握手した"), ("九州\x00北部で大雨", "九州北部で大雨"), (news * 300, news)]
    assert len(rows) > 250
    for pred, gold in rows:
        expected = lmeval_reference(pred, gold)
        assert lmeval_rouge2(pred, [gold]) == pytest.approx(expected, abs=1e-9), (pred[:50], gold[:50])


def test_rouge2_lmeval_differs_from_xlsum_scorer_where_normalisation_differs():
    # neologdn folds full-width letters and digits; XL-Sum's scorer keeps full- and half-width apart.
    pred, gold = "ＡＢＣ社の株価が１０％上昇した", "ABC社の株価が10%上昇した"
    assert lmeval_rouge2(pred, [gold]) == 1.0
    assert METRICS["rouge2"](pred, [gold]) < 1.0


def test_lone_surrogate_scores_instead_of_failing():
    assert 0.0 <= lmeval_rouge2("九州\ud800北部で大雨", ["九州北部で大雨"]) <= 1.0
    assert 0.0 <= llmjp_char_f1("東京\ud800", ["東京"]) <= 1.0


def test_score_cli_prints_leaderboard_metrics_and_rows(tmp_path):
    lines = [{"id": "a1p0q0", "raw": "東京での", "references": ["東京"]},
             {"id": "a1p0q1", "raw": "大阪", "references": ["大阪府", "大阪"]}]
    path = tmp_path / "jsquad.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    proc = cli("eval", "score", "jsquad", str(path), "--rows", str(tmp_path / "rows.jsonl"), cwd=tmp_path,
               env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    per_row = [reference_char_f1(r["raw"], r["references"]) for r in lines]
    assert summary["llmjp_char_f1"] == pytest.approx(sum(per_row) / 2, abs=1e-9)
    rows = [json.loads(x) for x in (tmp_path / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["metrics"]["llmjp_char_f1"] for r in rows] == pytest.approx(per_row, abs=1e-9)
    assert rows[0]["extracted"] == "東京での"

    xl = tmp_path / "xlsum.jsonl"
    xl.write_text(json.dumps({"id": "x", "raw": '九州で大雨"""', "references": ["九州北部で大雨"]},
                             ensure_ascii=False) + "\n", encoding="utf-8")
    proc = cli("eval", "score", "xlsum", str(xl), cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["lmeval_rouge2"] == pytest.approx(lmeval_rouge2("九州で大雨", ["九州北部で大雨"]))
