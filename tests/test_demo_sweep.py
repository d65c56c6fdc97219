"""`just demo` end to end (real Axolotl, real eval, real report; fewer epochs than the interactive demo)
and `just sweep`'s contracts: bad names, a crash mid-sweep, a finished sweep starting nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import copy_project, just, sample_slice

RUNS = ("tiny-marc-lr2e-4", "tiny-marc-lr2e-4-s43", "tiny-jsquad-lr2e-4", "tiny-xlsum-lr2e-4")

@pytest.fixture(scope="module")
def demo(tmp_path_factory, tiny_model):
    ws = tmp_path_factory.mktemp("demo") / "demo"
    proc = just("demo", "--dir", str(ws), "--lrs", "2e-4", "--epochs", "2", cwd=ws.parent)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return ws, proc


@pytest.mark.e2e  # real Axolotl training on the tiny model
def test_demo_trains_evaluates_and_reports(demo):
    ws, proc = demo
    for run_id in RUNS:
        run = ws / "runs" / run_id
        assert json.loads((run / "run.json").read_text())["status"] == "finished"
        scores = json.loads((run / "scores.json").read_text())
        assert [e["epoch"] for e in scores["epochs"]] == [1, 2]
    table3 = (ws / "reports" / "table3.md").read_text()
    row = next(l for l in table3.splitlines() if l.startswith("| Tiny (test)"))
    accs = [json.loads((ws / "runs" / r / "scores.json").read_text())["best"]["metrics"]["accuracy"]
            for r in RUNS[:2]]  # the demo's one cell with two seeds
    assert f"{sum(accs) / 2 * 100:.2f}±" in row and "(n=2)" in row
    assert min(accs) > 0.6  # the toy learns MARC's labels within two epochs
    reports = ws / "reports"
    assert "| Tiny (test) | lr=2e-4 | 2 |" in (reports / "intervals.md").read_text()
    assert "## Table 3" in (reports / "significance.md").read_text()
    cost = (reports / "cost.md").read_text()
    assert all(f"| {r} | cpu | 0.000 |" in cost for r in RUNS)
    assert (reports / "results.csv").read_text().count("\ntiny-") == 4 * 2  # runs × epochs
    assert "Tiny (test) | 512 | 512 |" in (ws / "reports" / "table6.md").read_text()
    for png in ["score_vs_lr_marc.png", "cost_marc.png"] + [f"loss_{r}.png" for r in RUNS]:
        with Image.open(ws / "reports" / png) as im:
            assert im.format == "PNG"
    assert "tiny-xlsum-lr2e-4" in (ws / "reports" / "README.md").read_text()
    assert "Tables:" in proc.stderr and "table3.md" in proc.stderr
    leaderboard_metrics_in_the_demo(ws)


def leaderboard_metrics_in_the_demo(ws):
    """The leaderboards' metrics in every epoch's scores, results.csv and comparison.md; MARC-ja's label
    log-likelihoods and JSQuAD's paragraphs in the predictions they are computed from."""
    import csv
    new = {"marc": "marc_loglik_accuracy", "jsquad": "llmjp_char_f1", "xlsum": "lmeval_rouge2"}
    for run_id in RUNS:
        task = run_id.split("-")[1]
        scores = json.loads((ws / "runs" / run_id / "scores.json").read_text())
        assert all(0.0 <= e["metrics"][new[task]] <= 1.0 for e in scores["epochs"]), run_id  # every epoch
    rows = list(csv.DictReader((ws / "reports" / "results.csv").open(encoding="utf-8")))
    for row in rows:
        assert row[new[row["task"]]] != "", row["run_id"]
    lines = [json.loads(x) for x in (ws / "runs" / "tiny-marc-lr2e-4" / "eval" / "epoch-1" / "predictions.jsonl")
             .read_text(encoding="utf-8").splitlines()]
    assert all(set(x["label_loglik"]) == {"positive", "negative"} for x in lines)
    lines = [json.loads(x) for x in (ws / "runs" / "tiny-jsquad-lr2e-4" / "eval" / "epoch-1" / "predictions.jsonl")
             .read_text(encoding="utf-8").splitlines()]
    assert all(isinstance(x["cluster"], str) and x["cluster"] for x in lines)  # the paragraph, for the bootstrap
    comparison = (ws / "reports" / "comparison.md").read_text(encoding="utf-8")
    section = comparison.split("## Beside today's leaderboards")[1]
    for table, metric in (("table3", "marc_loglik_accuracy"), ("table5", "llmjp_char_f1"),
                          ("table6", "lmeval_rouge2")):
        line = next(x for x in section.splitlines() if x.startswith(f"| {table} | Tiny (test)") and metric in x)
        assert line.split("|")[6].strip()[0].isdigit(), line  # a number, not a dash


