"""Issue 19, round 2: every nested block of a registry entry is typed, run.json and both scores.json are strict
records read and written only through jaft.records, and `jaft validate` says every problem, one line each."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, cli

PACKAGES = ["jaft", "prompts", "recipes", "eval", "report", "pipeline"]


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
    ("calm2", rename("shape", "hidden", "hiden"), "unknown key 'shape.hiden'; did you mean 'hidden'?"),
    ("calm2", put("shape", "layers", 0), "key 'shape.layers': Input should be greater than or equal to 1"),
    ("calm2", lambda e: e.pop("shape"), "lacks shape (or architecture)"),
    ("calm2", put("paper_variants", "xlsum", ["len9"]), "key 'paper_variants.xlsum': unknown variant 'len9'"),
    ("calm2", lambda e: e.update(paper_variants={"xlsun": ["len1024"]}),
     "key 'paper_variants.xlsun': unknown task 'xlsun'; did you mean 'xlsum'? (valid: marc, jsquad, xlsum)"),
    ("tiny", put("recipe_overrides", "lora_alhpa", 8),
     "key 'recipe_overrides.lora_alhpa': not a key Axolotl knows; did you mean 'lora_alpha'?"),
    ("tiny", put("recipe_overrides", "micro_batch_size", 0),
     "key 'recipe_overrides.micro_batch_size': micro_batch_size=0 is impossible: it must be at least 1"),
    ("tiny", put("recipe_overrides", "learning_rate", 1.0),
     "key 'recipe_overrides.learning_rate': learning_rate is given by the LR argument, not by a model entry"),
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


# ---- item 2: run.json and scores.json are strict records -------------------------------------------------------

def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


RUN = {"run_id": "tiny-marc-lr2e-4", "model": "tiny", "task": "marc", "lr": "2e-4", "status": "finished"}


def test_run_json_refuses_an_unknown_key_and_a_record_without_id_or_status(tmp_path):
    from jaft.common import DataError
    from jaft.records import RUN_SCHEMA, read_run
    path = write(tmp_path / "run.json", {**RUN, "schema_version": RUN_SCHEMA, "stauts": "finished"})
    with pytest.raises(DataError, match=r"run.json: unknown key 'stauts'; did you mean 'status'\?"):
        read_run(path)
    with pytest.raises(DataError, match="run.json lacks run_id, status"):
        read_run(write(path, {}))


def test_an_older_record_s_unknown_key_is_read_without_it_and_named_by_validate(tmp_path, monkeypatch):
    """Versions 0 and 1 were open records: their unknown keys must not make old runs unreadable (report,
    eval, a resumed train read them), but `jaft validate` names them; the next write leaves them out."""
    from jaft.records import RUN_SCHEMA, read_run
    from jaft.validate import check_path
    from recipes.manifest import update
    run = tmp_path / "runs" / "tiny-marc-lr2e-4"
    for version in ({}, {"schema_version": 1}):
        write(run / "run.json", {**RUN, **version, "stauts": "x", "cost": {"wall_s": 1.0, "gpu_hour": 2}})
        assert read_run(run / "run.json") == {**RUN, "schema_version": RUN_SCHEMA, "cost": {"wall_s": 1.0}}
        said = [p for p in check_path(run) if "unknown key" in p]
        assert [p.split(": ", 1)[1].split(" (")[0] for p in said] == [
            "unknown key 'stauts'; did you mean 'status'?", "unknown key 'cost.gpu_hour'; did you mean 'gpu_hours'?"]
    update(run, eval_error=None)
    written = json.loads((run / "run.json").read_text())
    assert written["schema_version"] == RUN_SCHEMA and "stauts" not in written and written["eval_error"] is None


def test_scores_json_of_the_issue_is_refused_with_every_problem(tmp_path):
    from jaft.validate import check_path
    path = write(tmp_path / "runs" / "x" / "scores.json",
                 {"schema_version": 1, "model": "nosuch", "task": "nosuch", "lr": "9", "epochs": {}, "bset": {}})
    found = check_path(path.parent)
    assert found == [
        f"{path}: key 'epochs': Input should be a valid list",
        f"{path}: unknown key 'bset'; did you mean 'best'? (schema_version 1: read without it; jaft leaves it "
        f"out when it next writes the file)",
        f"{path}: run 'x': key 'model': unknown model 'nosuch' (valid: {', '.join(_models())})",
        f"{path}: run 'x': key 'task': unknown task 'nosuch' (valid: marc, jsquad, xlsum)",
        f"{path}: run 'x': key 'lr': unknown learning rate '9' (valid: 2e-4, 5e-5, 2e-5, 1e-5; the grid: "
        f"recipes/grid.yaml)"]


def _models() -> list[str]:
    from recipes.models import MODELS
    return list(MODELS)


def test_validate_refuses_an_empty_run_json_and_a_split_outside_the_closed_set(tmp_path):
    from jaft.validate import check_path
    run = tmp_path / "runs" / "tiny-marc-lr2e-4"
    assert check_path(write(run / "run.json", {}).parent) == [f"{run / 'run.json'} lacks run_id, status"]
    write(run / "run.json", {**RUN, "rows": {"valdation": {"rows": 3}}})
    write(run / "eval" / "epoch-1" / "scores.json", {"epoch": 1, "n": 3, "metrics": {"accuracy": 1}, "split": "tset"})
    assert check_path(run) == [
        f"{run / 'run.json'}: key 'rows.valdation': unknown split 'valdation'; did you mean 'validation'? "
        f"(valid: train, validation, test)",
        f"{run / 'eval/epoch-1/scores.json'}: key 'split': unknown split 'tset'; did you mean 'test'? "
        f"(valid: train, validation, test)"]


def test_a_record_jaft_could_not_read_back_is_never_written(tmp_path):
    from jaft.common import DataError
    from recipes.manifest import update
    write(tmp_path / "run.json", RUN)
    before = (tmp_path / "run.json").read_text()
    with pytest.raises(DataError, match="unknown key 'stauts'"):
        update(tmp_path, stauts="failed")
    with pytest.raises(DataError, match="unknown status 'faild'; did you mean 'failed'"):
        update(tmp_path, status="faild")
    assert (tmp_path / "run.json").read_text() == before


def test_a_training_s_run_json_is_a_clean_record(fake_axolotl):
    """Everything recipes/train.py writes into run.json is a typed key: a stand-in training's folder validates."""
    from jaft.records import RUN_SCHEMA
    from jaft.validate import check_path
    from recipes.runs import RunSpec
    spec = RunSpec.parse("tiny", "marc", "2e-4")
    fake_axolotl(spec, epochs=1)
    run = json.loads((spec.dir / "run.json").read_text())
    assert run["schema_version"] == RUN_SCHEMA and run["status"] == "failed" and run["rows"]["train"]["rows"] > 0
    assert check_path(spec.dir) == []


