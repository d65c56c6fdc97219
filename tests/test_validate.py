"""Issue 19, round 2: every nested block of a registry entry is typed, and `jaft validate` says every problem,
one line each."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, cli

def tasks_file(tmp_path: Path, **entries) -> Path:
    """A tasks file holding copies of marc's entry, each changed by a function of the entry (its template
    beside it)."""
    marc = yaml.safe_load((REPO / "prompts" / "tasks.yaml").read_text(encoding="utf-8"))["marc"]
    (tmp_path / "templates").mkdir(exist_ok=True)
    shutil.copy(REPO / "prompts" / "templates" / marc["template"], tmp_path / "templates")
    out = {}
    for name, change in entries.items():
        entry = json.loads(json.dumps(marc))
        change(entry)
        out[name] = entry
    path = tmp_path / "mytasks.yaml"
    path.write_text(yaml.safe_dump(out, allow_unicode=True), encoding="utf-8")
    return path


def models_file(tmp_path: Path, **entries) -> Path:
    """A models file holding copies of built-in entries: name -> (the entry copied, a change to it)."""
    models = yaml.safe_load((REPO / "recipes" / "models.yaml").read_text(encoding="utf-8"))
    out = {}
    for name, (source, change) in entries.items():
        entry = json.loads(json.dumps(models[source]))
        change(entry)
        out[name] = entry
    path = tmp_path / "mymodels.yaml"
    path.write_text(yaml.safe_dump(out), encoding="utf-8")
    return path


def problems(monkeypatch, **env) -> list[str]:
    """`jaft validate`'s lines about the registries, with these variables set."""
    from jaft.validate import registries
    for k, v in env.items():
        monkeypatch.setenv(k, str(v))
    return registries()[0]


def rename(block: str, old: str, new: str):
    def change(entry):
        entry[block][new] = entry[block].pop(old)
    return change


def put(block: str, key: str, value):
    def change(entry):
        entry[block][key] = value
    return change


# ---- item 1: nested blocks of the registries --------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (rename("table", "metrics", "metrcs"), "unknown key 'table.metrcs'; did you mean 'metrics'?"),
    (put("table", "bold", "rwo"), "key 'table.bold': unknown bold 'rwo'; did you mean 'row'? (valid: row, block)"),
    (put("table", "digits", "two"), "key 'table.digits': Input should be a valid integer"),
    (rename("source", "default", "defualt"), "unknown key 'source.defualt'; did you mean 'default'?"),
    (put("source", "default", "parqet"), "key 'source': default 'parqet' is not a version; did you mean 'parquet'?"),
    (put("source", "local_files", {"valdation": "x.json"}),
     "key 'source.local_files.valdation': unknown split 'valdation'; did you mean 'validation'?"),
    (lambda e: e["source"]["versions"]["parquet"]["files"]["train"].update(rws=3),
     "unknown key 'source.versions.parquet.files.train.rws'; did you mean 'rows'?"),
    (lambda e: e["source"]["versions"]["parquet"]["files"].pop("validation"),
     "key 'source.versions.parquet.files': lacks split 'validation'"),
])
def test_a_task_s_nested_blocks_are_typed(tmp_path, monkeypatch, change, message):
    """`table:` and `source:` were dicts of anything: a misspelt key passed `jaft validate`, then
    `jaft report` (KeyError 'metrics') or `jaft data` (KeyError 'default') crashed."""
    path = tasks_file(tmp_path, reviews=change)
    found = problems(monkeypatch, JAFT_TASKS=path)
    assert len(found) == 1 and found[0].startswith(f"{path}: task 'reviews'") and message in found[0], found


def test_a_table_metric_the_task_does_not_score_is_named(tmp_path, monkeypatch):
    path = tasks_file(tmp_path, reviews=put("table", "metrics", ["acurracy"]))
    assert problems(monkeypatch, JAFT_TASKS=path) == [
        f"{path}: task 'reviews': key 'table.metrics': 'acurracy' is not one of the task's metrics; did you mean "
        f"'accuracy'? (valid: accuracy, marc_loglik_accuracy)"]


