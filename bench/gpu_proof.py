"""GPU proof: jaft's real recipes, the VRAM cap, the planner and eval's generation, on a real GPU.

For each model: build it with random weights at the registry's shape (bench/random_models.py), train it
with `python -m recipes train` (what `just train` runs) for --steps optimizer steps on XL-Sum-like rows cut
to the run's length, at the settings PLAN gives it, under the 46,000 MiB cap; measure each run from
inside its training process (bench/proof_plugin.py) and set it beside the planner and the H100 anchors.
Each setting is shown once, where it says something new: `full` (native context, SDPA + checkpointing) on
calm2 and on GPT-2 (llm-jp-13b); Qwen3 8B for grouped-query
attention and the one QLoRA run (`--variant qlora`: 4-bit NF4 weights through bitsandbytes).
On the first model, one run the planner puts over the cap must end in an out-of-memory with the planner's
advice (the card itself would have room), and eval's HF backend generates for JSQuAD- and XL-Sum-sized
prompts from the paper run's checkpoint. Results: bench/results/gpu-proof-<date>-<device>.jsonl + .md.

The rows are built only to the longest length a run or eval of this proof uses (4,096 tokens for the
whole proof: calm2's `full` and its inference length), each sample row tokenized twice.

Examples:
  bash bench/gpu_proof.sh                       # one H100/H200: calm2, llmjp-13b, qwen3-8b
  bash bench/gpu_proof.sh --part 1              # the same in two parts, each estimated under 10 minutes
  bash bench/gpu_proof.sh --models calm2 --steps 10
  bash bench/gpu_proof.sh --tiny                # the same steps on a CPU with the tiny model
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

from bench import proof_report
from bench.random_models import build as build_random, remove as remove_random
from jaft.common import UsageError, atomic_write_jsonl, atomic_write_text, choose, run
from prompts import get_task, load_split, prompt_length, shorten_all
from recipes import RunSpec, base_model_path, checkpoints, ensure_tiny, get_model, read_manifest
from recipes.memory import extrapolated, peak_mib, recipe_setting
from recipes.models import DEFAULT_CAP_MB, MODELS
from recipes.render import recipe_dict
from recipes.train import OOM_MARKERS

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "prompts" / "samples"
GPU_MODELS = ("calm2", "llmjp-13b", "qwen3-8b")
# (setting name, variant) per model; a model not named here gets the paper setting and `full`. Each code path
# once: Llama (calm2; Llama-2 13B would repeat it at another size, and the anchors measure it), GPT-2 (LLM-jp
# 13B), grouped-query attention (Qwen3 8B) and QLoRA; `full` once per family that has it. 20 steps a run.
PLAN = {"calm2": [("paper", None), ("full", "full")],
        "llmjp-13b": [("paper", None), ("full", "full")], "qwen3-8b": [("paper", None), ("qlora", "qlora")]}
# `--part N`: the proof in pieces that each fit one 10-minute command (estimate_seconds); the over-cap run and
# eval's generation belong to part 1 (calm2), as they belong to the whole proof's first model.
PARTS = (("calm2",), ("llmjp-13b", "qwen3-8b"))
TASK, LR = "xlsum", "2e-4"
PLUGIN = "bench.proof_plugin.ProofPlugin"


def say(msg: str) -> None:
    print(f"[gpu proof] {msg}", file=sys.stderr, flush=True)


def long_articles(tokenizer, tokens: int) -> list[dict]:
    """The bundled XL-Sum samples with their articles repeated past `tokens` tokens, so that every row is
    cut to exactly the run's length: memory and speed are measured at the length the recipe states. Each
    row is tokenized once to count its repeats, and the repeated text once more to cut it a little past
    `tokens` (two tokenizer calls a row, whatever `tokens` is)."""
    rows = [json.loads(line) for name in ("train", "validation", "test")
            for line in (SAMPLES / TASK / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    out = []
    for row in rows:
        piece = len(tokenizer(row["text"] + "\n", add_special_tokens=False)["input_ids"])
        # a seam may merge a few tokens: count each repeat 4 short, and one repeat more
        repeats = tokens // max(piece - 4, 1) + 2
        text = "\n".join([row["text"]] * repeats)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) < tokens:
            raise RuntimeError(f"{row.get('id')}: {repeats} repeats gave {len(enc['input_ids'])} < {tokens} tokens")
        keep = tokens + 64  # a little past: the template's tokens are taken from the article when it is fitted
        if len(enc["input_ids"]) > keep:
            text = text[: enc["offset_mapping"][keep][0]]
        out.append({**row, "text": text})
    return out


def proof_runs(models: list[str], over_cap: bool, extras: bool) -> list[tuple[str, str, str | None]]:
    """(model, setting name, variant) of every training run, in order: each model's PLAN, and with `extras`
    and `over_cap`, the first model's run at a length the planner puts over the cap."""
    runs = []
    for index, name in enumerate(models):
        plan = list(PLAN.get(name, [("paper", None), ("full", "full")]))
        if over_cap and extras and index == 0:
            model = get_model(name)
            paper_cfg = recipe_dict(RunSpec.parse(name, TASK, LR))
            over = proof_report.over_cap_len(model, recipe_setting(model, paper_cfg), DEFAULT_CAP_MB)
            if over:
                plan.append(("over-cap", f"len{over}"))
        runs += [(name, setting, variant) for setting, variant in plan]
    return runs