@pytest.mark.e2e  # real Axolotl training on the tiny model
def test_finished_demo_starts_nothing(demo, tmp_path):
    ws = copy_project(demo[0], tmp_path / "demo")
    stamp = (ws / "runs" / "tiny-marc-lr2e-4" / "run.json").stat().st_mtime
    proc = just("demo", "--dir", str(ws), "--lrs", "2e-4", "--epochs", "2", cwd=tmp_path)
    assert proc.returncode == 0
    assert "nothing to do" in proc.stderr and "train + eval" not in proc.stderr
    assert (ws / "runs" / "tiny-marc-lr2e-4" / "run.json").stat().st_mtime == stamp


@pytest.mark.e2e  # real Axolotl training on the tiny model
def test_crash_mid_sweep_finishes_the_others(tmp_path, tiny_model):
    """Two runs, one of which cannot train (a broken line in its data): the other trains, is scored and
    reported; the summary names the failure and the sweep exits 1."""
    from prompts.data import prepare
    from prompts.tasks import TASKS
    ws = tmp_path / "ws"
    for task in ("marc", "jsquad"):
        prepare(TASKS[task], sample_slice(task, tmp_path / "src" / task, 16, 8), ws / "data" / task)
    bad = ws / "data" / "jsquad" / "train.jsonl"
    bad.write_text(bad.read_text() + '{"id": "broken\n')
    env = {"JAFT_DATA": str(ws / "data"), "JAFT_RUNS": str(ws / "runs"), "JAFT_REPORTS": str(ws / "reports")}
    proc = subprocess.run([sys.executable, "-m", "pipeline", "sweep", "--models", "tiny", "--tasks", "jsquad", "marc",
                           "--lrs", "5e-5", "--epochs", "1", "--limit", "8"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, **env})
    assert proc.returncode == 1
    summary = proc.stderr[proc.stderr.index("runs failed:"):]
    assert "tiny-jsquad-lr5e-5" in summary and "train.jsonl" in summary and "tiny-marc" not in summary
    assert json.loads((ws / "runs" / "tiny-marc-lr5e-5" / "scores.json").read_text())["epochs"]
    failed = json.loads((ws / "runs" / "tiny-jsquad-lr5e-5" / "run.json").read_text())
    assert failed["status"] == "failed" and "train exited 2" in failed["error"]
    assert (ws / "reports" / "table3.md").is_file()


@pytest.mark.parametrize("args, bad", [(["--models", "calm3"], "unknown model 'calm3'; valid: calm2"),
                                       (["--tasks", "squad"], "unknown task 'squad'"),
                                       (["--lrs", "3e-4"], "unknown learning rate '3e-4'")])
def test_sweep_bad_names_start_nothing(tmp_path, args, bad):
    proc = just("sweep", *args, cwd=tmp_path)
    assert proc.returncode == 2 and bad in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_sweep_dry_run_plans_the_papers_56_runs(tmp_path):
    proc = just("sweep", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0 and "56 runs, 56 to do" in proc.stderr
    assert "calm2-xlsum-lr2e-4-len1024" in proc.stderr and list(tmp_path.iterdir()) == []
