"""Issue 19/24: typed records, `jaft validate`, one settings object, one front door, the grid as data."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, SAMPLES, cli, just

PACKAGES = ["jaft", "prompts", "recipes", "eval", "report", "pipeline"]


def models_file(tmp_path: Path, **changes) -> Path:
    entry = {**yaml.safe_load((REPO / "recipes" / "models.yaml").read_text())["tiny"], **changes}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"tiny2": entry}))
    return path


# ---- records ---------------------------------------------------------------------------------------------------

def test_a_bad_arch_is_one_line_naming_file_entry_key_and_nearest(tmp_path):
    path = models_file(tmp_path, arch="lama")
    proc = cli("jaft", "render", "tiny", "marc", "2e-4", cwd=tmp_path, env={"JAFT_MODELS": str(path)})
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    line = proc.stderr.strip()
    assert str(path) in line and "model 'tiny2'" in line and "arch" in line and "did you mean 'llama'" in line


def test_a_misspelt_task_key_is_refused_with_the_nearest_key(tmp_path):
    entry = yaml.safe_load((REPO / "prompts" / "tasks.yaml").read_text())["marc"]
    entry["eval_splt"] = entry.pop("eval_split")
    path = tmp_path / "tasks.yaml"
    path.write_text(yaml.safe_dump({"reviews": entry}))
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "marc.txt").write_text((REPO / "prompts" / "templates" / "marc.txt").read_text())
    proc = cli("jaft", "validate", cwd=tmp_path, env={"JAFT_TASKS": str(path)})
    assert proc.returncode == 2, proc.stderr
    assert "unknown key 'eval_splt'; did you mean 'eval_split'?" in proc.stderr and "task 'reviews'" in proc.stderr


@pytest.mark.parametrize("key, value, nearest", [("splits", ["train", "valdation"], "validation"),
                                                 ("postprocess", "label_frist", "label_first"),
                                                 ("metrics", ["acuracy"], "accuracy")])
def test_a_value_outside_a_closed_set_names_the_nearest(tmp_path, key, value, nearest):
    entry = {**yaml.safe_load((REPO / "prompts" / "tasks.yaml").read_text())["marc"], key: value}
    path = tmp_path / "tasks.yaml"
    path.write_text(yaml.safe_dump({"reviews": entry}))
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "marc.txt").write_text((REPO / "prompts" / "templates" / "marc.txt").read_text())
    proc = cli("jaft", "validate", cwd=tmp_path, env={"JAFT_TASKS": str(path)})
    assert proc.returncode == 2 and f"did you mean '{nearest}'" in proc.stderr and key in proc.stderr, proc.stderr


def test_records_of_the_previous_jaft_are_migrated_and_newer_ones_refused(tmp_path):
    from jaft.common import DataError
    from jaft.records import RUN_SCHEMA, run_record
    old = {"run_id": "tiny-marc-lr2e-4", "model": "tiny", "task": "marc", "lr": "2e-4", "status": "finished"}
    assert run_record(old, "run.json")["schema_version"] == RUN_SCHEMA
    with pytest.raises(DataError, match="newer than this jaft"):
        run_record({**old, "schema_version": RUN_SCHEMA + 1}, "run.json")
    with pytest.raises(DataError, match="status"):
        run_record({**old, "status": "finishd"}, "run.json")


def test_registries_load_on_first_use_not_at_import(tmp_path):
    bad = tmp_path / "models.yaml"
    bad.write_text("x: [1\n")
    code = "import recipes.models, prompts.tasks, report.tables; print('imported')"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "JAFT_MODELS": str(bad)})
    assert proc.returncode == 0 and "imported" in proc.stdout, proc.stderr


# ---- validate --------------------------------------------------------------------------------------------------

def test_validate_checks_a_run_a_data_folder_and_predictions(tmp_path):
    run = tmp_path / "runs" / "tiny-marc-lr2e-4"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": run.name, "status": "finished", "lr": "2e-4"}))
    preds = tmp_path / "preds.jsonl"
    preds.write_text('{"id": "1", "raw": "positive"}\n')
    ok = cli("jaft", "validate", str(run), str(SAMPLES / "marc"), cwd=tmp_path)
    # samples are in the hub's schema, not data/<task>/ rows: each split is one line of problems
    assert ok.returncode == 2 and "missing field id, prompt" in ok.stderr
    proc = cli("jaft", "validate", str(run), str(preds), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: {preds}:1: missing field references"]
    preds.write_text('{"id": "1", "raw": "positive", "references": ["positive"]}\n')
    proc = cli("jaft", "validate", str(run), str(preds), cwd=tmp_path)
    assert proc.returncode == 0 and len(proc.stderr.strip().splitlines()) == 1 and "ok" in proc.stderr


# ---- settings --------------------------------------------------------------------------------------------------

def jaft_variable_uses(sources: dict[str, str]) -> list[str]:
    """`file:line` of every read or write of a JAFT_* variable through os.environ / os.getenv in `sources`
    (name -> Python text): the key a string literal, an f-string or a name (a constant, `tracking.PARENT_VAR`)
    assigned a "JAFT_..." literal in any of the files."""
    import ast
    trees = {name: ast.parse(text) for name, text in sources.items()}
    constants: dict[str, set] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        constants.setdefault(target.id, set()).add(node.value.value)

    def is_jaft(key) -> bool:
        if isinstance(key, ast.Constant):
            return isinstance(key.value, str) and key.value.startswith("JAFT_")
        if isinstance(key, ast.JoinedStr):
            return bool(key.values) and is_jaft(key.values[0])
        name = key.id if isinstance(key, ast.Name) else key.attr if isinstance(key, ast.Attribute) else None
        return any(v.startswith("JAFT_") for v in constants.get(name, ()))

    def is_environ(node) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or \
            (isinstance(node, ast.Name) and node.id == "environ")

    found = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            keys = []
            if isinstance(node, ast.Subscript) and is_environ(node.value):
                keys = [node.slice]
            elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
                keys = [node.left]
            elif isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Attribute) and is_environ(f.value) and f.attr in ("get", "pop", "setdefault"):
                    keys = node.args[:1]
                elif isinstance(f, ast.Attribute) and is_environ(f.value) and f.attr == "update":
                    keys = [k for a in node.args if isinstance(a, ast.Dict) for k in a.keys if k is not None]
                    keys += [ast.Constant(kw.arg) for kw in node.keywords if kw.arg]
                elif (isinstance(f, ast.Attribute) and f.attr in ("getenv", "putenv", "unsetenv")) or \
                        (isinstance(f, ast.Name) and f.id == "getenv"):
                    keys = node.args[:1]
            if any(is_jaft(k) for k in keys):
                found.append((name, node.lineno))
    return [f"{name}:{line}" for name, line in sorted(found)]


def test_the_scan_for_jaft_variables_sees_reads_through_a_constant():
    code = """import os