def data_lengths(models: list[str], runs, extras: bool) -> dict[str, int]:
    """The article length each split needs: the longest training run for train and validation, and for
    the eval prompts (the first model's, with `extras`) its inference length, where `just eval` cuts them."""
    train = max(RunSpec.parse(name, TASK, LR, variant).sequence_len for name, _, variant in runs)
    return {"train": train, "validation": train,
            "test": get_model(models[0]).infer_len if extras else train}


def estimate_seconds(models: list[str], runs, extras: bool, steps: int = 20) -> float:
    """What the proof should take on one H100, by estimate (it has never run on a GPU): per model, writing
    its random bf16 weights (1 GB/s); per run, a launch (60 s: Python, Axolotl's import, accelerate, CUDA),
    loading the weights (1 GB/s; QLoRA quantises them on the way, counted twice), `steps` optimizer steps at
    2,000 tokens/s and a checkpoint; with `extras`, eval loading the first model again and generating 2 × 32
    prompts (60 s). Data, imports and the kit install: 60 s once."""
    from recipes.memory import frozen_bytes
    gb = {name: frozen_bytes(get_model(name)) / 1e9 for name in models}
    total = 60.0 + sum(10 + gb[name] for name in models)
    for name, setting, variant in runs:
        spec = RunSpec.parse(name, TASK, LR, variant)
        load = gb[name] * (2 if spec.load_in_4bit else 1)
        total += 60 + load + (0 if setting == "over-cap" else steps * spec.sequence_len / 2000 + 5)
    if extras:
        total += gb[models[0]] + 60
    return total


def prepare_data(work: Path, rows_needed: dict[str, int], lengths: dict[str, int]) -> None:
    """XL-Sum-like rows (hub schema) whose articles reach each split's length (`data_lengths`), and the
    bundled JSQuAD samples, through `python -m prompts data`."""
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny())
    articles = {n: long_articles(tokenizer, n) for n in sorted(set(lengths.values()))}
    source = work / "source" / TASK
    start = 0
    for split, n in rows_needed.items():
        pool = articles[lengths[split]]
        rows = [{**pool[(start + i) % len(pool)], "id": f"{split}-{i:05d}"} for i in range(n)]
        start += n
        atomic_write_jsonl(source / f"{split}.jsonl", rows)
    for task, src in ((TASK, source), ("jsquad", SAMPLES / "jsquad")):
        proc = subprocess.run([sys.executable, "-m", "prompts", "data", task, "--from", str(src)],
                              capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"prompts data {task} failed:\n{proc.stderr[-2000:]}")


