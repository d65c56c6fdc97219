"""Seeds: run ids, `--seed` into the recipe, `sweep --seeds`, mean±sd cells (Markdown and LaTeX), and
results.csv round-tripping into the table values."""
from __future__ import annotations

import csv
import json
import statistics

import pytest
import yaml

from jaft.common import UsageError
from recipes.runs import RunSpec, paper_grid, parse_seed
from report import collect, tables
from tests.conftest import cli
from tests.report_fixtures import write_scores


def test_default_seed_keeps_the_run_id_and_others_add_s():
    assert RunSpec.parse("calm2", "marc", "2e-4").id == "calm2-marc-lr2e-4"
    assert RunSpec.parse("calm2", "marc", "2e-4", seed=42).id == "calm2-marc-lr2e-4"
    assert RunSpec.parse("calm2", "marc", "2e-4", seed="43").id == "calm2-marc-lr2e-4-s43"
    assert RunSpec.parse("calm2", "xlsum", "2e-4", "len1024", 0).id == "calm2-xlsum-lr2e-4-len1024-s0"
    grid = paper_grid(["calm2"], ["marc"], ["2e-4", "5e-5"], seeds=(42, 43, 44))
    assert [s.id for s in grid] == ["calm2-marc-lr2e-4", "calm2-marc-lr2e-4-s43", "calm2-marc-lr2e-4-s44",
                                    "calm2-marc-lr5e-5", "calm2-marc-lr5e-5-s43", "calm2-marc-lr5e-5-s44"]


@pytest.mark.parametrize("bad", ["x", "-1", "4.2", "4294967296", ""])
def test_bad_seed_is_one_line_error(bad):
    with pytest.raises(UsageError, match=f"bad seed '{bad}'; expected a whole number from 0 to 4294967295"):
        parse_seed(bad)


def test_seed_goes_into_the_recipe_and_its_header(workdir):
    proc = cli("recipes", "render", "tiny", "marc", "2e-4", "--seed", "43", cwd=workdir, check=True)
    recipe = workdir / "runs" / "tiny-marc-lr2e-4-s43" / "recipe.yaml"
    assert proc.stdout.strip().endswith("runs/tiny-marc-lr2e-4-s43/recipe.yaml")
    text = recipe.read_text()
    assert yaml.safe_load(text)["seed"] == 43
    assert "# train it with `just train tiny marc 2e-4 --seed 43`" in text
    default = cli("recipes", "render", "tiny", "marc", "2e-4", cwd=workdir, check=True)
    assert yaml.safe_load((workdir / "runs" / "tiny-marc-lr2e-4" / "recipe.yaml").read_text())["seed"] == 42
    assert "--seed" not in (workdir / "runs" / "tiny-marc-lr2e-4" / "recipe.yaml").read_text() and default