from os import environ, getenv
PARENT = "JAFT_PARENT"
a = os.environ.get(PARENT)
b = os.environ[other.PARENT]
c = environ.get("JAFT_X")
d = getenv(f"JAFT_{name}")
e = "JAFT_Y" in os.environ
os.environ["JAFT_Z"] = "1"
os.environ.update({"JAFT_W": "1"})
f = os.environ.get("HOME")
"""
    assert jaft_variable_uses({"m.py": code}) == [f"m.py:{n}" for n in (4, 5, 6, 7, 8, 9, 10)]


def test_only_the_settings_module_reads_or_writes_jaft_variables():
    files = [p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))]
    sources = {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in files}
    uses = jaft_variable_uses(sources)
    assert [u for u in uses if not u.startswith(f"jaft{os.sep}settings.py:")] == []


@pytest.mark.parametrize("env, message", [({"JAFT_KILL_GRACE_S": "abc"}, "JAFT_KILL_GRACE_S='abc'"),
                                          ({"JAFT_DATA": "FILE"}, "JAFT_DATA="),
                                          ({"JAFT_RUNS": "FILE"}, "JAFT_RUNS=")])
def test_a_bad_variable_is_one_line_exit_2(tmp_path, env, message):
    (tmp_path / "FILE").write_text("not a folder")
    env = {k: str(tmp_path / v) if v == "FILE" else v for k, v in env.items()}
    proc = cli("jaft", "plan", "tiny", cwd=tmp_path, env=env)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_a_missing_jaft_runs_folder_keeps_the_report(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "table3.md").write_text("complete")
    proc = cli("jaft", "report", "--no-plots", cwd=tmp_path, env={"JAFT_RUNS": str(tmp_path / "rusn")})
    assert proc.returncode == 2 and "JAFT_RUNS" in proc.stderr and "no such folder" in proc.stderr
    assert (tmp_path / "reports" / "table3.md").read_text() == "complete"


def test_the_suite_starts_with_no_jaft_variable_but_its_own():
    assert sorted(n for n in os.environ if n.startswith("JAFT_")) == ["JAFT_TINY_DIR"]


def test_a_run_with_jaft_runs_in_the_parent_environment_leaves_that_folder_untouched(tmp_path):
    """conftest clears JAFT_RUNS set by the user's shell: the test that used to write run folders into the
    user's runs (it trains through `recipes.train` in a temporary project) writes nothing there now."""
    users = tmp_path / "users-runs"
    users.mkdir()
    test = "tests/test_fit.py::test_the_four_learning_rates_train_on_the_same_cached_rows"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "JAFT_RUNS": str(users)})
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert list(users.iterdir()) == []