def train_run(spec: RunSpec, work: Path, steps_args: list[str], force: bool) -> dict:
    """`python -m recipes train ...` with the proof's plugin; what the run folder says afterwards."""
    plugins = recipe_dict(spec)["plugins"] + [PLUGIN]
    cmd = [sys.executable, "-m", "recipes", "train", spec.model.name, TASK, LR,
           *(["--variant", spec.variant] if spec.variant else []), "--epochs", "1", *steps_args,
           "--set", f"plugins={yaml.safe_dump(plugins, default_flow_style=True).strip()}",
           *(["--force"] if force else [])]
    log = work / "logs" / f"{spec.id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - start

    def text(name: str) -> str:  # a file the run may not have reached (an early failure)
        path = spec.dir / name
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""

    train_log = text("train.log")
    return {"code": code, "wall_s": round(wall, 1), "log": log, "manifest": read_manifest(spec.dir),
            "recipe": yaml.safe_load(text("recipe.yaml")) or {}, "proof": json.loads(text("proof.json") or "{}"),
            "oom": any(m in train_log for m in OOM_MARKERS),
            "cap_applied": "jaft vram cap: GPU" in train_log,
            "command": "python -m " + " ".join(cmd[2:])}


def train_record(spec: RunSpec, setting_name: str, res: dict, device: str) -> dict:
    cfg, proof, manifest = res["recipe"], res["proof"], res["manifest"]
    setting = recipe_setting(spec.model, cfg)
    seq = int(cfg["sequence_len"])
    predicted = round(peak_mib(spec.model, seq, setting))
    cap = cfg.get("vram_cap_mb")
    outcome = "oom" if res["oom"] else ("finished" if res["code"] == 0 and manifest.get("status") == "finished"
                                        else "failed")
    advice = outcome == "oom" and "just plan" in (manifest.get("error") or "")
    cuda = device != "cpu"
    peak = proof.get("peak_reserved_mib") if cuda else proof.get("max_rss_mib")
    rate = proof.get("tokens_per_s")
    anchor, basis = proof_report.anchor_rate(spec.model.name, setting, seq) if cuda else (None, None)
    allocated = proof.get("peak_allocated_mib")
    return {
        "kind": "train", "model": spec.model.name, "setting": setting_name, "run_id": spec.id,
        "attn_setting": setting.name, "sequence_len": seq, "micro_batch": setting.micro_batch,
        "gradient_accumulation_steps": cfg.get("gradient_accumulation_steps"), "steps": proof.get("steps"),
        "tokens": proof.get("tokens"), "outcome": outcome, "error": manifest.get("error"),
        "peak_mib": peak, "peak_source": "torch.cuda.max_memory_reserved" if cuda else "max RSS (CPU)",
        "peak_allocated_mib": allocated, "predicted_mib": predicted,
        "extrapolated": extrapolated(spec.model, setting),  # no anchor row of this architecture or of QLoRA
        "planner_error": round((predicted - allocated) / allocated, 4) if allocated else None,
        "cap_mib": cap, "cap_applied": res["cap_applied"],
        "held": proof_report.held(cap_applied=res["cap_applied"], predicted_mib=predicted, cap_mib=cap or 0,
                                  outcome=outcome, peak_mib=peak, advice=advice),
        "advice_given": advice,
        "tokens_per_s": rate, "anchor_tokens_per_s": anchor, "anchor_basis": basis,
        "ratio_to_anchor": round(rate / anchor, 3) if rate and anchor else None,
        "train_seconds": proof.get("train_seconds"), "wall_s": res["wall_s"],
        "device": proof.get("device") or device, "versions": proof.get("versions") or manifest.get("versions"),
        "command": res["command"],
    }


