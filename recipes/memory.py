"""A memory model of one LoRA training step, calibrated on measured H100 peaks, and the planner built on it.

peak = frozen bf16 weights + LoRA weights, grads and AdamW state (fp32)
     + per-layer activations (all layers without gradient checkpointing; with it, one layer's plus each
       layer's checkpointed input) + eager attention's seq² scores (SDPA keeps none)
     + logits and loss over the vocabulary (Liger's fused linear cross-entropy keeps none) + a constant.
The weights are counted exactly from the shapes; the other terms' constants (bytes per element) are
fitted by least squares on `anchors/h100_lora_step_memory.jsonl` (relative error, non-negative).

Its command-line face is `recipes.plan` (`just plan`, `python -m recipes.plan --model calm2 --seq 1700`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from recipes.models import MODELS, Model

MIB = 2**20
ANCHORS = Path(__file__).parent / "anchors" / "h100_lora_step_memory.jsonl"
ANCHOR_NAMES = {"calm2-7b": "calm2"}  # the anchors' model names -> registry names


@dataclass(frozen=True)
class Setting:
    """What one training step's memory depends on besides the model and the length. The LoRA rank and
    targets have no default here: they come from a recipe (`recipe_setting`) or an anchor row, never from
    a copy of the recipe's default."""
    attn: str = "eager"                 # "eager" keeps seq² attention scores per layer; "sdpa" does not
    gradient_checkpointing: bool = False
    liger: bool = False
    micro_batch: int = 1
    lora_r: int = field(kw_only=True)
    lora_targets: tuple = field(kw_only=True)  # module names; see lora_modules

    @property
    def name(self) -> str:
        parts = [self.attn] + (["GC"] if self.gradient_checkpointing else []) + (["Liger"] if self.liger else [])
        return "+".join(parts)


# The planner's columns: attention and memory switches applied to a recipe's setting (its r, targets, batch).
SWITCHES = {"paper (eager, no GC)": {"attn": "eager", "gradient_checkpointing": False, "liger": False},
            "SDPA, no GC": {"attn": "sdpa", "gradient_checkpointing": False, "liger": False},
            "SDPA+GC": {"attn": "sdpa", "gradient_checkpointing": True, "liger": False},
            "SDPA+GC+Liger": {"attn": "sdpa", "gradient_checkpointing": True, "liger": True}}


def switched(base: Setting, label: str) -> Setting:
    return replace(base, **SWITCHES[label])


def lora_modules(model: Model) -> dict[str, list[tuple[int, int]]]:
    """Per layer: LoRA-targetable module name -> its (in, out) features (GPT-2's c_proj names two modules)."""
    s = model.shape
    h, i = s["hidden"], s["intermediate"]
    if model.arch == "gpt2":  # Conv1D: c_attn (q, k, v fused), attention c_proj, MLP c_fc and c_proj
        return {"c_attn": [(h, 3 * h)], "c_proj": [(h, h), (i, h)], "c_fc": [(h, i)]}
    return {"q_proj": [(h, h)], "k_proj": [(h, h)], "v_proj": [(h, h)], "o_proj": [(h, h)],
            "gate_proj": [(h, i)], "up_proj": [(h, i)], "down_proj": [(i, h)]}


def weight_counts(model: Model, lora_r: int, lora_targets) -> tuple[int, int]:
    """(base parameters, LoRA parameters at rank `lora_r` on `lora_targets`). A target the table of
    `lora_modules` does not know (e.g. lm_head) is not counted."""
    s = model.shape
    h, L, v, i = s["hidden"], s["layers"], s["vocab"], s["intermediate"]
    if model.arch == "gpt2":  # tied embeddings, learned positions, biases; Conv1D c_attn/c_proj/c_fc
        base = v * h + model.native_context * h + L * (4 * h * h + 2 * h * i + 9 * h + i) + 2 * h
    else:  # llama: untied lm_head, q/k/v/o + gate/up/down, RMSNorms
        base = 2 * v * h + L * (4 * h * h + 3 * h * i + 2 * h) + h
    modules = lora_modules(model)
    lora = L * lora_r * sum(a + b for name in set(lora_targets) for a, b in modules.get(name, []))
    return base, lora


def features(model: Model, seq: int, st: Setting) -> np.ndarray:
    """Element counts whose bytes-per-element the calibration fits (see module docstring)."""
    s = model.shape
    h, L, heads, v, i = s["hidden"], s["layers"], s["heads"], s["vocab"], s["intermediate"]
    tokens = st.micro_batch * seq
    gc = st.gradient_checkpointing
    kept = 1 if gc else L
    return np.array([
        0.0 if gc else tokens * L * h,                   # hidden-sized activations of every layer
        0.0 if gc else tokens * L * i,                   # MLP-sized activations of every layer
        tokens * L * h if gc else 0.0,                   # checkpointed layer inputs
        tokens * h if gc else 0.0,                       # one recomputed layer: hidden-sized, with grads
        tokens * i if gc else 0.0,                       # one recomputed layer: MLP-sized, with grads
        st.micro_batch * heads * seq * seq * kept if st.attn == "eager" else 0.0,  # eager attention scores
        0.0 if st.liger else tokens * v,                 # logits and loss (Liger's fused CE keeps none)
        tokens * h if st.liger else 0.0,                 # Liger's fused CE: the hidden-state gradient
        1.0 * MIB,                                       # constant (allocator slack, workspaces)
    ], dtype=float)