def test_report_reads_an_older_scores_json_with_a_key_it_does_not_know(tmp_path):
    from report.collect import load
    from tests.report_fixtures import write_scores
    run = write_scores(tmp_path / "runs", "calm2", "marc", "2e-4", {"accuracy": 0.9})
    scores = json.loads((run / "scores.json").read_text())
    write(run / "scores.json", {**scores, "schema_version": 1, "notes": "by hand"})
    result = load(run / "scores.json", "task-metric")
    assert not isinstance(result, str) and result.metrics == {"accuracy": 0.9}, result


READ_OR_WRITE_BY_HAND = re.compile(r"(atomic_write_json|read_json|json\.loads?)\(.*(scores|run\.json|manifest)")


def test_run_json_and_scores_json_are_read_and_written_only_through_the_records():
    """The reads and writes by hand (report/collect.py, eval/runner.py, report/export.py, pipeline/trial.py,
    recipes/manifest.py, recipes/tracking.py) go through jaft.records' read_*/write_*, which check."""
    found = [f"{p.relative_to(REPO)}:{i}" for pkg in PACKAGES for p in (REPO / pkg).glob("*.py")
             if p.name != "records.py"
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if READ_OR_WRITE_BY_HAND.search(line)]
    assert found == []


# ---- item 3: validate says every problem, of every kind of file --------------------------------------------------