def eval_records(spec: RunSpec, checkpoint: Path, n: int, batch_size: int) -> list[dict]:
    """Eval's HF backend (what `just eval` generates with) on JSQuAD- and XL-Sum-sized prompts: examples/s.
    Prompts are cut to the model's inference length as `just eval` cuts them; scoring is not timed."""
    import gc

    import torch
    from eval.generate import GenSettings, HFGenerator
    cuda = torch.cuda.is_available()
    gen = HFGenerator(base_model_path(spec), spec.model.trust_remote_code)
    gen.use_adapter(str(checkpoint))
    out = []
    for name in ("jsquad", TASK):
        task = get_task(name)
        rows = load_split(name, task.eval_split)[:n]
        rows, _, _ = shorten_all(task, gen.tokenizer, rows, spec.model.infer_len, measure=prompt_length)
        prompts = sorted((r["prompt"] for r in rows), key=len, reverse=True)
        settings = GenSettings.of(task)
        gen.generate(prompts[:1], settings)  # warm-up: kernels, the adapter's first use
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        start, new_tokens = time.perf_counter(), 0
        for i in range(0, len(prompts), batch_size):
            new_tokens += sum(g.new_tokens for g in gen.generate(prompts[i: i + batch_size], settings))
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        lengths = [len(gen.tokenizer(p)["input_ids"]) for p in prompts]
        out.append({"kind": "eval", "model": spec.model.name, "task": name, "backend": "hf", "n": len(prompts),
                    "batch_size": batch_size, "max_new_tokens": settings.max_new_tokens,
                    "prompt_tokens_mean": round(sum(lengths) / len(lengths)), "new_tokens": new_tokens,
                    "seconds": round(seconds, 2), "examples_per_s": round(len(prompts) / seconds, 3),
                    "peak_mib": round(torch.cuda.max_memory_reserved() / 2**20) if cuda else None,
                    "checkpoint": checkpoint.name})
    del gen  # the next model's training runs in another process: leave it the card
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench/gpu_proof.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="the CPU mode: the tiny model, fewer steps")
    ap.add_argument("--models", nargs="+", help=f"default: {' '.join(GPU_MODELS)} (tiny with --tiny)")
    ap.add_argument("--part", type=int, choices=range(1, len(PARTS) + 1),
                    help="one piece of the proof: " + "; ".join(f"{i} = {' '.join(p)}" for i, p in enumerate(PARTS, 1))
                    + " (results file ...-part<N>)")
    ap.add_argument("--steps", type=int, help="optimizer steps per run (default 20; 6 with --tiny)")
    ap.add_argument("--eval-rows", type=int, help="prompts per eval task (default 32; 8 with --tiny)")
    ap.add_argument("--batch-size", type=int, default=16, help="eval batch size")
    ap.add_argument("--no-over-cap", action="store_true", help="skip the run the planner puts over the cap")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed at the end)")
    ap.add_argument("--force", action="store_true", help="overwrite today's results for this device")
    args = ap.parse_args(argv)

    import torch
    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        raise UsageError("no CUDA device here; run `bash bench/gpu_proof.sh --tiny` for the CPU mode")
    if args.part and (args.models or args.tiny):
        raise UsageError("--part names its own models; give --part, or --models / --tiny, not both")
    models = list(PARTS[args.part - 1]) if args.part else args.models or (["tiny"] if args.tiny else list(GPU_MODELS))
    for name in models:
        choose("model", name, ("tiny",) if args.tiny else tuple(m for m in MODELS if not MODELS[m].cpu))
    steps = args.steps or (6 if args.tiny else 20)
    eval_rows = args.eval_rows or (8 if args.tiny else 32)
    for flag, value in (("--steps", steps), ("--eval-rows", eval_rows), ("--batch-size", args.batch_size)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    stem = f"gpu-proof-{date.today().isoformat()}-{proof_report.device_slug(device)}"
    stem += f"-part{args.part}" if args.part else ""
    results = args.out / f"{stem}.jsonl"
    if results.exists() and not args.force:
        raise UsageError(f"{results} exists; pass --force to measure again")

    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="jaft-gpu-proof-"))
    work.mkdir(parents=True, exist_ok=True)
    # Everything the runs read and write stays in the scratch folder; nothing reaches a hub.
    os.environ.update({"JAFT_DATA": str(work / "data"), "JAFT_RUNS": str(work / "runs"),
                       "JAFT_TINY_DIR": str(work / "tiny-model"), "HF_HUB_CACHE": str(work / "hub"),
                       "HF_DATASETS_CACHE": str(work / "datasets"), "HF_HUB_OFFLINE": "1",
                       "HF_DATASETS_OFFLINE": "1", "AXOLOTL_DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"})
    if args.tiny:
        os.environ["JAFT_LAUNCHER"] = "accelerate"  # the GPU's launch path, on the CPU
    from jaft import settings
    # The command's settings were built at the front door, before these variables: hold the new ones.
    with settings.use():
        return measure(args, argv, cuda, device, steps, eval_rows, models, work, results, stem, started)