def test_the_cluster_gets_every_registry_file(tmp_path):
    from jaft import settings
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    env = settings.from_environ({"JAFT_TASKS": f"{a}{os.pathsep}{b}"}).environ()
    assert env["JAFT_TASKS"].split(os.pathsep) == [str(a), str(b)]


# ---- the front door --------------------------------------------------------------------------------------------

def test_jaft_help_lists_every_verb_and_the_justfile_aliases_it():
    from jaft.cli import VERBS
    proc = cli("jaft", "--help", cwd=REPO)
    listed = re.findall(r"^    (\w+)\s{2,}\S", proc.stdout, re.M)
    assert proc.returncode == 0 and listed == list(VERBS)
    justfile = (REPO / "justfile").read_text()
    for verb in VERBS:
        alias = rf"\[no-exit-message\]\n{verb} \*args:\n(    @bash .*\n)?    @exec {{{{jaft}}}} {verb} \"\$@\""
        assert re.search(alias, justfile), verb


def test_jaft_help_is_for_a_user_and_each_verb_is_one_line_at_80_columns():
    from jaft.cli import HELP_WIDTH, VERBS
    proc = subprocess.run([sys.executable, "-m", "jaft", "--help"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "80"})
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and all(len(line) <= 80 for line in lines), proc.stdout
    for verb, (_, help_line) in VERBS.items():
        assert len(help_line) <= HELP_WIDTH, verb
        i = next(i for i, line in enumerate(lines) if re.match(rf"^    {verb}\s{{2,}}\S", line))
        assert lines[i].split(None, 1)[1] == help_line, verb
        assert not re.match(r"^\s{10,}\S", lines[i + 1]), f"{verb}'s help wraps: {lines[i + 1]!r}"
    assert "VERBS" not in proc.stdout and "add_arguments" not in proc.stdout  # maintainer notes stay in the code


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`jaft plan | head`: stdout's reader closed before jaft wrote. Exit 141 (as SIGPIPE gives a shell tool),
    nothing on stderr; before, Python's BrokenPipeError traceback ended the command."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "jaft", "plan"], cwd=REPO, stdout=write_end,
                              stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (141, "")


@pytest.mark.parametrize("package, verbs", [("jaft", None), ("prompts", ["data"]),
                                            ("recipes", ["prepare", "render", "train", "tiny", "plan"]),
                                            ("eval", ["eval", "score"]), ("pipeline", ["sweep", "demo", "tune"]),
                                            ("report", [])])