def test_an_epoch_folder_and_a_run_s_eval_folder_are_checked_as_such(tmp_path):
    """`jaft validate RUN/eval/epoch-1` took the epoch folder for a run folder (its scores.json for the run's:
    `lacks model, task, lr`, `unknown key 'prompts_dropped'`...), and `RUN/eval` was "neither a run folder"."""
    from jaft.validate import check_path
    run = tmp_path / "runs" / "tiny-marc-lr2e-4"
    write(run / "run.json", RUN)
    good = {"schema_version": 1, "epoch": 1, "split": "validation", "n": 1, "metrics": {"accuracy": 1.0},
            "prompts_dropped": 0}
    pred = '{"id": "1", "raw": "positive", "references": ["positive"]}\n'
    for epoch in (1, 2):
        write(run / "eval" / f"epoch-{epoch}" / "scores.json", {**good, "epoch": epoch})
        (run / "eval" / f"epoch-{epoch}" / "predictions.jsonl").write_text(pred)
    assert check_path(run / "eval" / "epoch-1") == [] and check_path(run / "eval") == [] and check_path(run) == []
    write(run / "eval" / "epoch-2" / "scores.json", {**good, "epoch": 2, "split": "tset"})
    (run / "eval" / "epoch-2" / "predictions.jsonl").write_text(
        '{"id": "2", "raw": "x", "references": ["x"], "new_tokens": -1}\n')
    said = [f"{run / 'eval/epoch-2/scores.json'}: key 'split': unknown split 'tset'; did you mean 'test'? "
            f"(valid: train, validation, test)",
            f"{run / 'eval/epoch-2/predictions.jsonl'}:1: key 'new_tokens': Input should be greater than or equal to 0"]
    assert check_path(run / "eval" / "epoch-2") == said
    assert check_path(run / "eval") == said and check_path(run) == said
    assert check_path(run / "eval" / "epoch-1") == []


def test_two_bad_model_entries_are_two_lines(tmp_path, monkeypatch):
    path = models_file(tmp_path, one=("calm2", put("shape", "hiden", 1)), two=("tiny", lambda e: e.update(arch="lama")))
    found = problems(monkeypatch, JAFT_MODELS=path)
    assert [p.split(":")[1] for p in found] == [" model 'one'", " model 'two'"], found


def test_data_rows_are_typed_one_line_each_and_capped(tmp_path):
    from jaft.validate import MAX_ROW_PROBLEMS, check_path
    good = {"id": "1", "prompt": "p", "response": "positive", "references": ["positive"],
            "meta": {"fields": {"text": "良い"}}}
    rows = [good, {**good, "references": "notalist", "extra": 1}, {**good, "meta": {"fields": {"txt": "x"}}}]
    rows += [{**good, "id": 7}] * 30
    folder = tmp_path / "data" / "marc"
    folder.mkdir(parents=True)
    (folder / "valid.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    found = check_path(folder)
    split = folder / "valid.jsonl"
    assert found[:4] == [
        f"{split}: 'valid' is not a split; did you mean 'validation'? (valid: train, validation, test)",
        f"{split}:2: key 'references': Input should be a valid list; unknown key 'extra'; did you mean 'meta'?",
        f"{split}:3: key 'meta.fields': has txt; task 'marc' fills text",
        f"{split}:4: key 'id': Input should be a valid string"]
    assert len(found) == 1 + MAX_ROW_PROBLEMS + 1 and found[-1] == f"{split}: 12 more rows with problems"


def test_a_predictions_row_is_typed(tmp_path):
    from jaft.validate import check_path
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "1", "raw": "positive", "references": "notalist", "extra": 1}\n'
                    '{"id": "2", "raw": "positive", "references": ["positive"], "new_tokens": -1}\n')
    assert check_path(path) == [
        f"{path}:1: key 'references': Input should be a valid list; unknown key 'extra'; did you mean 'raw'?",
        f"{path}:2: key 'new_tokens': Input should be greater than or equal to 0"]


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
