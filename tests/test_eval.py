"""`just score` on files, and `just eval` on a tiny model trained in the session (resume included)."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import cli, copy_project, just

RUN = "runs/tiny-marc-lr2e-4"


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_score_cli_postprocesses_raw(tmp_path):
    f = write(tmp_path / "p.jsonl", [{"id": 1, "raw": "東京での<EOD|LLM-jp>", "references": ["東京"]},
                                     {"id": 2, "raw": "", "references": ["大阪"]}])
    proc = cli("eval", "score", "jsquad", str(f), cwd=tmp_path, check=True)
    # llm-jp-eval's char-F1 reads the answer before the particles go: token_sort_ratio("東京での", "東京") = 67
    assert json.loads(proc.stdout) == {"n": 2, "f1": 0.5, "exact_match": 0.5, "llmjp_char_f1": 0.335}


@pytest.mark.parametrize("line, message", [
    ('{"id": 1, "raw": "x"', "p.jsonl:2: not valid JSON"),
    ('{"id": 1, "references": ["x"]}', "p.jsonl:2: missing field raw"),
    ('{"id": 1, "raw": "x"}', "p.jsonl:2: missing field references"),
])
def test_score_cli_bad_lines(tmp_path, line, message):
    f = write(tmp_path / "p.jsonl", [{"id": 0, "raw": "positive", "references": ["positive"]}, line])
    proc = cli("eval", "score", "marc", str(f), cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and proc.stdout == ""


def test_score_cli_unknown_task(tmp_path):
    proc = cli("eval", "score", "squad", "x.jsonl", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown task 'squad'; valid: marc, jsquad, xlsum" in proc.stderr


@pytest.mark.e2e
def test_eval_writes_predictions_and_scores_per_epoch(evaluated):
    run = evaluated / RUN
    for epoch in (1, 2):
        rows = [json.loads(l) for l in (run / f"eval/epoch-{epoch}/predictions.jsonl").read_text().splitlines()]
        assert len(rows) == 56 and len({r["id"] for r in rows}) == 56
        assert set(rows[0]) == {"id", "prompt", "raw", "new_tokens", "prediction", "references", "label_loglik"}
        assert all(0 <= r["new_tokens"] <= 8 for r in rows)
        epoch_scores = json.loads((run / f"eval/epoch-{epoch}/scores.json").read_text())
        assert epoch_scores["epoch"] == epoch and epoch_scores["n"] == 56 and epoch_scores["split"] == "validation"
        acc = sum(r["prediction"] == r["references"][0] for r in rows) / 56
        assert epoch_scores["metrics"]["accuracy"] == pytest.approx(acc)
        # the likelier label, from the log-likelihoods the same pass wrote into the file
        likelier = sum(max(r["label_loglik"], key=r["label_loglik"].get) == r["references"][0] for r in rows) / 56
        assert epoch_scores["metrics"]["marc_loglik_accuracy"] == pytest.approx(likelier)
        unparsed = sum(r["prediction"] not in ("positive", "negative") for r in rows)
        assert epoch_scores["diagnostics"]["unparsed"]["count"] == unparsed
        # the epoch's own cost: generation and scoring time, examples per second
        assert epoch_scores["wall_s"] > 0 and epoch_scores["generated"] == 56
        assert epoch_scores["examples_per_s"] == pytest.approx(56 / epoch_scores["wall_s"], rel=1e-2)
    scores = json.loads((run / "scores.json").read_text())
    assert [e["epoch"] for e in scores["epochs"]] == [1, 2] and scores["seed"] == 42
    assert all("unparsed" in e["diagnostics"] for e in scores["epochs"])
    assert all(e["eval_wall_s"] > 0 and e["eval_examples_per_s"] > 0 for e in scores["epochs"])
    assert all(e["val_loss"] > 0 for e in scores["epochs"])
    best = max(scores["epochs"], key=lambda e: (e["metrics"]["accuracy"], -e["epoch"]))
    assert scores["best"]["epoch"] == best["epoch"] and scores["best"]["rule"] == "task-metric"
    assert scores["best_by_val_loss"]["epoch"] == min(scores["epochs"], key=lambda e: e["val_loss"])["epoch"]
    assert "paper's rule" in scores["rules"]["task-metric"]


@pytest.mark.e2e
def test_eval_again_starts_nothing(evaluated, tmp_path):
    project = copy_project(evaluated, tmp_path / "p")
    before = (project / RUN / "eval/epoch-1/predictions.jsonl").read_bytes()
    proc = just("eval", cwd=project)
    assert proc.returncode == 0 and "Loading weights" not in proc.stderr
    assert (project / RUN / "eval/epoch-1/predictions.jsonl").read_bytes() == before


@pytest.mark.e2e
def test_interrupted_eval_resumes_without_duplicates(evaluated, tmp_path):
    project = copy_project(evaluated, tmp_path / "p")
    preds = project / RUN / "eval/epoch-2/predictions.jsonl"
    lines = preds.read_text().splitlines(keepends=True)
    preds.write_text("".join(lines[:20]) + lines[20][:15])  # killed mid-write
    (project / RUN / "eval/epoch-2/scores.json").unlink()
    (project / RUN / "scores.json").unlink()
    proc = just("eval", RUN, cwd=project)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(l) for l in preds.read_text().splitlines()]
    assert len(rows) == 56 and len({r["id"] for r in rows}) == 56
    assert rows[:20] == [json.loads(l) for l in lines[:20]]
    assert json.loads((project / RUN / "scores.json").read_text())["epochs"][1]["n"] == 56
    assert json.loads((project / RUN / "eval/epoch-2/scores.json").read_text())["generated"] == 36  # the rest


def test_run_without_checkpoint_is_skipped(tmp_path):
    run = tmp_path / "runs" / "tiny-jsquad-lr2e-4"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": run.name, "model": "tiny", "task": "jsquad",
                                              "lr": "2e-4", "status": "running"}))
    proc = just("eval", cwd=tmp_path)
    assert proc.returncode == 0 and "no epoch checkpoint yet; skipped" in proc.stderr
    assert not (run / "scores.json").exists()


class FlakyGenerator:
    """Runs out of memory on batches larger than 2; echoes the prompt's last character otherwise."""

    def __init__(self):
        self.sizes, self.freed = [], 0

    def generate(self, prompts, settings):
        self.sizes.append(len(prompts))
        if len(prompts) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        from eval.generate import Generation
        return [Generation("positive", 1) for _ in prompts]

    def free_memory(self):
        self.freed += 1