def test_every_package_alias_answers_help(package, verbs):
    """`python -m <package> --help`: exit 0, the usage names the command typed, the package's verbs listed."""
    proc = cli(package, "--help", cwd=REPO)
    prog = "jaft" if package == "jaft" else f"python -m {package}"
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith(f"usage: {prog} [-h]"), proc.stdout[:200]
    assert f"{prog} {package}" not in proc.stdout  # not `python -m report report`
    listed = re.findall(r"^    (\w+)\s{2,}\S", proc.stdout, re.M)
    assert listed == (verbs if verbs is not None else listed) and (package != "jaft" or "validate" in listed)
    if verbs:
        sub = cli(package, verbs[0], "--help", cwd=REPO)
        assert sub.returncode == 0 and sub.stdout.startswith(f"usage: {prog} {verbs[0]}"), sub.stderr


def test_each_just_recipe_has_a_one_line_description():
    """`just --list` shows the comment line right above a recipe (its attributes aside): a description in
    two lines would show only its second half."""
    lines = (REPO / "justfile").read_text(encoding="utf-8").splitlines()
    recipes = [i for i, line in enumerate(lines) if re.match(r"^[a-z][\w-]*( \*args)?:", line)]
    assert len(recipes) > 10
    for i in recipes:
        j = i - 1
        while lines[j].startswith("["):
            j -= 1
        name = lines[i].split()[0].rstrip(":")
        assert lines[j].startswith("# "), name
        assert not lines[j - 1].startswith("#"), f"{name}: its description spans two comment lines"
    listed = subprocess.run([str(Path(sys.executable).with_name("just")), "--justfile", str(REPO / "justfile"),
                             "--list", "--unsorted"], capture_output=True, text=True).stdout
    assert "\n    test *args     # the test suite" in listed


def test_at_least_one_is_one_check_for_every_verb(tmp_path):
    for args in (["render", "tiny", "marc", "2e-4", "--epochs", "0"], ["eval", "--limit", "0"],
                 ["plan", "--cap-mb", "-5"], ["sweep", "--jobs", "0"]):
        proc = cli("jaft", *args, cwd=tmp_path)
        assert proc.returncode == 2 and "must be at least 1" in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1


