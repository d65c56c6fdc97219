"""Clustered resampling: JSQuAD's questions share paragraphs, so intervals and paired tests resample whole
paragraphs (Miller 2024, arXiv 2411.00640); other tasks resample examples."""
from __future__ import annotations

import numpy as np

from eval.runner import cluster_of as eval_cluster
from prompts.tasks import get_task
from report.examples import cluster_of
from report.intervals import bootstrap
from report.significance import paired_bootstrap, resampled_means


def correlated(paragraphs: int = 150, per: int = 6, seed: int = 1):
    """Per-question scores where a paragraph's questions are all right or all wrong together."""
    rng = np.random.default_rng(seed)
    right = rng.random(paragraphs) < 0.6
    values = np.repeat(right.astype(float), per)
    labels = np.repeat([f"a{i}p0" for i in range(paragraphs)], per)
    return values, list(labels)


def test_clustered_interval_is_wider_on_correlated_questions():
    values, labels = correlated()
    mean, lo, hi = bootstrap(values)
    cmean, clo, chi = bootstrap(values, clusters=labels)
    assert cmean == mean
    # six perfectly correlated questions a paragraph: the honest interval is about sqrt(6) ≈ 2.4 times wider
    assert (chi - clo) > 2 * (hi - lo)
    assert clo <= mean <= chi


def test_independent_questions_give_about_the_naive_interval():
    rng = np.random.default_rng(2)
    values = (rng.random(900) < 0.6).astype(float)
    labels = [f"p{i // 6}" for i in range(900)]
    _, lo, hi = bootstrap(values)
    _, clo, chi = bootstrap(values, clusters=labels)
    assert 0.7 < (chi - clo) / (hi - lo) < 1.4


def test_singleton_clusters_are_the_plain_bootstrap_exactly():
    rng = np.random.default_rng(3)
    scores = rng.random((3, 50))
    plain = resampled_means(scores, resamples=700)
    assert np.array_equal(plain, resampled_means(scores, resamples=700, clusters=[str(i) for i in range(50)]))


def test_paired_test_is_less_sure_when_paragraphs_move_together():
    values, labels = correlated(paragraphs=60, per=8, seed=4)
    rng = np.random.default_rng(5)
    flip = np.repeat(rng.random(60) < 0.15, 8)          # b wins whole paragraphs that a loses
    b = np.where(flip, 1.0, values)
    naive = paired_bootstrap(b, values, resamples=4000)
    clustered = paired_bootstrap(b, values, resamples=4000, clusters=labels)
    assert naive[0] == clustered[0] > 0
    assert clustered[3] > naive[3]
    assert (clustered[2] - clustered[1]) > 2 * (naive[2] - naive[1])


def test_the_cluster_of_a_predictions_row():
    assert cluster_of({"id": "x1", "cluster": "abc"}) == "abc"
    assert cluster_of({"id": "a1000888p0q3"}) == "a1000888p0"        # JGLUE's ids name the paragraph
    assert cluster_of({"id": "a1000888p12q0"}) == "a1000888p12"
    assert cluster_of({"id": "validation-q0001"}) == "id:validation-q0001"  # unknown: the example itself


def test_eval_names_a_jsquad_rows_paragraph_by_its_context():
    task = get_task("jsquad")
    assert task.cluster_field == "context"
    row = {"id": "q", "meta": {"fields": {"context": "東京 [SEP] 東京は日本の首都。", "question": "首都は？"}}}
    same = {"id": "r", "meta": {"fields": {"context": "東京 [SEP] 東京は日本の首都。", "question": "何の首都？"}}}
    other = {"id": "s", "meta": {"fields": {"context": "大阪 [SEP] 大阪は西日本の都市。", "question": "何？"}}}
    assert eval_cluster(task, row) == eval_cluster(task, same) != eval_cluster(task, other)
    assert eval_cluster(get_task("marc"), {"id": "m", "meta": {"fields": {"text": "良い"}}}) is None