def test_eval_halves_the_batch_on_out_of_memory(tmp_path, capsys):
    from eval.generate import GenSettings
    from eval.runner import predict_epoch
    rows = [{"id": str(i), "prompt": "p" * i, "references": ["positive"]} for i in range(7)]
    gen = FlakyGenerator()
    out = tmp_path / "epoch-1" / "predictions.jsonl"
    predict_epoch(gen, "marc", rows, out, GenSettings(8), batch_size=8)
    got = [json.loads(l) for l in out.read_text().splitlines()]
    assert sorted(r["id"] for r in got) == [str(i) for i in range(7)]
    assert gen.sizes[:3] == [7, 4, 2] and gen.freed == 2
    assert "going on with 2" in capsys.readouterr().err


def test_other_generation_errors_are_not_swallowed(tmp_path):
    from eval.generate import GenSettings
    from eval.runner import predict_epoch

    class Broken:
        def generate(self, prompts, settings):
            raise ValueError("bad input ids")

    with pytest.raises(ValueError):
        predict_epoch(Broken(), "marc", [{"id": "1", "prompt": "p", "references": ["x"]}],
                      tmp_path / "p.jsonl", GenSettings(8), batch_size=4)


@pytest.mark.e2e
def test_limit_scores_a_prefix_and_a_plain_eval_extends_it(evaluated, tmp_path):
    project = copy_project(evaluated, tmp_path / "p")
    shutil.rmtree(project / RUN / "eval")  # a run not evaluated yet
    (project / RUN / "scores.json").unlink()
    assert just("eval", RUN, "--limit", "10", cwd=project).returncode == 0
    epoch = json.loads((project / RUN / "eval/epoch-1/scores.json").read_text())
    assert (epoch["n"], epoch["limit"]) == (10, 10)
    assert json.loads((project / RUN / "scores.json").read_text())["best"]["limit"] == 10
    assert just("eval", RUN, cwd=project).returncode == 0
    epoch = json.loads((project / RUN / "eval/epoch-1/scores.json").read_text())
    assert (epoch["n"], epoch["limit"]) == (56, None)
    assert len((project / RUN / "eval/epoch-1/predictions.jsonl").read_text().splitlines()) == 56
    # A smaller --limit afterwards keeps the scores over the whole split (issue 24, item 12).
    proc = just("eval", RUN, "--limit", "10", cwd=project)
    assert proc.returncode == 0 and "more than --limit 10; kept" in proc.stderr
    epoch = json.loads((project / RUN / "eval/epoch-1/scores.json").read_text())
    assert (epoch["n"], epoch["limit"]) == (56, None)
