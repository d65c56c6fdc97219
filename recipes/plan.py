"""`jaft plan`: per model, the longest sequence that fits the VRAM cap under each setting, and the
predicted peak of the paper-length recipe; with `--seq N`, one prediction for one model at N tokens, every
knob of the setting given. A command-line face on recipes.memory.

Examples:
  jaft plan                    # every GPU model (paper + successors), LoRA and QLoRA, 46,000 MB
  jaft plan llmjp-13b --cap-mb 24000
  jaft plan successors --adapter qlora --json
  jaft plan calm2 --seq 4096 --attn sdpa --gradient-checkpointing --json   # one prediction
"""
from __future__ import annotations

import json
from dataclasses import replace

from jaft.cli import at_least_one
from jaft.common import UsageError, choose
from prompts.tasks import Names
from recipes.memory import (SWITCHES, answer_tokens, extrapolated, longest_fit, longest_generation_len, peak_mib,
                            recipe_setting, switched, weight_counts)
from recipes.models import DEFAULT_CAP_MB, EVAL_BATCH, GROUPS, LEARNING_RATES, MODELS, expand_models, get_model

ADAPTERS = ("lora", "qlora")
# What `just plan` shows without a model: every model a GPU trains (the paper's four, then the successors).
GPU_MODELS = Names(lambda: tuple(name for name, m in MODELS.items() if not m.cpu))

STEP = 100  # lengths are reported in steps of 100 tokens, as the paper states them
# docs/what-fits.md's caps: a card class's smallest nvidia-smi total, less ~1,000 MiB for the CUDA context and
# cuBLAS workspaces that sit outside the cap (16 GB: ~16,380 MiB; 24 GB: A10 23,028, L4 23,034; 48 GB: L40S
# 46,068; 80 GB: H100 81,559, A100 81,920).
CARD_CAPS_MB = (15000, 22000, 45000, 80000)


def paper_recipe(model_name: str, variant: str | None = None) -> dict:
    """The model's paper-length recipe as `just render MODEL TASK 2e-4` writes it (the task does not change
    what memory depends on): the planner takes the LoRA rank, targets and micro-batch from it rather than
    from a copy of their defaults."""
    from prompts.tasks import TASKS
    from recipes.render import recipe_dict
    from recipes.runs import RunSpec
    spec = RunSpec.parse(model_name, next(iter(TASKS)), next(iter(LEARNING_RATES)), variant)
    return recipe_dict(spec, base_model=spec.model.hub_id or "(local)")


def plan_rows(models, cap_mb: int, adapters=("lora",)) -> list[dict]:
    """Per model and adapter: the longest length under each setting, the paper-length recipe's peak, the
    base parameter count, and whether the numbers are `extrapolated` (no measured row backs them)."""
    rows = []
    for name in models:
        m = get_model(name)
        for adapter in adapters:
            # the entry's plain recipe where it is this adapter, else the variant that switches it
            # (`--variant qlora`; `--variant lora` for an entry whose plain recipe is QLoRA: calm3-22b)
            variant = None if m.adapter == adapter else adapter
            cfg = paper_recipe(name, variant)
            base = recipe_setting(m, cfg)
            settings = {label: switched(base, label) for label in SWITCHES}
            if m.facts.eager_only:  # soft-capped attention runs eager whatever the column says
                settings = {label: replace(st, attn="eager") for label, st in settings.items()}
            rows.append({
                "model": name, "adapter": adapter, "variant": variant, "native_context": m.native_context,
                "base_params": weight_counts(m, base.lora_r, base.lora_targets)[0],
                "paper_len": cfg["sequence_len"], "paper_attn": base.attn,
                "paper_peak_mib": round(peak_mib(m, cfg["sequence_len"], base)),
                "micro_batch": base.micro_batch, "lora_r": base.lora_r,
                "extrapolated": extrapolated(m, base), "eager_only": m.facts.eager_only,
                "longest": {label: longest_fit(m, st, cap_mb, STEP) for label, st in settings.items()},
                "infer_len": longest_generation_len(m, cap_mb, base.load_in_4bit, STEP)})
    return rows


def show(rows: list[dict], cap_mb: int) -> str:
    labels = list(rows[0]["longest"]) if rows else []
    batches = sorted({(r["micro_batch"], r["lora_r"]) for r in rows})
    recipe = "; ".join(f"micro-batch {b}, LoRA r={r}" for b, r in batches)
    lines = [f"Longest training sequence (tokens, steps of {STEP}) under a {cap_mb:,} MB cap, with the paper "
             f"recipes' {recipe} on the registry's targets (planner calibrated on H100 measurements):", "",
             "| model | native | " + " | ".join(labels) + " | paper recipe: length, attention, predicted peak "
             f"| eval prompts (batch {EVAL_BATCH}) |",
             "|---|---:|" + "---:|" * len(labels) + "---|---:|"]
    for r in rows:
        fits = "fits" if r["paper_peak_mib"] <= cap_mb else "OVER the cap"
        cells = [f"{v:,}" + (" ✓" if v >= r["native_context"] else "") for v in r["longest"].values()]
        name = r["model"] + (" (QLoRA)" if r.get("adapter") == "qlora" else " (LoRA) §" if r.get("variant") else "")
        name += " ‡" if r.get("eager_only") else ""
        lines.append(f"| {name} | {r['native_context']:,} | " + " | ".join(cells) +
                     f" | {r['paper_len']:,}, {r['paper_attn']}, {r['paper_peak_mib']:,} MiB ({fits})"
                     + (", extrapolated" if r.get("extrapolated") else "") + f" | {r['infer_len']:,} |")
    lines += ["", "✓: the model's native context fits. extrapolated: no measured peak of this architecture (or "
              "of QLoRA) backs the prediction; the planner's constants come from the paper models' H100 rows.",
              f"eval prompts: the longest prompt `just eval` generates from under the cap at its default batch of "
              f"{EVAL_BATCH} with a {answer_tokens()}-token answer, at most the native context (counted from the "
              f"code, not measured; eval halves its batch on an out-of-memory).",
              "‡: attention soft-capping (Gemma-2) runs eager in every column: SDPA would drop the cap."]
    lines += ["§: the entry's own recipe is QLoRA; `--variant lora` trains it with bf16 base weights."] * any(
        r.get("adapter") == "lora" and r.get("variant") for r in rows)
    return "\n".join(lines)


