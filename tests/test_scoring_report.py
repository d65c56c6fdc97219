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


def test_leaderboard_section_puts_published_scores_beside_ours(tmp_path, monkeypatch):
    from report import collect, comparison, tables
    runs = tmp_path / "runs"
    write_scores(runs, "calm2", "jsquad", "2e-4", {"exact_match": 0.5, "f1": 0.8, "llmjp_char_f1": 0.85}, epoch=3)
    write_scores(runs, "calm2", "xlsum", "2e-4", {"rouge1": 0.3})            # scored before lmeval_rouge2
    write_scores(runs, "llama2-7b", "marc", "2e-4", {"accuracy": 0.9, "marc_loglik_accuracy": 0.95})
    results, _ = collect.collect(runs)
    built = [tables.build(name, results) for name in tables.specs()]

    # the shipped data: real numbers with their source, for models this registry may not have yet
    text = comparison.to_markdown(built)
    section = text.split("## Beside today's leaderboards")[1].split("\n## ")[0]
    assert "Not like-for-like" in section
    assert "| qwen2.5-7b | Qwen/Qwen2.5-7B | base | jsquad | llmjp_char_f1 | 0.9071 | 4-shot |" in section
    assert "| llmjp3-13b | llm-jp/llm-jp-3-13b | base | xlsum | lmeval_rouge2 | 0.1636 | 1-shot |" in section
    assert "qwen3-8b" not in section.split("### Published")[1]                  # not in the source: absent
    assert "commit d60c0e6, 2024-12-30" in section
    assert "| table5 | CALM2 7B | 2e-4 | 3 | llmjp_char_f1 | 0.8500 | – |" in section
    assert "| table6 | CALM2 7B 1,700 | 2e-4 | 1 | lmeval_rouge2 | – | – |" in section
    assert "| table3 | Llama-2 7B | 2e-4 | 1 | marc_loglik_accuracy | 0.9500 | – |" in section

    # a published number for a model we ran sits beside ours
    data = comparison.leaderboard_values()
    data["scores"]["calm2"] = {"hub_id": "cyberagent/calm2-7b", "kind": "base", "source": "swallow-2024-12",
                               "jsquad": 0.8}
    monkeypatch.setattr(comparison, "leaderboard_values", lambda: data)
    text = comparison.to_markdown(built)
    assert "| table5 | CALM2 7B | 2e-4 | 3 | llmjp_char_f1 | 0.8500 | 0.8000 |" in text


def test_leaderboard_data_is_complete():
    from report.comparison import leaderboard_values
    data = leaderboard_values()
    for source in data["sources"].values():
        assert source["url"].startswith("https://github.com/") and len(source["commit"]) == 40 and source["date"]
    for model, entry in data["scores"].items():
        assert entry["source"] in data["sources"] and entry["hub_id"]
        assert all(0 < entry[t] < 1 for t in ("jsquad", "xlsum") if t in entry), model
