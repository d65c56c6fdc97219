"""`just export`: refusals on hand-made run folders; the round trip on the tiny model trained in the session
(the exported adapter through peft, and the merged model, generate exactly jaft's own predictions)."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import cli

RUN = "runs/tiny-marc-lr2e-4"


def fake_run(root: Path, status: str = "finished", epochs=(1, 2)) -> Path:
    """A run folder with run.json and complete-looking checkpoints (no weights worth loading)."""
    run = root / RUN
    for k in epochs:
        ck = run / f"checkpoint-{k * 10}"
        ck.mkdir(parents=True)
        (ck / "trainer_state.json").write_text(json.dumps({"epoch": float(k)}))
        (ck / "adapter_model.safetensors").write_bytes(b"x")
        (ck / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/m"}))
    run.mkdir(parents=True, exist_ok=True)
    (run / "run.json").write_text(json.dumps({"run_id": "tiny-marc-lr2e-4", "model": "tiny", "task": "marc",
                                              "lr": "2e-4", "status": status}))
    return run


@pytest.mark.parametrize("status, args, message", [
    ("running", [], "training is 'running', not finished"),
    ("finished", ["--epoch", "3"], "no epoch 3; valid: 1, 2"),
    ("finished", ["--epoch", "zero"], "bad --epoch 'zero'"),
    ("finished", [], "no scored epochs to choose from"),
    ("finished", ["--epoch", "1", "--out", RUN + "/export"], "is inside the run folder"),
    ("finished", ["--epoch", "1", "--out", "runs"], "is inside the run folder"),
    ("finished", ["--epoch", "1", "--out", "taken"], "exists and is not empty; --force to replace it"),
])
def test_export_refuses_in_one_line(tmp_path, status, args, message):
    run = fake_run(tmp_path, status)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    before = sorted(p for p in tmp_path.rglob("*"))
    proc = cli("report.export", RUN, *args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written, the run folder untouched
    assert (run / "run.json").is_file()


def test_printed_commands_are_the_harnesses_own():
    """lm-evaluation-harness's own parser reads the printed command; the tasks are its japanese_leaderboard's."""
    import lm_eval
    from lm_eval._cli.harness import HarnessCLI
    from report.card import LM_EVAL_TASKS, lm_eval_command

    folder = Path(lm_eval.__file__).parent / "tasks" / "japanese_leaderboard"
    for task, name in LM_EVAL_TASKS.items():
        assert (folder / f"{name}.yaml").is_file(), name
        argv = lm_eval_command("cyberagent/calm2-7b", "/x/adapter", None, task)
        assert argv[0] == "lm_eval"
        args = HarnessCLI()._parser.parse_args(["run", *argv[1:]])
        assert args.model == "hf" and args.tasks == [name] and args.batch_size == "auto"
        assert args.model_args == {"pretrained": "cyberagent/calm2-7b", "peft": "/x/adapter", "dtype": "bfloat16"}


def regenerate(gen, rows: list[dict], out: Path) -> dict[str, str]:
    """jaft's own generation path (batching, padding, greedy settings of the task) into `out`: id -> raw."""
    from eval.generate import GenSettings
    from eval.runner import predict_epoch
    from prompts import get_task

    predict_epoch(gen, "marc", [{k: r[k] for k in ("id", "prompt", "references")} for r in rows], out,
                  GenSettings.of(get_task("marc")), 16)
    return {str(r["id"]): r["raw"] for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}


@pytest.mark.e2e
def test_export_round_trip_reproduces_predictions(evaluated, tmp_path):
    from eval.generate import HFGenerator

    run = evaluated / RUN
    best = json.loads((run / "scores.json").read_text())["best"]["epoch"]
    out = tmp_path / "export"
    proc = cli("report.export", str(run), "--merge", "--out", str(out), cwd=evaluated)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not any(p.name.startswith(".export") for p in tmp_path.iterdir())  # no temp folder left behind
    # the commands: lm-evaluation-harness on base + adapter and on the merged model; llm-jp-eval on the merged
    assert f"--model_args pretrained={evaluated / '.cache'}" not in proc.stdout
    assert f",peft={out}," in proc.stdout and f"pretrained={out}/merged," in proc.stdout
    assert "--tasks ja_leaderboard_marc_ja" in proc.stdout and "scripts/evaluate_llm.py" in proc.stdout

    config = json.loads((out / "adapter_config.json").read_text())
    base = config["base_model_name_or_path"]
    assert Path(base).is_dir() and (Path(base) / "config.json").is_file()  # tiny: its local folder
    card = (out / "README.md").read_text()
    assert "MARC licence (Amazon)" in card and "n/a (random weights built locally)" in card
    assert f"epoch {best}" in card and "just train tiny marc 2e-4 --epochs 2" in card and "| accuracy |" in card
    mask = os.umask(0)
    os.umask(mask)
    for path in out.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o777 if path.is_dir() else 0o666) & ~mask, path

    rows = [json.loads(l) for l in (run / f"eval/epoch-{best}/predictions.jsonl").read_text().splitlines()]
    want = {str(r["id"]): r["raw"] for r in rows}
    gen = HFGenerator(base)
    gen.use_adapter(str(out))  # PeftModel.from_pretrained(base, export folder): nothing else needed
    assert regenerate(gen, rows, tmp_path / "peft.jsonl") == want

    merged = HFGenerator(str(out / "merged"))  # transformers alone
    merged.model = merged.base
    assert regenerate(merged, rows, tmp_path / "merged.jsonl") == want
    assert not (out / "merged" / "adapter_config.json").exists()
