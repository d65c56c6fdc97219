"""report: golden tables from fixture scores, the paper's numbers round-trip, intervals, plots, bad input."""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from report import collect, tables
from report.intervals import bootstrap
from tests.conftest import FIXTURES, cli
from tests.report_fixtures import paper_as_scores, write_scores

GOLDEN = FIXTURES / "report"


@pytest.fixture
def partial_runs(tmp_path):
    """A partial grid: some cells filled, the rest must show –."""
    runs = tmp_path / "runs"
    write_scores(runs, "calm2", "marc", "2e-4", {"accuracy": 0.9684}, val_loss_metrics={"accuracy": 0.95})
    write_scores(runs, "calm2", "marc", "5e-5", {"accuracy": 0.97})
    write_scores(runs, "llmjp-13b", "marc", "1e-5", {"accuracy": 0.9711})
    write_scores(runs, "llama2-7b", "jsquad", "2e-4", {"exact_match": 0.5619, "f1": 0.8524})
    write_scores(runs, "llama2-7b", "jsquad", "5e-5", {"exact_match": 0.60, "f1": 0.80})
    write_scores(runs, "calm2", "xlsum", "2e-4", {"rouge1": 0.373, "rouge2": 0.1, "rougeL": 0.2})
    write_scores(runs, "llama2-7b", "xlsum", "2e-4", {"rouge1": 0.41, "rouge2": 0.1, "rougeL": 0.2})
    write_scores(runs, "calm2", "xlsum", "2e-4", {"rouge1": 0.3679, "rouge2": 0.1, "rougeL": 0.2}, "len1024")
    write_scores(runs, "llmjp-13b", "xlsum", "1e-5", {"rouge1": 0.3389, "rouge2": 0.1, "rougeL": 0.2})
    return runs