def test_just_prints_jaft_s_line_alone_and_paths_are_the_users(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "preds.jsonl").write_text('{"id": "1", "raw": "positive", "references": ["positive"]}\n')
    exe = Path(sys.executable).with_name("just")
    proc = subprocess.run([str(exe), "--justfile", str(REPO / "justfile"), "--working-directory", str(tmp_path),
                           "score", "marc", "preds.jsonl"], cwd=sub, capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["accuracy"] == 1.0, proc.stderr
    bad = just("score", "marc", "missing.jsonl", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == ["error: missing.jsonl: no such file"]


# ---- render speed, the grid as data -----------------------------------------------------------------------------

def test_render_does_not_import_axolotl(tmp_path):
    code = ("import sys\nfrom jaft.cli import main\nrc = main(['render', 'calm2', 'marc', '2e-4'])\n"
            "print(rc, 'axolotl' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.split()[-2:] == ["0", "False"], proc.stderr


def test_a_rate_added_to_the_grid_is_valid_and_gets_a_column(tmp_path, monkeypatch):
    grid = tmp_path / "grid.yaml"
    grid.write_text('learning_rates: ["2e-4", "1e-4", "5e-5", "2e-5", "1e-5"]\n')
    proc = cli("jaft", "render", "calm2", "marc", "1e-4", cwd=tmp_path, env={"JAFT_GRID": str(grid)})
    assert proc.returncode == 0 and "calm2-marc-lr1e-4" in proc.stdout, proc.stderr
    refused = cli("jaft", "render", "calm2", "marc", "3e-4", cwd=tmp_path, env={"JAFT_GRID": str(grid)})
    assert refused.returncode == 2 and "unknown learning rate '3e-4'" in refused.stderr
    monkeypatch.setenv("JAFT_GRID", str(grid))
    from report import tables
    from recipes.runs import parse_run_id
    assert parse_run_id("calm2-marc-lr1e-4-s7") == {"model": "calm2", "task": "marc", "lr": "1e-4",
                                                    "variant": None, "seed": 7, "trial": None}
    table = tables.build("table3", {})
    assert table.header[-5:] == ["lr=2e-4", "lr=1e-4", "lr=5e-5", "lr=2e-5", "lr=1e-5"]


def test_postprocessing_reads_the_stop_text_from_the_task(monkeypatch):
    from eval.postprocess import STEPS
    from prompts.tasks import get_task
    task = get_task("xlsum")
    other = type(task)(**{**task.__dict__, "generate": {**task.generate, "stop": ["END"]}})
    assert STEPS["before_closing_quotes"]('要約END """x', other) == "要約"
    assert STEPS["before_closing_quotes"]('要約"""x', task) == "要約"


def test_a_file_the_user_put_in_reports_is_not_deleted_by_the_next_report(tmp_path):
    first = cli("jaft", "report", "--no-plots", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tmp_path / "reports" / "notes.md").write_text("mine")
    again = cli("jaft", "report", "--no-plots", cwd=tmp_path)
    assert again.returncode == 2 and "notes.md" in again.stderr
    assert (tmp_path / "reports" / "notes.md").read_text() == "mine"


def test_paths_typed_in_a_subfolder_and_a_relative_jaft_data_start_where_the_user_is(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    exe = Path(sys.executable).with_name("just")
    proc = subprocess.run([str(exe), "--justfile", str(REPO / "justfile"), "--working-directory", str(tmp_path),
                           "data", "marc", "--from", os.path.relpath(SAMPLES / "marc", sub)],
                          cwd=sub, capture_output=True, text=True, env={**os.environ, "JAFT_DATA": "mydata"})
    assert proc.returncode == 0, proc.stderr
    assert (sub / "mydata" / "marc" / "train.jsonl").is_file() and not (tmp_path / "mydata").exists()


def test_a_rate_added_to_the_grid_trains_and_is_reported(tmp_path, fake_axolotl, monkeypatch):
    """1e-4 in the grid: `train` takes it (Axolotl replaced by a no-op, everything jaft writes is real, its
    own validate_config included) and the report's Table 3 has a column holding its score."""
    from recipes.runs import RunSpec
    from tests.report_fixtures import write_scores
    grid = tmp_path / "grid.yaml"
    grid.write_text('learning_rates: ["2e-4", "1e-4", "5e-5", "2e-5", "1e-5"]\n')
    monkeypatch.setenv("JAFT_GRID", str(grid))
    spec = RunSpec.parse("tiny", "marc", "1e-4")
    fake_axolotl(spec, epochs=1)
    assert (spec.dir / "recipe.yaml").is_file() and "learning_rate: 0.0001" in (spec.dir / "recipe.yaml").read_text()
    write_scores(tmp_path / "scored", "calm2", "marc", "1e-4", {"accuracy": 0.9123})
    proc = cli("jaft", "report", "--no-plots", "--runs", str(tmp_path / "scored"), cwd=tmp_path,
               env={"JAFT_GRID": str(grid)})
    assert proc.returncode == 0, proc.stderr
    table = (tmp_path / "reports" / "table3.md").read_text()
    header = next(line for line in table.splitlines() if "lr=1e-4" in line)
    row = next(line for line in table.splitlines() if line.startswith("| CALM2 7B"))
    column = [c.strip() for c in header.split("|")].index("lr=1e-4")
    assert "91.23" in row.split("|")[column]


def test_a_child_gets_every_setting_it_needs(tmp_path, monkeypatch):
    """Settings.environ(): what a sweep's step, the sweep's report and a Ray task are given; a child built
    from it has the same settings (the tracker, W&B's mode and the sweep's MLflow run included)."""
    from dataclasses import fields

    from jaft import settings
    monkeypatch.chdir(tmp_path)
    here = settings.from_environ({"JAFT_TRACK": "mlflow", "JAFT_WANDB_MODE": "offline", "JAFT_GRID": "g.yaml",
                                  "JAFT_MLFLOW_PARENT_RUN_ID": "abc123", "JAFT_LAUNCHER": "python"}, cwd=tmp_path)
    env = here.environ()
    assert env["JAFT_TRACK"] == "mlflow" and env["JAFT_WANDB_MODE"] == "offline"
    assert env["JAFT_MLFLOW_PARENT_RUN_ID"] == "abc123"
    child = settings.from_environ(env, cwd=tmp_path)
    for f in fields(settings.Settings):
        mine, theirs = getattr(here, f.name), getattr(child, f.name)
        if isinstance(mine, Path):
            mine, theirs = mine.resolve(), theirs.resolve()
        assert mine == theirs or f.name == "runs_given", f.name
    # an empty tracker overrides the one a parent's environment may still hold (`--track off`)
    assert settings.from_environ({}, cwd=tmp_path).environ()["JAFT_TRACK"] == ""
    assert set(env) <= set(settings.VARIABLES)


def test_a_sweep_typed_in_a_subfolder_evaluates_its_runs(tmp_path, monkeypatch):
    """A step's arguments are typed by the sweep (relative to the folder it works in), not by the user:
    `just sweep` typed in a subfolder used to have every eval step look for `sub/runs/<run-id>`."""
    from jaft import settings
    from pipeline.steps import StepOptions, eval_command
    from recipes.runs import RunSpec
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JAFT_INVOCATION_DIR", str(sub))  # as the justfile exports it
    (tmp_path / "runs" / "tiny-marc-lr2e-4").mkdir(parents=True)
    with settings.use() as s:
        cmd = eval_command(RunSpec.parse("tiny", "marc", "2e-4"), StepOptions())
        env = {**os.environ, **s.environ()}
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO)})
    assert "no such run folder" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr


def test_a_path_typed_outside_the_project_is_absolute(tmp_path, monkeypatch):
    """`just validate r/c` typed in /tmp/x: the path jaft echoes is /tmp/x/r/c, not ../../tmp/x/r/c."""
    from jaft import settings
    project, elsewhere = tmp_path / "project", tmp_path / "x"
    (project / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    monkeypatch.chdir(project)
    assert settings.from_environ({"JAFT_INVOCATION_DIR": str(elsewhere)}).user_path("r/c") == elsewhere / "r/c"
    assert settings.from_environ({"JAFT_INVOCATION_DIR": str(project / "sub")}).user_path("r/c") == Path("sub/r/c")
    assert settings.from_environ({"JAFT_INVOCATION_DIR": str(project)}).user_path("../r") == Path("../r")
    moved = settings.from_environ({"JAFT_INVOCATION_DIR": str(elsewhere), "JAFT_DATA": "d"})
    assert moved.data == elsewhere / "d"
    exe = Path(sys.executable).with_name("just")
    proc = subprocess.run([str(exe), "--justfile", str(REPO / "justfile"), "validate", "r/c"], cwd=elsewhere,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and f"{elsewhere}/r/c" in proc.stderr and "../" not in proc.stderr, proc.stderr


def test_messages_name_the_grid_in_use(tmp_path, monkeypatch):
    """With JAFT_GRID naming another file, the refusals list its rates and name that file, and tune.md
    compares a study with that grid (not 'the paper's four')."""
    from jaft.common import UsageError
    from recipes.models import parse_lr
    from recipes.render import apply_overrides
    from report.tune import StudyView, Trial, to_markdown
    grid = tmp_path / "grid.yaml"
    grid.write_text('learning_rates: ["2e-4", "1e-4", "5e-5", "2e-5", "1e-5"]\n')
    monkeypatch.setenv("JAFT_GRID", str(grid))
    with pytest.raises(UsageError, match=r"LR argument \(one of 2e-4, 1e-4, 5e-5, 2e-5, 1e-5\)"):
        apply_overrides({}, ["learning_rate=1"])
    with pytest.raises(UsageError, match=rf"\(the grid: JAFT_GRID={re.escape(str(grid))}\)$"):
        parse_lr("3e-4")
    view = StudyView("calm2-marc-tune", "calm2", "marc", {"epochs": 10},
                     [Trial(0, "calm2-marc-tune-0", 3e-5, 16, 10, 0.9, "complete", 1.0, 3600.0)])
    text = to_markdown([view])
    assert "The 5-rate grid: 5.0000 GPU-hours" in text and "four" not in text
