"""Eval throughput on the tiny model: batched vs one-at-a-time generation, measured in one run.

Example: `.venv/bin/python bench/eval_throughput.py --task jsquad --rows 64 --batch-size 16`
Prints examples/second for both and their ratio. Not a test: numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.generate import GenSettings, HFGenerator  # noqa: E402
from prompts.data import convert, local_split  # noqa: E402
from prompts.tasks import get_task  # noqa: E402
from recipes.tiny import ensure_tiny  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "prompts" / "samples"


def untrained_adapter(base: Path, out: Path) -> Path:
    """A LoRA adapter with the recipes' shape (r=16 on all linear layers); its values do not matter here."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(
        r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj"], task_type="CAUSAL_LM"))
    model.save_pretrained(out)
    return out


def rate(gen: HFGenerator, prompts: list[str], batch_size: int, settings) -> float:
    start = time.perf_counter()
    for i in range(0, len(prompts), batch_size):
        gen.generate(prompts[i: i + batch_size], settings)
    return len(prompts) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="jsquad")
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    task = get_task(args.task)
    examples, _ = convert(task, local_split(task, SAMPLES / task.name, task.eval_split))
    prompts = sorted((e["prompt"] for e in examples[: args.rows]), key=len, reverse=True)
    base = ensure_tiny()
    with tempfile.TemporaryDirectory() as tmp:
        gen = HFGenerator(str(base))
        gen.use_adapter(str(untrained_adapter(base, Path(tmp) / "adapter")))
        settings = GenSettings.of(task)
        gen.generate(prompts[:2], settings)  # warm-up
        single = rate(gen, prompts, 1, settings)
        batched = rate(gen, prompts, args.batch_size, settings)
    print(json.dumps({"task": task.name, "rows": len(prompts), "max_new_tokens": settings.max_new_tokens,
                      "one_at_a_time_ex_per_s": round(single, 2),
                      f"batch_{args.batch_size}_ex_per_s": round(batched, 2),
                      "ratio": round(batched / single, 2)}))


if __name__ == "__main__":
    main()