def measure(args, argv, cuda, device, steps, eval_rows, models, work, results, stem, started) -> int:
    try:
        micro = max(int(get_model(m).recipe_overrides.get("micro_batch_size", 1)) for m in models)
        extras = args.part in (None, 1)  # the over-cap run and eval: the proof's first model only
        runs = proof_runs(models, cuda and not args.no_over_cap, extras)
        lengths = data_lengths(models, runs, extras)
        say(f"{device}: preparing data ({steps * micro} training rows of up to {lengths['train']:,} tokens, "
            f"eval prompts of up to {lengths['test']:,})")
        prepare_data(work, {"train": steps * micro, "validation": 2, "test": eval_rows}, lengths)
        records = []
        for index, name in enumerate(models):
            model = get_model(name)
            t0 = time.perf_counter()
            if model.hub_id:
                build_random(name, work / "hub", device="cuda" if cuda else "cpu")
            say(f"{name}: built in {time.perf_counter() - t0:.0f} s")
            for model_name, setting_name, variant in runs:
                if model_name != name:
                    continue
                spec = RunSpec.parse(name, TASK, LR, variant)
                res = train_run(spec, work, ["--set", "gradient_accumulation_steps=1"], force=True)
                rec = train_record(spec, setting_name, res, "cuda" if cuda else "cpu")
                records.append(rec)
                say(f"{spec.id}: {rec['outcome']}, peak {rec['peak_mib']} MiB (predicted {rec['predicted_mib']}), "
                    f"{rec['tokens_per_s']} tokens/s, held {rec['held']}, {rec['wall_s']} s")
                if rec["outcome"] == "failed":
                    say(f"{spec.id} failed; its log: {res['log']}\n" + res["log"].read_text()[-3000:])
                if setting_name == "paper" and index == 0 and extras and rec["outcome"] == "finished":
                    records += eval_records(spec, checkpoints(spec.dir)[-1][1], eval_rows, args.batch_size)
                    say(f"{name}: eval " + ", ".join(f"{r['task']} {r['examples_per_s']} ex/s" for r in records
                                                     if r["kind"] == "eval"))
            if model.hub_id:
                remove_random(name, work / "hub")
        header = {"date": date.today().isoformat(), "device": device, "mode": "CPU, tiny model" if args.tiny
                  else "GPU", "command": "bash bench/gpu_proof.sh " + " ".join(argv),
                  "seconds": time.perf_counter() - started}
        atomic_write_jsonl(results, records)
        atomic_write_text(results.with_suffix(".md"), proof_report.summary(records, header))
        say(f"wrote {results} and {results.with_suffix('.md').name} ({header['seconds']:.0f} s)")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    bad = [r["run_id"] for r in records if r["kind"] == "train" and (r["outcome"] == "failed" or r["held"] is False)]
    if bad:
        say(f"not as the planner said, or failed: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