@pytest.mark.parametrize("source, change, message", [
    ("tiny", rename("shape", "hidden", "hiden"), "unknown key 'shape.hiden'; did you mean 'hidden'?"),
    ("tiny", put("shape", "layers", 0), "key 'shape.layers': Input should be greater than or equal to 1"),
    ("tiny", lambda e: e.pop("shape"), "lacks shape (or architecture)"),
    ("calm2", put("paper_variants", "xlsum", ["len9"]), "key 'paper_variants.xlsum': unknown variant 'len9'"),
    ("calm2", lambda e: e.update(paper_variants={"xlsun": ["len1024"]}),
     "key 'paper_variants.xlsun': unknown task 'xlsun'; did you mean 'xlsum'? (valid: marc, jsquad, xlsum)"),
    ("tiny", put("recipe_overrides", "lora_alhpa", 8),
     "key 'recipe_overrides.lora_alhpa': not a key Axolotl knows; did you mean 'lora_alpha'?"),
    ("tiny", put("recipe_overrides", "micro_batch_size", 0),
     "key 'recipe_overrides.micro_batch_size': micro_batch_size=0 is impossible: it must be at least 1"),
    ("qwen3-8b", rename("architecture", "hidden_size", "hidden_sze"),
     "unknown key 'architecture.hidden_sze'; did you mean 'hidden_size'?"),
])
def test_a_model_s_nested_blocks_are_typed(tmp_path, monkeypatch, source, change, message):
    """`shape:` (KeyError in `jaft plan`), `paper_variants`, `recipe_overrides` were unchecked; `architecture`
    was checked by recipes/architecture.py (strict) but its error was pydantic's many lines."""
    path = models_file(tmp_path, mine=(source, change))
    found = problems(monkeypatch, JAFT_MODELS=path)
    assert len(found) == 1 and found[0].startswith(f"{path}: model 'mine'") and message in found[0], found
    assert "\n" not in found[0]


def test_every_registry_entry_of_the_project_is_valid(monkeypatch):
    assert problems(monkeypatch) == []


def test_a_misspelt_table_key_is_one_line_from_report_not_a_keyerror(tmp_path):
    path = tasks_file(tmp_path, reviews=rename("table", "metrics", "metrcs"))
    proc = cli("jaft", "report", "--no-plots", cwd=tmp_path, env={"JAFT_TASKS": str(path)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert [line for line in proc.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: {path}: task 'reviews': lacks table.metrics; unknown key 'table.metrcs'; did you mean 'metrics'?"]


# ---- item 3: every problem of the registries, each naming the entry's own file ------------------------------

def test_two_bad_model_entries_are_two_lines(tmp_path, monkeypatch):
    path = models_file(tmp_path, one=("tiny", put("shape", "hiden", 1)), two=("tiny", lambda e: e.update(arch="lama")))
    found = problems(monkeypatch, JAFT_MODELS=path)
    assert [p.split(":")[1] for p in found] == [" model 'one'", " model 'two'"], found


def test_a_registry_file_is_a_path_validate_checks(tmp_path):
    path = tasks_file(tmp_path, reviews=lambda e: None, bad=put("table", "bold", "rwo"))
    proc = cli("jaft", "validate", str(path), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: {path}: task 'bad': key 'table.bold': unknown bold 'rwo'; did you mean 'row'? (valid: row, block)"]
    path = tasks_file(tmp_path, reviews=lambda e: None)
    proc = cli("jaft", "validate", str(path), str(REPO / "recipes" / "models.yaml"), str(REPO / "recipes/grid.yaml"),
               cwd=tmp_path)
    assert proc.returncode == 0 and "ok" in proc.stderr, proc.stderr


def test_an_unknown_step_names_the_file_holding_the_task(tmp_path, monkeypatch):
    """At score time and in validate: the entry's own file, not prompts/tasks.yaml nor every registry file."""
    path = tasks_file(tmp_path, marc4=put_top("postprocess", "label_frist"),
                      marc5=put_top("metrics", ["acuracy"]))
    found = problems(monkeypatch, JAFT_TASKS=path)
    assert found == [
        f"{path}: task 'marc4': key 'postprocess': unknown step 'label_frist'; did you mean 'label_first'? "
        f"(valid: label_first, jsquad_answer, before_closing_quotes)",
        f"{path}: task 'marc5': key 'metrics': unknown metric 'acuracy'; did you mean 'accuracy'? "
        f"(valid: {', '.join(_metrics())})"]
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "1", "raw": "positive", "references": ["positive"]}\n')
    for task, line in (("marc4", found[0]), ("marc5", found[1])):
        proc = cli("jaft", "score", task, str(preds), cwd=tmp_path, env={"JAFT_TASKS": str(path)})
        assert proc.returncode == 2 and proc.stderr.strip() == f"error: {line}", proc.stderr


def put_top(key: str, value):
    def change(entry):
        entry[key] = value
    return change


def _metrics() -> list[str]:
    from eval.metrics import METRICS
    return list(METRICS)