@pytest.mark.parametrize("name", ["table3", "table5", "table6"])
@pytest.mark.parametrize("ext", ["md", "tex"])
def test_golden_tables(partial_runs, tmp_path, name, ext):
    out = tmp_path / "reports"
    proc = cli("report", "--runs", str(partial_runs), "--out", str(out), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = (out / f"{name}.{ext}").read_text()
    golden = GOLDEN / f"{name}.{ext}"
    if os.environ.get("JAFT_REGEN_GOLDEN"):
        golden.write_text(got)
    assert got == golden.read_text()


def test_select_val_loss_changes_the_cell(partial_runs, tmp_path):
    out = tmp_path / "reports"
    cli("report", "--runs", str(partial_runs), "--out", str(out), "--no-plots", "--select", "val-loss",
        cwd=tmp_path, check=True)
    text = (out / "table3.md").read_text()
    assert "| CALM2 7B | 95.00 | **97.00** | – | – |" in text and "best epoch by validation loss" in text


def test_paper_numbers_give_the_paper_tables_back(tmp_path):
    paper_as_scores(tmp_path / "runs")
    results, warnings = collect.collect(tmp_path / "runs")
    assert warnings == []
    expected = (GOLDEN / "paper_tables.md").read_text()
    for name in ("table3", "table5", "table6"):
        table = tables.build(name, results)
        rows = [l for l in tables.to_markdown(table, "task-metric").splitlines()
                if l.startswith("| ") and not l.startswith("| Model")]
        assert len(rows) == (6 if name == "table6" else 4)
        for row in rows:
            # The study bolds Table 6 (best of each block) and prints Tables 3 and 5 unmarked.
            assert (row if name == "table6" else row.replace("**", "")) in expected, row
        if name != "table6":  # our bold: the row's best (Table 5 by F1), ties all bold
            for row in table.rows:
                best = max(c.values[-1] for c in row.cells)
                assert [c.bold for c in row.cells] == [c.values[-1] == best for c in row.cells]


def test_comparison_shows_paper_ours_difference(partial_runs, tmp_path):
    out = tmp_path / "reports"
    cli("report", "--runs", str(partial_runs), "--out", str(out), "--no-plots", cwd=tmp_path, check=True)
    text = (out / "comparison.md").read_text()
    assert "| CALM2 7B | 5e-5 | 96.93 | 97.00 | +0.07 |" in text
    assert "| Llama-2 7B | 5e-5 | 56.93/85.65 | 60.00/80.00 | +3.07/-5.65 |" in text
    assert "| Llama-2 7B 1,700 | 2e-4 | 0.3390 | 0.4100 | +0.0710 |" in text
    assert "| Llama-2 13B | 2e-4 | 96.39 | – | – |" in text
    readme = (out / "README.md").read_text()
    assert "| table3 | CALM2 7B | 2e-4 | calm2-marc-lr2e-4 | 42 | 1 |" in readme and "axolotl" in readme


def test_bad_scores_files_are_warned_and_left_out(partial_runs, tmp_path):
    (partial_runs / "broken").mkdir()
    (partial_runs / "broken" / "scores.json").write_text("{not json")
    write_scores(partial_runs, "calm3", "marc", "2e-4", {"accuracy": 0.5})
    out = tmp_path / "reports"
    proc = cli("report", "--runs", str(partial_runs), "--out", str(out), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 0
    assert "broken/scores.json: damaged scores.json" in proc.stderr
    assert "calm3-marc-lr2e-4/scores.json: unknown" in proc.stderr
    assert (out / "table3.md").read_text() == (GOLDEN / "table3.md").read_text()


def test_no_runs_gives_dashes_and_exit_0(tmp_path):
    (tmp_path / "runs").mkdir()
    proc = cli("report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 0 and "no scored runs" in proc.stderr
    text = (tmp_path / "r" / "table5.md").read_text()
    assert text.count("–") == 16 + 1  # 16 empty cells + the caption's legend
    assert (tmp_path / "r" / "score_vs_lr_marc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_select_is_one_line_error(tmp_path):
    proc = cli("report", "--select", "best", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown --select 'best'; valid: task-metric, val-loss" in proc.stderr


def test_bootstrap_known_answers():
    assert bootstrap([1.0] * 500) == (1.0, 1.0, 1.0)
    mean, low, high = bootstrap([1.0] * 500 + [0.0] * 500)
    assert mean == 0.5
    # normal approximation: 0.5 ± 1.96 * sqrt(0.25 / 1000) = ± 0.031
    assert low == pytest.approx(0.469, abs=0.006) and high == pytest.approx(0.531, abs=0.006)
    assert bootstrap([1.0] * 500 + [0.0] * 500) == (mean, low, high)  # fixed seed: same interval
    assert bootstrap(np.arange(10.0))[0] == 4.5


def _predictions(run_dir, correct: int, total: int):
    d = run_dir / "eval" / "epoch-1"
    d.mkdir(parents=True)
    rows = [{"id": i, "prompt": "p", "raw": "positive" if i < correct else "negative", "prediction": "",
             "references": ["positive"]} for i in range(total)]
    (d / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_intervals_from_predictions_and_paired_tests(tmp_path):
    runs = tmp_path / "runs"
    _predictions(write_scores(runs, "calm2", "marc", "2e-4", {"accuracy": 1.0}), 1000, 1000)
    _predictions(write_scores(runs, "llama2-7b", "marc", "2e-4", {"accuracy": 0.5}), 500, 1000)
    _predictions(write_scores(runs, "llama2-13b", "marc", "2e-4", {"accuracy": 0.51}), 510, 1000)
    out = tmp_path / "r"
    cli("report", "--runs", str(runs), "--out", str(out), cwd=tmp_path, check=True)
    text = (out / "intervals.md").read_text()
    assert "| CALM2 7B | lr=2e-4 | 1 | 100.00 [100.00, 100.00] |" in text
    line = next(l for l in text.splitlines() if l.startswith("| Llama-2 7B | lr=2e-4"))
    low, high = map(float, re.findall(r"\[(\S+), (\S+)\]", line)[0])
    assert 46.3 < low < 47.5 and 52.5 < high < 53.7
    assert "Pairs that differ" not in text and "significance.md" in text  # overlap is not a test
    sig = (out / "significance.md").read_text()
    assert re.search(r"\| lr=2e-4 \| CALM2 7B \| Llama-2 7B \| 1000 \| \+50\.00 \|.*\| yes \|", sig)
    # Overlapping intervals, yet 13B is right wherever 7B is, and on 10 examples more: the paired test sees it.
    assert re.search(r"\| lr=2e-4 \| Llama-2 7B \| Llama-2 13B \| 1000 \| -1\.00 \|.*\| yes \|", sig)
    for png in ("score_vs_lr_marc.png", "score_vs_lr_xlsum.png"):
        from PIL import Image
        with Image.open(out / png) as im:
            assert im.format == "PNG" and im.size[0] > 100


def latex_problems(tex: str) -> list[str]:
    """What would break a pdflatex build of one generated table (no TeX engine here): an unescaped special
    character (a bare % comments out the rest of the line), unbalanced braces or environments, a row with
    more or fewer cells than the column spec."""
    problems = []
    body = re.sub(r"\\[%&#$_{}]", "", tex)  # escaped specials are fine
    if re.search(r"[%#$_^~]", body) or re.search(r"[^ ]&|&[^ ]", body):
        problems.append("unescaped special character")
    depth = 0
    for char in body:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            break
    if depth:
        problems.append("unbalanced braces")
    for env in ("table", "tabular"):
        if (tex.count(rf"\begin{{{env}}}"), tex.count(rf"\end{{{env}}}")) != (1, 1):
            problems.append(f"{env} not opened and closed once")
    spec = re.search(r"\\begin\{tabular\}\{([lcr]+)\}", tex)
    rows = [line for line in tex.splitlines() if line.endswith(r" \\")]
    if not spec or not rows or any(len(row.split(" & ")) != len(spec.group(1)) for row in rows):
        problems.append("rows do not match the column spec")
    return problems


@pytest.mark.parametrize("select", ["task-metric", "val-loss"])
def test_latex_is_generated_fresh_and_would_compile(partial_runs, tmp_path, select):
    """Every .tex `just report` writes now, for a partial grid and the paper's full one, under both rules."""
    (paper := tmp_path / "paper-runs").mkdir()
    paper_as_scores(paper)
    written = {}
    for name, runs in (("partial", partial_runs), ("paper", paper)):
        out = tmp_path / name / select
        cli("report", "--runs", str(runs), "--out", str(out), "--no-plots", "--select", select,
            cwd=tmp_path, check=True)
        written.update({(name, t): (out / f"{t}.tex").read_text() for t in ("table3", "table5", "table6")})
    assert {key: latex_problems(tex) for key, tex in written.items()} == {key: [] for key in written}
    # The escaping was exercised: Tables 3 and 5 have "(%)" in their captions, every table bold cells.
    assert all(r"\%" in tex for (_, t), tex in written.items() if t != "table6")
    assert all(r"\textbf{" in tex for tex in written.values())
    broken = "\\begin{table}\n\\begin{tabular}{lr}\na & 50% \\\\\n\\end{tabular}\n\\end{table}\n"
    assert latex_problems(broken) == ["unescaped special character"]
    assert latex_problems(broken.replace("%", r"\%")) == []
    assert tables._tex("a_b 50% & #1 {x} –") == r"a\_b 50\% \& \#1 \{x\} --"


def test_cells_scored_on_a_subset_are_marked(tmp_path):
    runs = tmp_path / "runs"
    d = write_scores(runs, "calm2", "marc", "2e-4", {"accuracy": 0.9})
    scores = json.loads((d / "scores.json").read_text())
    scores["best"]["limit"] = 100
    (d / "scores.json").write_text(json.dumps(scores))
    table = tables.build("table3", collect.collect(runs)[0])
    md = tables.to_markdown(table, "task-metric")
    assert "| CALM2 7B | **90.00*** |" in md and "*: scored on the first 100 rows only" in md