def add_arguments(verb: str, ap) -> None:
    """`jaft plan [MODEL|GROUP] [--cap-mb MB] [--adapter lora|qlora|both] [--json]`, and one prediction:
    `jaft plan MODEL --seq N [--attn eager|sdpa] [--gradient-checkpointing] [--liger] [--micro-batch N]
    [--lora-r N] [--adapter lora|qlora] [--json]`."""
    ap.add_argument("model", nargs="?", help=f"one of {', '.join(MODELS)}, or a group ({', '.join(GROUPS)}) "
                                             "(default: every GPU model)")
    ap.add_argument("--cap-mb", type=at_least_one, default=DEFAULT_CAP_MB,
                    help=f"the VRAM cap in MB (MiB; default {DEFAULT_CAP_MB})")
    ap.add_argument("--adapter", default="both", help="lora, qlora or both (default; with --seq: the model's own "
                                                      "recipe)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table (or the one line)")
    one = ap.add_argument_group("one prediction (MODEL --seq N): the predicted peak of one step at N tokens")
    one.add_argument("--seq", type=at_least_one, metavar="N", help="the training sequence length")
    one.add_argument("--attn", help="eager (default) or sdpa")
    one.add_argument("--gradient-checkpointing", action="store_true", help="with gradient checkpointing (default: off)")
    one.add_argument("--liger", action="store_true", help="with Liger kernels (default: off)")
    one.add_argument("--micro-batch", type=at_least_one, help="default: the model's paper recipe's")
    one.add_argument("--lora-r", type=at_least_one, help="default: the model's paper recipe's")


KNOBS = ("attn", "gradient_checkpointing", "liger", "micro_batch", "lora_r")


def run_verb(verb: str, args) -> int:
    if args.seq:
        return predict(args)
    given = [k for k in KNOBS if getattr(args, k)]
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} is for one prediction: give MODEL and --seq N, "
                         f"e.g. `jaft plan calm2 --seq 4096 --{given[0].replace('_', '-')}`")
    adapter = choose("adapter", args.adapter, (*ADAPTERS, "both"))
    adapters = ADAPTERS if adapter == "both" else (adapter,)
    names = (expand_models([args.model]) if args.model in GROUPS
             else [choose("model", args.model, MODELS)] if args.model else GPU_MODELS)
    rows = plan_rows(names, args.cap_mb, adapters)
    if not rows:  # never an empty table (or []) with exit 0
        raise UsageError(f"nothing to plan for {args.model or 'the GPU models'} with --adapter {adapter}")
    print(json.dumps(rows, indent=2) if args.json else show(rows, args.cap_mb))
    return 0


def predict(args) -> int:
    """`jaft plan MODEL --seq N ...`: the predicted peak of one LoRA (or QLoRA) step at N tokens."""
    if not args.model:
        raise UsageError(f"--seq needs a MODEL, one of {', '.join(MODELS)}")
    model = get_model(args.model)
    adapter = choose("adapter", args.adapter, (*ADAPTERS, "both"))
    base = recipe_setting(model, paper_recipe(model.name, "qlora" if adapter == "qlora" else None))
    if adapter == "lora" and base.load_in_4bit:
        raise UsageError(f"{model.name}'s recipe is QLoRA (its base is loaded in 4 bits): use --adapter qlora")
    attn = choose("attention", args.attn or "eager", ("sdpa", "eager"))
    setting = replace(base, attn=attn, gradient_checkpointing=args.gradient_checkpointing, liger=args.liger,
                      micro_batch=args.micro_batch or base.micro_batch, lora_r=args.lora_r or base.lora_r)
    peak = peak_mib(model, args.seq, setting)
    label = extrapolated(model, setting)
    print(json.dumps({"peak_mib": round(peak), "extrapolated": label,
                      "base_params": weight_counts(model, setting.lora_r, setting.lora_targets)[0]})
          if args.json else f"{model.name}: ~{peak:,.0f} MiB at {args.seq:,} tokens"
          + (" (extrapolated)" if label else "")
          + (f", under the {args.cap_mb:,} MB cap" if peak <= args.cap_mb else f", OVER the {args.cap_mb:,} MB cap"))
    return 0


def main(argv: list[str]) -> int:
    """`python -m recipes.plan [plan] ARGS`: the same as `jaft plan ARGS`."""
    from jaft.cli import package_main
    return package_main("recipes.plan", "python -m recipes.plan", argv[1:] if argv[:1] == ["plan"] else argv,
                        verb="plan")


if __name__ == "__main__":
    import sys

    from jaft.common import run

    sys.exit(run(main))
