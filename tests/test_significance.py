"""Paired bootstrap and Holm correction: known answers, determinism, and significance.md from predictions."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from report import collect, examples, significance, tables
from report.significance import RESAMPLES, holm, paired_bootstrap
from tests.conftest import cli
from tests.report_fixtures import write_scores


def test_identical_predictions_give_difference_0_and_p_1():
    a = [1.0, 0.0, 1.0, 1.0, 0.0] * 200
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0, 1.0)
    # Different runs, same per-example scores: still nothing to tell apart.
    assert paired_bootstrap([0.5, 0.25] * 50, [0.5, 0.25] * 50)[3] == 1.0
    # ... also inside a table, where the two cells are rows 0 and 5 of one resampled matrix product.
    rng = np.random.default_rng(3)
    cells = rng.random((7, 333))
    cells[5] = cells[0]
    means = significance.resampled_means(cells)
    assert significance.summarize(0.0, means[0] - means[5]) == (0.0, 0.0, 0.0, 1.0)


def test_better_on_every_example_is_significant_even_after_holm():
    a, b = [0.9] * 50, [0.1] * 50
    diff, low, high, p = paired_bootstrap(a, b)
    assert diff == pytest.approx(0.8) and low == pytest.approx(0.8) and high == pytest.approx(0.8)
    assert p == 2 / (RESAMPLES + 1)  # no resample reaches zero; (0 + 1) / (B + 1), two-sided
    assert holm([p] + [0.5] * 19)[0] < significance.ALPHA  # one of 20 comparisons: 20p = 0.004


def test_p_value_agrees_with_the_normal_approximation():
    """d: +1 on 60 examples, −1 on 40, 0 on 900: mean 0.02, se 0.3156/sqrt(1000): z = 2.004, p = 0.045."""
    a = np.array([1.0] * 60 + [0.0] * 40 + [0.5] * 900)
    b = np.array([0.0] * 60 + [1.0] * 40 + [0.5] * 900)
    diff, low, high, p = paired_bootstrap(a, b)
    se = math.sqrt((100 / 1000 - 0.02**2) / 1000)
    assert diff == pytest.approx(0.02)
    assert p == pytest.approx(math.erfc(0.02 / se / math.sqrt(2)), abs=0.012)
    assert low == pytest.approx(0.02 - 1.96 * se, abs=0.003) and high == pytest.approx(0.02 + 1.96 * se, abs=0.003)
    assert (low > 0) == (p < 0.05)  # the test is the interval inverted


def test_balanced_disagreement_is_not_significant():
    a = [1.0] * 5 + [0.0] * 5 + [1.0] * 990
    b = [0.0] * 5 + [1.0] * 5 + [1.0] * 990
    diff, low, high, p = paired_bootstrap(a, b)
    assert diff == 0.0 and low < 0 < high and p > 0.5


def test_bootstrap_is_deterministic_and_pairs_share_resamples():
    rng = np.random.default_rng(7)
    a, b, c = (rng.random(300) for _ in range(3))
    assert paired_bootstrap(a, b) == paired_bootstrap(a, b)
    # Same seed, same example count: the same resampled ids for every pair, so differences add up.
    ab, bc, ac = paired_bootstrap(a, b), paired_bootstrap(b, c), paired_bootstrap(a, c)
    assert ab[0] + bc[0] == pytest.approx(ac[0])
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap([1.0, 0.0], [1.0])


def test_holm_against_a_hand_computed_example():
    # sorted: 0.005×4 = 0.02, 0.01×3 = 0.03, 0.03×2 = 0.06, 0.04×1 = 0.04 -> 0.06 (never below the step before)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def _predictions(run_dir, correct_ids: set, total: int):
    d = run_dir / "eval" / "epoch-1"
    d.mkdir(parents=True)
    rows = [{"id": i, "prompt": "p", "raw": "positive" if i in correct_ids else "negative", "prediction": "",
             "references": ["positive"]} for i in range(total)]
    (d / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_significance_md_pairs_lrs_and_models_with_seeds_averaged_per_example(tmp_path):
    runs = tmp_path / "runs"
    # calm2 2e-4, two seeds: right on 0-79 and on 0-59 -> per example 1 on 0-59, 0.5 on 60-79: mean 0.7
    _predictions(write_scores(runs, "calm2", "marc", "2e-4", {"accuracy": 0.8}), set(range(80)), 100)
    _predictions(write_scores(runs, "calm2", "marc", "2e-4", {"accuracy": 0.6}, seed=43), set(range(60)), 100)
    _predictions(write_scores(runs, "calm2", "marc", "5e-5", {"accuracy": 0.7}), set(range(70)), 100)
    _predictions(write_scores(runs, "llama2-7b", "marc", "2e-4", {"accuracy": 0.1}), set(range(10)), 100)
    results, _ = collect.collect(runs)
    table = tables.build("table3", results)
    scores = examples.table_scores(table)
    cell = scores[(0, 0)]["accuracy"]
    assert len(cell) == 100 and cell["0"] == 1.0 and cell["70"] == 0.5 and cell["90"] == 0.0
    found, notes = significance.compare(table, scores)
    by_pair = {(c.within, c.a, c.b): c for c in found}
    assert set(by_pair) == {("CALM2 7B", "lr=2e-4", "lr=5e-5"), ("lr=2e-4", "CALM2 7B", "Llama-2 7B")}
    same = by_pair[("CALM2 7B", "lr=2e-4", "lr=5e-5")]
    # 2e-4 (seed mean) vs 5e-5 (right on 0-69): −0.5 on 60-69, +0.5 on 70-79, 0 elsewhere: exactly 0
    assert same.n == 100 and same.diff == pytest.approx(0.0, abs=1e-9) and not same.significant
    models = by_pair[("lr=2e-4", "CALM2 7B", "Llama-2 7B")]
    assert models.diff == pytest.approx(60.0) and models.significant and models.p_holm == pytest.approx(2 * models.p)
    out = tmp_path / "r"
    cli("report", "--runs", str(runs), "--out", str(out), "--no-plots", cwd=tmp_path, check=True)
    text = (out / "significance.md").read_text()
    assert re.search(r"\| lr=2e-4 \| CALM2 7B \| Llama-2 7B \| 100 \| \+60\.00 \| \[\+\S+, \+\S+\] \| "
                     r"0\.0002 \| 0\.0004 \| yes \|", text)
    assert "| CALM2 7B | lr=2e-4 | lr=5e-5 | 100 | +0.00 |" in text and "Metric: accuracy; 2 comparisons." in text
