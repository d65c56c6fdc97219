"""GPU check of the memory planner: the real peak of one LoRA training step at the recipes' settings
(the paper's length and attention; the `full` variant at native context) against the planner's prediction.

Random-initialised models with the registry's exact shapes (no hub needed), bf16 weights, LoRA as the
recipe sets it (r, alpha, dropout, targets), AdamW on LoRA only, autocast bf16, as in the anchors. On a CPU
it runs `tiny` through
the same code path and has no CUDA peak to report.
Examples:
  python bench/memory_check.py                           # on a GPU: the four paper models, ~4 minutes
  python bench/memory_check.py --models calm2 --steps 3
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from dataclasses import replace  # noqa: E402

from recipes.memory import Setting, peak_mib, recipe_setting  # noqa: E402
from recipes.render import recipe_dict  # noqa: E402
from recipes.models import MODELS, PAPER_MODELS  # noqa: E402
from recipes.runs import RunSpec  # noqa: E402


def build(name: str, device: str, setting: Setting, cfg: dict):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig
    m, s = MODELS[name], MODELS[name].shape
    if m.arch == "gpt2":
        config = GPT2Config(vocab_size=s["vocab"], n_embd=s["hidden"], n_layer=s["layers"], n_head=s["heads"],
                         n_positions=m.native_context, n_inner=s["intermediate"])
    else:
        config = LlamaConfig(vocab_size=s["vocab"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
                          num_attention_heads=s["heads"], intermediate_size=s["intermediate"],
                          max_position_embeddings=m.native_context)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, torch_dtype=dtype, attn_implementation=setting.attn)
    lora = LoraConfig(r=setting.lora_r, lora_alpha=cfg["lora_alpha"], lora_dropout=cfg["lora_dropout"],
                      target_modules=list(setting.lora_targets),
                      task_type="CAUSAL_LM", fan_in_fan_out=m.arch == "gpt2")
    model = get_peft_model(model, lora)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()  # LoRA weights in fp32, as Axolotl keeps them
    return model


def measure(name: str, seq: int, setting: Setting, cfg: dict, device: str, steps: int) -> float | None:
    model = build(name, device, setting, cfg)
    if setting.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    vocab = MODELS[name].shape["vocab"]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(steps):
        ids = torch.randint(0, vocab, (setting.micro_batch, seq), device=device)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    del model, opt
    if device == "cuda":
        torch.cuda.empty_cache()
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+")
    ap.add_argument("--steps", type=int, default=2)
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    models = args.models or (list(PAPER_MODELS) if device == "cuda" else ["tiny"])
    for name in models:
        for variant in (None, "full"):
            spec = RunSpec.parse(name, "xlsum", "2e-4", variant)
            cfg = recipe_dict(spec, base_model=spec.model.hub_id or "(local)")
            # Liger kernels are Axolotl's to apply; this check runs plain HF, so predict without them.
            setting = replace(recipe_setting(MODELS[name], cfg), liger=False)
            start = time.perf_counter()
            measured = measure(name, spec.sequence_len, setting, cfg, device, args.steps)
            predicted = peak_mib(MODELS[name], spec.sequence_len, setting)
            print(json.dumps({"model": name, "variant": variant or "paper", "seq": spec.sequence_len,
                              "setting": setting.name, "predicted_mib": round(predicted),
                              "measured_mib": None if measured is None else round(measured),
                              "error": None if measured is None else round((predicted - measured) / measured, 4),
                              "seconds": round(time.perf_counter() - start, 1)}), flush=True)


if __name__ == "__main__":
    main()
