"""Cost: the plugin's per-rank record, sessions added up, the Pareto front, cost.md; and run.json's `cost` on
a real tiny run (wall time, device, peak memory, and tokens equal to what the trainer trained on)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from recipes.cost import combine, read_ranks, trained_tokens
from recipes.manifest import checkpoints
from recipes.vram_cap import write_rank_cost
from report import collect
from report import cost as cost_report
from tests.conftest import cli
from tests.report_fixtures import write_scores

RUN = "runs/tiny-marc-lr2e-4"


class FakeCuda:
    def __init__(self, available=True):
        self.available = available

    def is_available(self):
        return self.available

    def current_device(self):
        return 0

    def get_device_name(self, device):
        return "NVIDIA H100 80GB HBM3"

    def max_memory_reserved(self, device):
        return 40_960 * 2**20


def test_plugin_writes_each_ranks_peak_and_device(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    record = write_rank_cost(str(tmp_path), SimpleNamespace(cuda=FakeCuda()))
    assert record == {"rank": 1, "world_size": 2, "device": "NVIDIA H100 80GB HBM3", "peak_mem_mib": 40960.0,
                      "peak_mem_of": "torch.cuda.max_memory_reserved"}
    assert json.loads((tmp_path / "cost.rank1.json").read_text()) == record
    monkeypatch.setenv("RANK", "0")
    cpu = write_rank_cost(str(tmp_path), SimpleNamespace(cuda=FakeCuda(available=False)))
    assert cpu["device"] == "cpu" and cpu["peak_mem_mib"] > 10  # this test process's own peak RSS
    assert [r["rank"] for r in read_ranks(tmp_path)] == [0, 1]


def test_sessions_add_up_and_gpus_come_from_the_ranks():
    ranks = [{"device": "NVIDIA H100", "peak_mem_mib": 30_000.0, "peak_mem_of": "torch.cuda.max_memory_reserved"},
             {"device": "NVIDIA H100", "peak_mem_mib": 31_000.0, "peak_mem_of": "torch.cuda.max_memory_reserved"}]
    first = combine({}, 3600.0, ranks, 1_000_000, child_rss_mib=5_000.0)
    assert first == {"wall_s": 3600.0, "device": "NVIDIA H100", "gpus": 2, "gpu_hours": 2.0,
                     "peak_mem_mib": 31000.0, "peak_mem_of": "torch.cuda.max_memory_reserved",
                     "tokens": 1_000_000, "tokens_per_s": 277.78, "sessions": 1}
    # Resumed on one GPU for half an hour: GPU-hours add per session; the peak is the higher one.
    second = combine(first, 1800.0, ranks[:1], 1_500_000, child_rss_mib=5_000.0)
    assert second["wall_s"] == 5400.0 and second["gpu_hours"] == 2.5 and second["peak_mem_mib"] == 31000.0
    assert second["sessions"] == 2 and second["tokens_per_s"] == round(1_500_000 / 5400, 2)
    # Training died before the plugin wrote anything: the largest child's resident memory stands in.
    died = combine({}, 10.0, [], None, child_rss_mib=812.5)
    assert died["peak_mem_mib"] == 812.5 and died["gpus"] == 0 and died["tokens_per_s"] is None


def test_pareto_front_known_answer():
    points = [(1.0, 50.0), (2.0, 60.0), (2.0, 55.0), (3.0, 58.0), (0.5, 40.0), (4.0, 70.0), (0.5, 30.0)]
    assert cost_report.pareto_front(points) == [4, 0, 1, 5]
    assert cost_report.pareto_front([]) == []


def test_cost_md_and_plot_from_run_json(tmp_path):
    runs = tmp_path / "runs"
    cheap = write_scores(runs, "calm2", "marc", "2e-4", {"accuracy": 0.96})
    dear = write_scores(runs, "calm2", "marc", "5e-5", {"accuracy": 0.97}, seed=43)
    for d, hours in ((cheap, 2.0), (dear, 5.0)):
        (d / "run.json").write_text(json.dumps({"run_id": d.name, "status": "finished", "vram_cap_mb": 46000,
                                               "seed": 42, "cost": {
            "wall_s": hours * 3600, "device": "NVIDIA H100", "gpus": 1, "gpu_hours": hours,
            "peak_mem_mib": 41400.0, "tokens": 10_000_000, "tokens_per_s": 10_000_000 / (hours * 3600)}}))
    out = tmp_path / "r"
    cli("report", "--runs", str(runs), "--out", str(out), cwd=tmp_path, check=True)
    text = (out / "cost.md").read_text()
    assert ("| calm2-marc-lr2e-4 | NVIDIA H100 × 1 | 2.000 | 7,200 s | 41,400 / 46,000 MiB (90%) | 10,000,000 "
            "| 1,389 | 96.00 |") in text
    assert "| calm2-marc-lr5e-5-s43 | NVIDIA H100 × 1 | 5.000 |" in text
    from PIL import Image
    with Image.open(out / "cost_marc.png") as im:
        assert im.format == "PNG"
    results, _ = collect.collect(runs)
    assert {r.seed for r in results.values()} == {42, 43}


@pytest.mark.e2e
def test_real_run_records_its_cost(trained, tiny_tokenizer):
    run = trained / RUN
    cost = json.loads((run / "run.json").read_text())["cost"]
    assert cost["wall_s"] > 0 and cost["device"] == "cpu" and cost["gpus"] == 0 and cost["gpu_hours"] == 0
    assert cost["sessions"] == 1 and cost["peak_mem_of"] == "trainer process max RSS"
    assert 100 < cost["peak_mem_mib"] < 64_000  # a torch process: hundreds of MiB at least
    # Tokens: what the trainer fed the model without padding. Every epoch sees every fitted row once (whole
    # epochs, recipes/whole_epochs.py), so the count is exactly the rows' token lengths (prompt + response +
    # EOS) summed, times the epochs; the first checkpoint holds one epoch's.
    from prompts import train_length
    rows = [json.loads(l) for l in (run / "data" / "train.jsonl").read_text().splitlines()]
    per_epoch = sum(train_length(tiny_tokenizer, r["prompt"], r["response"]) for r in rows)
    (_, first), _ = checkpoints(run)
    assert json.loads((first / "trainer_state.json").read_text())["num_input_tokens_seen"] == per_epoch
    assert cost["tokens"] == 2 * per_epoch == trained_tokens(run)
    assert cost["tokens_per_s"] == pytest.approx(cost["tokens"] / cost["wall_s"], rel=1e-3)
    rank = json.loads((run / "cost.rank0.json").read_text())
    assert rank["device"] == "cpu" and rank["peak_mem_mib"] == pytest.approx(cost["peak_mem_mib"], abs=0.1)