def test_bad_seed_on_the_command_line_writes_nothing(tmp_path):
    proc = cli("recipes", "train", "tiny", "marc", "2e-4", "--seed", "forty", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: bad seed 'forty'; expected a whole number from 0 to 4294967295, e.g. 43"]
    proc = cli("pipeline", "sweep", "--seeds", "42", "-3", cwd=tmp_path)
    assert proc.returncode == 2 and "bad seed '-3'" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_sweep_plans_every_seed(tmp_path):
    proc = cli("pipeline", "sweep", "--models", "calm2", "--tasks", "marc", "--seeds", "42", "43", "44",
               "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0 and "12 runs, 12 to do" in proc.stderr
    assert "calm2-marc-lr1e-5-s44" in proc.stderr and list(tmp_path.iterdir()) == []


@pytest.fixture
def seeded_runs(tmp_path):
    """CALM2 MARC-ja at 2e-4 with three seeds (96.8, 97.2, 96.4: mean 96.80, sd 0.40) beside one-seed cells;
    Llama-2 7B JSQuAD at 2e-4 with two seeds."""
    runs = tmp_path / "runs"
    for seed, acc in ((42, 0.968), (43, 0.972), (44, 0.964)):
        epochs = [{"epoch": 1, "n": 5654, "limit": None, "metrics": {"accuracy": acc - 0.01}, "val_loss": 0.5},
                  {"epoch": 2, "n": 5654, "limit": None, "metrics": {"accuracy": acc}, "val_loss": 0.6}]
        write_scores(runs, "calm2", "marc", "2e-4", {"accuracy": acc}, seed=seed, epoch=2, epochs=epochs,
                     val_loss_metrics={"accuracy": acc - 0.01}, val_loss_epoch=1)
    write_scores(runs, "calm2", "marc", "5e-5", {"accuracy": 0.969},
                 epochs=[{"epoch": 1, "n": 5654, "metrics": {"accuracy": 0.969}, "val_loss": 0.4}])
    for seed, (em, f1) in ((42, (0.56, 0.85)), (7, (0.58, 0.86))):
        write_scores(runs, "llama2-7b", "jsquad", "2e-4", {"exact_match": em, "f1": f1}, seed=seed,
                     epochs=[{"epoch": 1, "n": 4442, "metrics": {"exact_match": em, "f1": f1}, "val_loss": 1.0}])
    return runs


def test_cells_show_mean_sd_and_n_and_bold_by_the_mean(seeded_runs):
    results, warnings = collect.collect(seeded_runs)
    assert warnings == [] and len(results) == 6  # every seed kept: the key includes it
    table3 = tables.build("table3", results)
    calm2 = table3.rows[0].cells
    assert calm2[0].text == "96.80±0.40 (n=3)" and calm2[0].values == (96.8,) and calm2[0].n == 3
    assert [r.seed for r in calm2[0].results] == [42, 43, 44]
    assert calm2[1].text == "96.90" and calm2[1].bold and not calm2[0].bold  # 96.90 > mean 96.80
    md = tables.to_markdown(table3, "task-metric")
    assert "| CALM2 7B | 96.80±0.40 (n=3) | **96.90** | – | – |" in md
    assert "mean±sd (n=seeds)" in md
    tex = tables.to_latex(table3, "task-metric")
    assert r"CALM2 7B & 96.80$\pm$0.40 (n=3) & \textbf{96.90} & -- & -- \\" in tex
    table5 = tables.build("table5", results)
    assert table5.rows[1].cells[0].text == "57.00±1.41/85.50±0.71 (n=2)"


def test_results_csv_round_trips_into_the_table_values(seeded_runs, tmp_path):
    out = tmp_path / "r"
    cli("report", "--runs", str(seeded_runs), "--out", str(out), "--no-plots", cwd=tmp_path, check=True)
    with (out / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 2 + 1 + 2  # run × epoch
    as_json = json.loads((out / "results.json").read_text())  # the same rows, typed
    assert [{k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in r.items()}
            for r in as_json] == rows
    assert as_json[0]["seed"] == 42 and as_json[0]["selected_task_metric"] is False and as_json[0]["variant"] is None
    results, _ = collect.collect(seeded_runs)
    for name in ("table3", "table5"):
        table = tables.build(name, results)
        for row in table.rows:
            for lr, cell in zip(tables.LRS, row.cells):
                picked = [r for r in rows if (r["model"], r["task"], r["lr"]) == (row.model, table.task, lr)
                          and r["variant"] == (row.variant or "") and r["selected_task_metric"] == "true"]
                if cell.values is None:
                    assert picked == []
                    continue
                per_metric = [[float(r[m]) * table.scale for r in picked] for m in table.metrics]
                assert tuple(round(statistics.mean(v), table.digits) for v in per_metric) == cell.values
                assert len(picked) == cell.n and {int(r["seed"]) for r in picked} == {r.seed for r in cell.results}
                if cell.n > 1:
                    assert tuple(round(statistics.stdev(v), table.digits) for v in per_metric) == cell.sd
    by_loss = [r for r in rows if r["run_id"] == "calm2-marc-lr2e-4-s43" and r["selected_val_loss"] == "true"]
    assert [r["epoch"] for r in by_loss] == ["1"]
