"""The memory planner (leave-one-out over the H100 anchors), `just plan`, the recipe refusal, the cap plugin."""
from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from recipes.memory import Setting, anchor_rows, fit, longest_fit, peak_mib, switched
from recipes.models import MODELS, PAPER_MODELS
from recipes.plan import plan_rows
from recipes.vram_cap import MIB, apply_cap, cap_fraction
from tests.conftest import cli

CAP = 46000


def test_leave_one_out_within_10_percent_and_every_oom_predicted_over_the_cap():
    rows = anchor_rows()
    assert len(rows) >= 30
    report, worst = [], 0.0
    for k, row in enumerate(rows):
        coef = fit(rows[:k] + rows[k + 1:])  # calibrated without the row it predicts
        predicted = peak_mib(MODELS[row["registry"]], row["seq"], row["setting"], coef)
        if row["result"] == "OOM":
            report.append(f"{row['model']} {row['setting'].name} seq {row['seq']}: OOM, predicted {predicted:,.0f}")
            assert predicted > CAP, report[-1]
            continue
        error = (predicted - row["peak_mib"]) / row["peak_mib"]
        worst = max(worst, abs(error))
        report.append(f"{row['model']} {row['setting'].name} seq {row['seq']} mb {row['micro_batch']}: "
                      f"measured {row['peak_mib']:,}, predicted {predicted:,.0f} ({error:+.1%})")
    print("\n".join(report) + f"\nworst leave-one-out error: {worst:.1%}")
    assert worst < 0.10


def test_plan_paper_setting_gives_1700_for_7b_and_native_context_with_sdpa_gc():
    rows = {r["model"]: r for r in plan_rows(PAPER_MODELS, CAP)}
    for name in ("calm2", "llama2-7b"):
        assert rows[name]["longest"]["paper (eager, no GC)"] == 1700
    for name, row in rows.items():
        assert row["longest"]["SDPA+GC"] >= MODELS[name].native_context, name
        assert row["paper_peak_mib"] <= CAP, name  # every paper-length recipe fits (13B through SDPA)


def test_peak_grows_with_length_batch_and_eager():
    m = MODELS["calm2"]
    lora = {"lora_r": 16, "lora_targets": m.lora_targets}
    eager, sdpa = Setting("eager", **lora), Setting("sdpa", **lora)
    assert peak_mib(m, 2048, eager) > peak_mib(m, 2048, sdpa) > peak_mib(m, 1024, sdpa)
    assert peak_mib(m, 2048, Setting("sdpa", micro_batch=2, **lora)) > peak_mib(m, 2048, sdpa)
    assert peak_mib(m, 8192, switched(sdpa, "SDPA+GC+Liger")) < peak_mib(m, 8192, switched(sdpa, "SDPA+GC"))
    assert longest_fit(m, eager, 10) == 0  # weights alone exceed a 10 MB cap


def test_memory_cli_json(tmp_path):
    """One prediction with every knob is `jaft plan MODEL --seq N ...` (`python -m recipes.plan` is its alias)."""
    proc = cli("jaft", "plan", "llama2-13b", "--seq", "1024", "--attn", "eager", "--json", cwd=tmp_path, check=True)
    assert abs(json.loads(proc.stdout)["peak_mib"] - 47111) / 47111 < 0.10
    alias = cli("recipes.plan", "llama2-13b", "--seq", "1024", "--json", cwd=tmp_path, check=True)
    assert json.loads(alias.stdout) == json.loads(proc.stdout)
    text = cli("jaft", "plan", "calm2", "--seq", "4096", "--attn", "sdpa", "--gradient-checkpointing", "--liger",
               "--micro-batch", "2", "--lora-r", "32", "--adapter", "qlora", cwd=tmp_path, check=True)
    assert text.stdout.startswith("calm2: ~") and "MiB at 4,096 tokens" in text.stdout
    bad = cli("jaft", "plan", "gpt5", "--seq", "1", "--json", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown model 'gpt5'" in bad.stderr
    knob = cli("jaft", "plan", "--liger", cwd=tmp_path)
    assert knob.returncode == 2 and "--liger is for one prediction: give MODEL and --seq N" in knob.stderr


def test_plan_cli_prints_every_setting(tmp_path):
    proc = cli("recipes", "plan", cwd=tmp_path, check=True)
    assert "| calm2 | 4,096 | 1,700 |" in proc.stdout and "SDPA+GC+Liger" in proc.stdout


def test_render_refuses_a_recipe_over_the_cap_unless_forced(tmp_path):
    args = ("recipes", "render", "llama2-7b", "xlsum", "2e-4", "--set", "sequence_len=4096")
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2 and "over the 46,000 MB cap" in proc.stderr and "fits 1,700 tokens" in proc.stderr
    assert not (tmp_path / "runs").exists()
    forced = cli(*args, "--force", cwd=tmp_path, check=True)
    recipe = (tmp_path / "runs/llama2-7b-xlsum-lr2e-4/recipe.yaml").read_text()
    assert "warning:" in forced.stderr
    assert recipe.startswith("# jaft run llama2-7b-xlsum-lr2e-4: written by "
                             "`just render llama2-7b xlsum 2e-4 --set sequence_len=4096`")
    ok = cli("recipes", "render", "llama2-7b", "xlsum", "2e-4", "--variant", "full", "--set", "sequence_len=4096",
             cwd=tmp_path, check=True)
    assert "warning" not in ok.stderr


def test_cap_fraction_arithmetic():
    card = 80 * 1024 * MIB
    assert cap_fraction(46000, card) == (46000 / 81920, False)
    assert cap_fraction(100000, card) == (1.0, True)
    with pytest.raises(ValueError):
        cap_fraction(0, card)


def fake_torch(available: bool, total: int):
    calls = []
    cuda = SimpleNamespace(is_available=lambda: available, device_count=lambda: 2,
                           get_device_properties=lambda d: SimpleNamespace(total_memory=total),
                           set_per_process_memory_fraction=lambda f, d: calls.append((f, d)))
    return SimpleNamespace(cuda=cuda), calls


def test_apply_cap_sets_every_device_and_warns_when_over_the_card(caplog):
    torch, calls = fake_torch(True, 80 * 1024 * MIB)
    assert apply_cap(46000, torch) == pytest.approx(46000 / 81920)
    assert calls == [(46000 / 81920, 0), (46000 / 81920, 1)]
    torch, calls = fake_torch(True, 40 * 1024 * MIB)
    with caplog.at_level(logging.WARNING):
        assert apply_cap(46000, torch) == 1.0
    assert "more than GPU 0 has" in caplog.text


def test_apply_cap_without_cuda_only_logs(caplog):
    torch, calls = fake_torch(False, 0)
    with caplog.at_level(logging.INFO):
        assert apply_cap(46000, torch) is None
    assert calls == [] and "no CUDA device" in caplog.text
