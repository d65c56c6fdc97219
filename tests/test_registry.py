"""Tasks and models are data: a user adds one with a YAML entry (JAFT_TASKS / JAFT_MODELS files outside the
package, or the package's own tasks.yaml / models.yaml) and every stage follows, with no Python touched."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, cli, just, sample_slice
from tests.report_fixtures import write_scores

PROMPTS = REPO / "prompts"


def copy_task(tmp_path: Path, src: str, name: str, table: dict | None) -> Path:
    """A tasks file holding a copy of a built-in entry under a new name, with its template beside it."""
    entry = yaml.safe_load((PROMPTS / "tasks.yaml").read_text(encoding="utf-8"))[src]
    entry["title"] = f"{name} (copy of {src})"
    if table is None:
        entry.pop("table", None)
    else:
        entry["table"] = {**entry["table"], **table}
    folder = tmp_path / "my-tasks"
    (folder / "templates").mkdir(parents=True)
    shutil.copy(PROMPTS / "templates" / entry["template"], folder / "templates" / entry["template"])
    path = folder / "tasks.yaml"
    path.write_text(yaml.safe_dump({name: entry}, allow_unicode=True), encoding="utf-8")
    return path


def add_model(tmp_path: Path, name: str, **changes) -> Path:
    entry = {**yaml.safe_load((REPO / "recipes" / "models.yaml").read_text(encoding="utf-8"))["calm2"], **changes}
    path = tmp_path / "my-models.yaml"
    path.write_text(yaml.safe_dump({name: entry}), encoding="utf-8")
    return path


def test_a_model_entry_renders_and_plans(tmp_path):
    env = {"JAFT_MODELS": str(add_model(tmp_path, "swallow-7b", hub_id="example/swallow-7b", display="Swallow 7B",
                                         paper=False, paper_variants={}))}
    proc = cli("recipes", "render", "swallow-7b", "jsquad", "2e-4", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    recipe = yaml.safe_load((tmp_path / "runs" / "swallow-7b-jsquad-lr2e-4" / "recipe.yaml").read_text())
    assert recipe["base_model"] == "example/swallow-7b" and recipe["learning_rate"] == 2e-4
    plan = cli("recipes", "plan", "swallow-7b", "--json", cwd=tmp_path, env=env, check=True)
    assert json.loads(plan.stdout)[0]["model"] == "swallow-7b"
    # Without the file the name is unknown, and the error lists what is known.
    bad = cli("recipes", "render", "swallow-7b", "jsquad", "2e-4", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown model 'swallow-7b'" in bad.stderr and "calm2" in bad.stderr


def test_a_paper_model_added_to_the_registry_gets_its_rows_in_table6(tmp_path):
    """Table 6's rows and blocks come from models.yaml, not code: a new 7B paper model sits in both 7B blocks."""
    env = {"JAFT_MODELS": str(add_model(tmp_path, "swallow-7b", display="Swallow 7B"))}
    runs = tmp_path / "runs"
    write_scores(runs, "swallow-7b", "xlsum", "2e-4", {"rouge1": 0.4, "rouge2": 0.1, "rougeL": 0.2})
    write_scores(runs, "swallow-7b", "xlsum", "5e-5", {"rouge1": 0.3, "rouge2": 0.1, "rougeL": 0.2}, "len1024")
    out = tmp_path / "reports"
    proc = cli("report", "--runs", str(runs), "--out", str(out), "--no-plots", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = (out / "table6.md").read_text().splitlines()
    rows = [l for l in lines if l.startswith("| ") and "lr=" not in l]
    assert rows[2] == "| Swallow 7B | 1,700 | 4,096 | **0.4000** | – | – | – |"      # block 1: 7B at 1,700
    assert rows[5] == "| Swallow 7B | 1,024 | 4,096 | – | **0.3000** | – | – |"      # block 2: 7B at 1,024
    tex = (out / "table6.tex").read_text()
    assert tex.count(r"\midrule") == 3  # header rule + two block rules: still three blocks


def test_a_task_without_a_table_is_listed_outside_the_layout(tmp_path):
    env = {"JAFT_TASKS": str(copy_task(tmp_path, "marc", "reviews", table=None))}
    runs = tmp_path / "runs"
    write_scores(runs, "tiny", "reviews", "2e-4", {"accuracy": 0.75})
    out = tmp_path / "reports"
    proc = cli("report", "--runs", str(runs), "--out", str(out), "--no-plots", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "outside the paper's layout" in (out / "README.md").read_text()
    assert "tiny-reviews-lr2e-4" in (out / "README.md").read_text()


@pytest.mark.parametrize("broken, message", [
    ("reviews: [1, 2]\n", "expected a mapping"),
    ("reviews: {title: x}\n", "task 'reviews' lacks splits"),
    ("reviews: {title: [\n", "cannot read the registry"),
])
def test_a_broken_tasks_file_is_one_line(tmp_path, broken, message):
    path = tmp_path / "tasks.yaml"
    path.write_text(broken)
    proc = cli("recipes", "render", "tiny", "marc", "2e-4", cwd=tmp_path, env={"JAFT_TASKS": str(path)})
    assert proc.returncode == 2 and message in proc.stderr and str(path) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_every_task_names_registered_steps_and_metrics():
    from eval.metrics import METRICS, task_metrics
    from eval.postprocess import STEPS
    from prompts.tasks import TASKS
    for task in TASKS.values():
        assert task.postprocess in STEPS and set(task_metrics(task)) <= set(METRICS)
        if task.table:
            assert set(task.table["metrics"]) <= set(task.metrics)


@pytest.mark.e2e
def test_a_copied_task_runs_data_train_eval_report(tmp_path, tiny_model):
    """docs/extending.md's recipe for a new task: copy marc's entry (and template) under a new name, give it a
    table; then data -> train (tiny, 1 epoch) -> eval -> report, without touching Python."""
    env = {"JAFT_TASKS": str(copy_task(tmp_path, "marc", "reviews",
                                       table={"name": "table9", "title": "Reviews accuracy (%)"}))}
    steps = [("data", "reviews", "--from", str(sample_slice("marc", tmp_path / "src", 24, 8))),
             ("train", "tiny", "reviews", "2e-4", "--epochs", "1"),
             ("eval", "--limit", "8"), ("report", "--no-plots")]
    for step in steps:
        proc = just(*step, cwd=tmp_path, env=env)
        assert proc.returncode == 0, f"{step}: {proc.stderr[-2000:]}"
    scores = json.loads((tmp_path / "runs" / "tiny-reviews-lr2e-4" / "scores.json").read_text())
    assert scores["task"] == "reviews" and scores["metric"] == "accuracy" and len(scores["epochs"]) == 1
    table = (tmp_path / "reports" / "table9.md").read_text()
    value = f"{scores['best']['metrics']['accuracy'] * 100:.2f}"
    assert "**Table 9.** Reviews accuracy (%)" in table and f"| Tiny (test) | **{value}*** |" in table
