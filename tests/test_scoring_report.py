"""comparison.md: each cell's diagnostics, and rows whose learning rates changed nothing (ours or the paper's)."""
from __future__ import annotations

import json

from tests.conftest import cli
from tests.report_fixtures import write_scores

UNPARSED = {"unparsed": {"count": 3, "share": 0.0536, "what": "outputs that start with no label word"}}


def predictions(run_dir, rows):
    d = run_dir / "eval" / "epoch-1"
    d.mkdir(parents=True)
    (d / "predictions.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                         encoding="utf-8")


def with_diagnostics(run_dir, diags):
    path = run_dir / "scores.json"
    scores = json.loads(path.read_text())
    scores["best"]["diagnostics"] = diags
    path.write_text(json.dumps(scores))


def qa(answers):
    return [{"id": f"q{i}", "raw": raw, "references": ["東京"]} for i, raw in enumerate(answers)]


def test_comparison_flags_identical_learning_rates_and_shows_diagnostics(tmp_path):
    runs = tmp_path / "runs"
    same = ["東京", "大阪で", "京都"]
    predictions(write_scores(runs, "calm2", "jsquad", "2e-4", {"exact_match": 0.33, "f1": 0.5}), qa(same))
    predictions(write_scores(runs, "calm2", "jsquad", "5e-5", {"exact_match": 0.33, "f1": 0.5}), qa(same))
    # other raw text, the same answers once post-processed: the scored predictions are identical too
    predictions(write_scores(runs, "calm2", "jsquad", "2e-5", {"exact_match": 0.33, "f1": 0.5}),
                qa(["東京</s>", "大阪", "京都。"]))
    predictions(write_scores(runs, "calm2", "jsquad", "1e-5", {"exact_match": 0.0, "f1": 0.2}),
                qa(["名古屋", "大阪", "京都"]))
    with_diagnostics(write_scores(runs, "llama2-7b", "marc", "2e-4", {"accuracy": 0.9}), UNPARSED)
    out = tmp_path / "reports"
    cli("report", "--runs", str(runs), "--out", str(out), "--no-plots", cwd=tmp_path, check=True)
    text = (out / "comparison.md").read_text(encoding="utf-8")

    # the paper's own LLM-jp 13B JSQuAD row, from report/paper.yaml
    assert "- Table 5, LLM-jp 13B: 87.55/93.89 at all 4 learning rates." in text
    assert text.count("at all 4 learning rates") == 1
    # ours: 2e-4 and 5e-5 gave the same raw text; 2e-5 the same answers from other text; 1e-5 differs
    assert "- Table 5, CALM2 7B: identical predictions at lr 2e-4, 5e-5, 2e-5." in text
    assert "1e-5" not in text.split("In our runs")[1].split("\n\n")[1]
    # diagnostics of the cell's selected epoch, and a dash where the run predates them
    assert "| table3 | Llama-2 7B | 2e-4 | 1 | unparsed: outputs that start with no label word | 3 | 5.36% |" in text
    assert "| table5 | CALM2 7B | 2e-4 | 1 | – | – | – |" in text


def test_identical_raw_text_is_said(tmp_path):
    runs = tmp_path / "runs"
    for lr in ("2e-4", "1e-5"):
        predictions(write_scores(runs, "calm2", "jsquad", lr, {"exact_match": 1.0, "f1": 1.0}), qa(["東京"]))
    out = tmp_path / "reports"
    cli("report", "--runs", str(runs), "--out", str(out), "--no-plots", cwd=tmp_path, check=True)
    text = (out / "comparison.md").read_text(encoding="utf-8")
    assert "identical predictions at lr 2e-4, 1e-5 (the raw model text too)." in text


def test_unreadable_predictions_are_named_not_fatal(tmp_path):
    from report import collect, comparison, tables
    runs = tmp_path / "runs"
    run = write_scores(runs, "calm2", "jsquad", "2e-4", {"exact_match": 1.0, "f1": 1.0})
    predictions(run, qa(["東京"]))
    (run / "eval/epoch-1/predictions.jsonl").write_bytes("東京".encode("shift_jis") + b"\n")
    results, _ = collect.collect(runs)
    text = comparison.to_markdown([tables.build(name, results) for name in tables.specs()])
    assert "Not compared (no readable predictions)" in text and "predictions.jsonl:1: not UTF-8" in text
