"""The GPU proof's judgements and its Markdown summary: pure functions of what the runs recorded.

- `anchor_rate`: the HF+PEFT tokens/s measured on an H100 (recipes/anchors/) for the same model and
  setting, interpolated linearly between the two nearest measured lengths (never extrapolated).
- `held`: whether the cap and the planner agreed with what happened.
- `summary`: the Markdown beside the JSONL results.
"""
from __future__ import annotations

import re

from recipes.memory import Setting, anchor_rows, peak_mib
from recipes.models import Model

# Well over the cap, so that an out-of-memory is the planner's, not a rounding: the over-cap run's length.
OVER_FACTOR = 1.15


def device_slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (the results file's name)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def same_step(anchor: Setting, run: Setting) -> bool:
    """The same attention, checkpointing, micro-batch and LoRA (rank, targets); Liger aside: the anchors'
    plain HF+PEFT is the baseline the paper's code would be."""
    return (anchor.attn, anchor.gradient_checkpointing, anchor.micro_batch, anchor.lora_r, set(anchor.lora_targets)) \
        == (run.attn, run.gradient_checkpointing, run.micro_batch, run.lora_r, set(run.lora_targets))


def anchor_rate(model: str, setting: Setting, seq: int) -> tuple[float | None, str | None]:
    """(tokens/s, how it was read) from the anchors of plain HF+PEFT (no Liger) at the same step
    (`same_step`); (None, None) outside their range."""
    points = sorted((r["seq"], r["tok_per_s"]) for r in anchor_rows()
                    if r["registry"] == model and r["result"] == "ok" and r.get("tok_per_s") and not r["liger"]
                    and same_step(r["setting"], setting))
    attn = setting.attn + ("+GC" if setting.gradient_checkpointing else "")
    name = f"HF+PEFT {attn}, micro-batch {setting.micro_batch}, LoRA r={setting.lora_r}"
    for s, rate in points:
        if s == seq:
            return rate, f"{name} at {seq} tokens"
    below, above = [p for p in points if p[0] < seq], [p for p in points if p[0] > seq]
    if not below or not above:
        return None, None
    (s0, r0), (s1, r1) = below[-1], above[0]
    return round(r0 + (r1 - r0) * (seq - s0) / (s1 - s0), 1), f"{name}, interpolated between {s0} and {s1} tokens"


def over_cap_len(model: Model, setting: Setting, cap_mib: int, step: int = 100) -> int | None:
    """The shortest length (a multiple of `step`, within the native context) the planner puts at least
    OVER_FACTOR × the cap above it: a run there must end in an out-of-memory under the cap."""
    for seq in range(step, model.native_context + 1, step):
        if peak_mib(model, seq, setting) >= OVER_FACTOR * cap_mib:
            return seq
    return None


def held(*, cap_applied: bool, predicted_mib: float, cap_mib: int, outcome: str, peak_mib: float | None,
         advice: bool) -> bool | None:
    """Did the cap hold as the planner said? Where it predicts a fit: the run finished and its peak stayed
    under the cap. Where it predicts too much: the run ran out of memory and jaft gave the planner's advice.
    None where no cap was applied (no CUDA: the CPU mode)."""
    if not cap_applied:
        return None
    if predicted_mib <= cap_mib:
        return outcome == "finished" and peak_mib is not None and peak_mib <= cap_mib
    return outcome == "oom" and advice


def _num(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)


def summary(records: list[dict], header: dict) -> str:
    """Markdown: one table of training runs, one of eval speed, then the environment and the caveats."""
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    lines = [f"# GPU proof, {header['date']}, {header['device']}", "",
             f"`{header['command']}` — {header['mode']}; {header['seconds']:,.0f} s in all.", "",
             "## Training (jaft's recipe through Axolotl, random weights at the registry's shapes)", "",
             "| model | setting | seq | outcome | peak MiB | allocated MiB | predicted MiB | cap MiB | held "
             "| tokens/s | anchor tokens/s | ratio |",
             "|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in train:
        held_text = {True: "yes", False: "**NO**", None: "n/a"}[r["held"]]
        lines.append(f"| {r['model']} | {r['setting']} ({r['attn_setting']}) | {_num(r['sequence_len'])} | "
                     f"{r['outcome']} | {_num(r['peak_mib'])} | {_num(r['peak_allocated_mib'])} | "
                     f"{_num(r['predicted_mib'])} | {_num(r['cap_mib'])} | {held_text} | "
                     f"{_num(r['tokens_per_s'])} | {_num(r['anchor_tokens_per_s'])} | "
                     f"{_num(r['ratio_to_anchor'], 2)} |")
    if evals:
        lines += ["", "## Evaluation speed (`just eval`'s HF backend: greedy, batched, one LoRA adapter)", "",
                  "| model | prompts | n | mean prompt tokens | max new tokens | batch | examples/s | peak MiB |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in evals:
            lines.append(f"| {r['model']} | {r['task']}-sized | {r['n']} | {_num(r['prompt_tokens_mean'])} | "
                         f"{r['max_new_tokens']} | {r['batch_size']} | {_num(r['examples_per_s'], 2)} | "
                         f"{_num(r['peak_mib'])} |")
    versions = next((r["versions"] for r in train if r.get("versions")), {})
    lines += ["", "## Environment", "",
              "Versions the training processes used: "
              + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + ".",
              "", "## Reading it", "",
              "- peak MiB: `torch.cuda.max_memory_reserved` of the training process (what the cap limits; on a "
              "CPU the process's maximum resident memory). allocated MiB: `max_memory_allocated`, what the "
              "planner (`just plan`) predicts as *predicted MiB* for the same model, length and setting.",
              "- held: where the planner says the run fits, it finished with its peak under the cap; where it "
              "says it does not, it ran out of memory under the cap and jaft printed the planner's advice. "
              "n/a: no CUDA, no cap applied.",
              "- tokens/s: token slots trained per second after the first two optimizer steps; anchor: "
              "plain HF+PEFT on one H100 at the same setting (recipes/anchors/), interpolated between the "
              "nearest measured lengths; ratio = tokens/s ÷ anchor (the anchors are an H100's: on another card the "
              "ratio compares the cards too; none on a CPU).",
              "- Random weights: memory and speed depend on the shapes only; losses and outputs mean nothing."]
    return "\n".join(lines) + "\n"