def liger_saving(model: Model, seq: int, st: Setting) -> float:
    """Bytes Liger's SwiGLU does not keep: silu(gate) and silu(gate)*up, two bf16 MLP-sized tensors per
    kept layer. Fixed from the kernel's design rather than fitted: only two anchor rows use Liger."""
    if not st.liger:
        return 0.0
    kept = 1 if st.gradient_checkpointing else model.shape["layers"]
    return 4.0 * st.micro_batch * seq * kept * model.shape["intermediate"]


def fixed_bytes(model: Model, setting: Setting) -> float:
    base, lora = weight_counts(model, setting.lora_r, setting.lora_targets)
    return 2.0 * base + 16.0 * lora  # bf16 base; fp32 LoRA weight + grad + 2 AdamW moments


def anchor_rows(path: Path = ANCHORS) -> list[dict]:
    rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    for r in rows:
        r["registry"] = ANCHOR_NAMES.get(r["model"], r["model"])
        model = MODELS[r["registry"]]
        targets = tuple(lora_modules(model)) if r["lora_targets"] == "all-linear" else tuple(r["lora_targets"])
        r["setting"] = Setting(r["attn"], r["gradient_checkpointing"], r["liger"], r["micro_batch"],
                               lora_r=r["lora_r"], lora_targets=targets)
    return rows


def fit(rows: list[dict]) -> np.ndarray:
    """Non-negative bytes-per-element constants minimising the relative error on measured peaks."""
    from scipy.optimize import nnls
    ok = [r for r in rows if r["result"] == "ok"]
    X = np.array([features(MODELS[r["registry"]], r["seq"], r["setting"]) for r in ok])
    y = np.array([r["peak_mib"] * MIB - fixed_bytes(MODELS[r["registry"]], r["setting"])
                  + liger_saving(MODELS[r["registry"]], r["seq"], r["setting"]) for r in ok])
    scale = 1.0 / np.array([r["peak_mib"] * MIB for r in ok])
    coef, _ = nnls(X * scale[:, None], y * scale)
    return coef


@lru_cache(maxsize=1)
def calibration() -> tuple:
    return tuple(fit(anchor_rows()))


def peak_mib(model: Model, seq: int, setting: Setting, coef=None) -> float:
    coef = np.asarray(calibration() if coef is None else coef)
    total = fixed_bytes(model, setting) + features(model, seq, setting) @ coef - liger_saving(model, seq, setting)
    return float(total / MIB)


def longest_fit(model: Model, setting: Setting, cap_mb: int, step: int = 1, limit: int = 1 << 17) -> int:
    """The longest sequence (a multiple of `step`) whose predicted peak fits under `cap_mb` MiB; 0 if none."""
    lo, hi = 0, limit // step
    while lo < hi:  # peak grows with seq: binary search
        mid = (lo + hi + 1) // 2
        if peak_mib(model, mid * step, setting) <= cap_mb:
            lo = mid
        else:
            hi = mid - 1
    return lo * step


def recipe_setting(model: Model, cfg: dict) -> Setting:
    """What the planner models, read from an Axolotl config (after every --set): attention, checkpointing,
    Liger, micro-batch, LoRA rank and targets (`lora_target_linear` means every linear layer)."""
    targets = tuple(cfg.get("lora_target_modules") or ())
    if cfg.get("lora_target_linear"):
        targets = tuple(lora_modules(model))
    return Setting(attn=cfg.get("attn_implementation") or "eager",
                   gradient_checkpointing=bool(cfg.get("gradient_checkpointing")),
                   liger=bool(cfg.get("liger_fused_linear_cross_entropy")),
                   micro_batch=int(cfg.get("micro_batch_size") or 1),
                   lora_r=int(cfg["lora_r"]), lora_targets=targets)


def check_fits(model: Model, cfg: dict) -> str | None:
    """None when the recipe's predicted peak fits its cap, else a one-line reason naming what would fit.
    (The tiny CPU model has no GPU budget to keep.)"""
    cap = cfg.get("vram_cap_mb")
    if model.cpu or not cap:
        return None
    setting = recipe_setting(model, cfg)
    peak = peak_mib(model, int(cfg["sequence_len"]), setting)
    if peak <= cap:
        return None
    fits = longest_fit(model, setting, cap, step=100)
    return (f"{model.name} at sequence_len {cfg['sequence_len']} with {setting.name} (micro-batch "
            f"{setting.micro_batch}, LoRA r={setting.lora_r}) needs ~{peak:,.0f} MiB, over the {cap:,} MB cap; "
            f"this setting fits "
            f"{fits:,} tokens (`just plan {model.name}`; --variant full uses SDPA + checkpointing)")

