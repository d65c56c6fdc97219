"""A memory model of one LoRA training step, calibrated on measured H100 peaks, and the planner built on it.

peak = frozen weights (bf16; QLoRA: NF4 linear weights + the largest one dequantised)
     + LoRA weights, grads and AdamW state (fp32)
     + per-layer activations (all layers without gradient checkpointing; with it, one layer's plus each
       layer's checkpointed input) + eager attention's seq² scores (SDPA keeps none)
     + logits and loss over the vocabulary (Liger's fused linear cross-entropy keeps none) + a constant
     + Gemma-2's soft-capping tanh outputs, and the attention tensors whose width is not the hidden size
       (grouped-query k/v, a wider q, Qwen3's q/k norms), both fixed from the code.
The weights are counted exactly from each model's architecture facts (recipes/architecture.py: grouped-
query attention, head size, tied embeddings, biases, q/k norms); the other terms' constants (bytes per
element) are fitted by least squares on `anchors/h100_lora_step_memory.jsonl` (relative error,
non-negative). Those anchors are the paper's four models in bf16 LoRA: a prediction for any other
architecture, or for QLoRA, is `extrapolated`.

Its command-line face is `recipes.plan` (`just plan`, and one prediction: `just plan calm2 --seq 1700`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from recipes.architecture import NORMS_PER_LAYER
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
    load_in_4bit: bool = field(default=False, kw_only=True)  # QLoRA: NF4 base weights, bf16 compute

    @property
    def name(self) -> str:
        parts = [self.attn] + (["GC"] if self.gradient_checkpointing else []) + (["Liger"] if self.liger else [])
        return "+".join(parts + (["QLoRA"] if self.load_in_4bit else []))


# The planner's columns: attention and memory switches applied to a recipe's setting (its r, targets, batch).
SWITCHES = {"paper (eager, no GC)": {"attn": "eager", "gradient_checkpointing": False, "liger": False},
            "SDPA, no GC": {"attn": "sdpa", "gradient_checkpointing": False, "liger": False},
            "SDPA+GC": {"attn": "sdpa", "gradient_checkpointing": True, "liger": False},
            "SDPA+GC+Liger": {"attn": "sdpa", "gradient_checkpointing": True, "liger": True}}


def switched(base: Setting, label: str) -> Setting:
    return replace(base, **SWITCHES[label])


def lora_modules(model: Model) -> dict[str, list[tuple[int, int]]]:
    """Per layer: LoRA-targetable module name -> its (in, out) features (GPT-2's c_proj names two modules).
    Grouped-query attention makes k/v narrower (kv heads × head size); a head size other than hidden/heads
    (Qwen3, Gemma-2) widens q and o."""
    a = model.facts
    h, i = a.hidden_size, a.intermediate_size
    if a.model_type == "gpt2":  # Conv1D: c_attn (q, k, v fused), attention c_proj, MLP c_fc and c_proj
        return {"c_attn": [(h, 3 * h)], "c_proj": [(h, h), (i, h)], "c_fc": [(h, i)]}
    q, kv = a.num_attention_heads * a.head_size, a.kv_heads * a.head_size
    return {"q_proj": [(h, q)], "k_proj": [(h, kv)], "v_proj": [(h, kv)], "o_proj": [(q, h)],
            "gate_proj": [(h, i)], "up_proj": [(h, i)], "down_proj": [(i, h)]}


def weight_counts(model: Model, lora_r: int, lora_targets) -> tuple[int, int]:
    """(base parameters, LoRA parameters at rank `lora_r` on `lora_targets`). A target the table of
    `lora_modules` does not know (e.g. lm_head) is not counted."""
    base = sum(quantizable_params(model)) + other_params(model)
    modules = lora_modules(model)
    lora = model.facts.num_hidden_layers * lora_r * sum(a + b for name in set(lora_targets)
                                                        for a, b in modules.get(name, []))
    return base, lora


def quantizable_params(model: Model) -> tuple[int, int]:
    """(weights, biases) of the decoder layers' linear projections: what QLoRA stores in 4 bits (the
    weights) beside their biases (kept in bf16)."""
    a = model.facts
    h, i, L = a.hidden_size, a.intermediate_size, a.num_hidden_layers
    if a.model_type == "gpt2":  # c_attn 3h², attn c_proj h², c_fc + mlp c_proj 2hi; biases 3h + h + i + h
        return L * (4 * h * h + 2 * h * i), L * (5 * h + i)
    weights = L * sum(x * y for shapes in lora_modules(model).values() for x, y in shapes)
    q, kv = a.num_attention_heads * a.head_size, a.kv_heads * a.head_size
    biases = (q + 2 * kv if a.attention_bias else 0) + (2 * i + h if a.mlp_bias else 0)
    return weights, L * biases


def other_params(model: Model) -> int:
    """Embeddings, the untied output head, learned positions and every norm: never quantised."""
    a = model.facts
    h, v, L = a.hidden_size, a.vocab_size, a.num_hidden_layers
    emb = v * h * (1 if a.tie_word_embeddings else 2)
    if a.model_type == "gpt2":  # learned positions; two LayerNorms (weight + bias) per layer and a final one
        return emb + a.max_position_embeddings * h + L * 4 * h + 2 * h
    norms = L * NORMS_PER_LAYER[a.model_type] * h + h + (L * 2 * a.head_size if a.qk_norm else 0)
    return emb + norms


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


def softcap_bytes(model: Model, seq: int, st: Setting) -> float:
    """What Gemma-2's soft-capping keeps for the backward pass, fixed from the code rather than fitted (no
    anchor row has it): tanh's bf16 output over the logits, and over each kept layer's eager attention
    scores."""
    a = model.facts
    kept = 1 if st.gradient_checkpointing else a.num_hidden_layers
    total = 0.0
    if a.final_logit_softcapping and not st.liger:
        total += 2.0 * st.micro_batch * seq * a.vocab_size
    if a.attn_logit_softcapping and st.attn == "eager":
        total += 2.0 * st.micro_batch * a.num_attention_heads * seq * seq * kept
    return total


def attention_width_bytes(model: Model, seq: int, st: Setting) -> float:
    """What the attention keeps for the backward pass at a width other than the hidden size, fixed from the
    code rather than fitted: the fit counts every per-layer activation at hidden width (the anchors' models
    are multi-head, head size hidden/heads, so q, k and v are all hidden-wide); grouped-query attention
    (narrower k/v) and a head size other than hidden/heads (Gemma-2's 16 × 256 = 4,096 > 3,584) change
    those widths, and Qwen3's q/k norms keep more. Zero for a multi-head model with head size hidden/heads.

    Per token and kept layer, in bytes (bf16 = 2; transformers 5.x attention, PEFT LoRA under bf16
    autocast):
    - q after RoPE (2) and o_proj's LoRA input: its dropout mask (1) and the bf16 copy lora_A keeps (2),
      at q's width (heads × head size); o_proj's frozen base weight keeps no input;
    - eager: k and v repeated to q's width (repeat_kv) and kept by the two matmuls (2 + 2);
    - SDPA: its output (2, q's width) and k, v (2 + 2): at k/v's width at micro-batch 1 (no padding, no
      mask: transformers passes enable_gqa), repeated to q's width at larger micro-batches (padding needs a
      mask, and a mask means repeat_kv);
    - Qwen3's q/k RMSNorms keep their fp32 input (4, at q's and at k/v's width)."""
    a = model.facts
    if a.model_type == "gpt2":  # fused c_attn, multi-head: every width is hidden
        return 0.0
    h, q, kv = a.hidden_size, a.num_attention_heads * a.head_size, a.kv_heads * a.head_size
    if st.attn == "eager" or st.micro_batch > 1:
        extra = (9 if st.attn == "eager" else 11) * (q - h)
    else:
        extra = 7 * (q - h) + 4 * (kv - h)
    if a.qk_norm:
        extra += 4 * (q + kv)
    kept = 1 if st.gradient_checkpointing else a.num_hidden_layers
    return float(extra * st.micro_batch * seq * kept)


def liger_saving(model: Model, seq: int, st: Setting) -> float:
    """Bytes Liger's SwiGLU does not keep: silu(gate) and silu(gate)*up, two bf16 MLP-sized tensors per
    kept layer. Fixed from the kernel's design rather than fitted: only two anchor rows use Liger."""
    if not st.liger:
        return 0.0
    kept = 1 if st.gradient_checkpointing else model.shape["layers"]
    return 4.0 * st.micro_batch * seq * kept * model.shape["intermediate"]


# NF4 with double quantisation (bitsandbytes, QLoRA paper): 4 bits a weight, one 8-bit absmax per block of
# 64 weights, and one fp32 absmax per 256 of those blocks.
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)


def frozen_bytes(model: Model, load_in_4bit: bool = False) -> float:
    """The frozen base weights: bf16, or NF4 for the layers' linear weights (embeddings, output head,
    norms and biases stay bf16, as bitsandbytes leaves them)."""
    if not load_in_4bit:
        return 2.0 * (sum(quantizable_params(model)) + other_params(model))
    weights, biases = quantizable_params(model)
    return NF4_BYTES * weights + 2.0 * (biases + other_params(model))


def dequant_workspace(model: Model) -> float:
    """QLoRA computes in bf16: each 4-bit matrix is dequantised when used, the largest one at a time."""
    return 2.0 * max(x * y for shapes in lora_modules(model).values() for x, y in shapes)


def fixed_bytes(model: Model, setting: Setting) -> float:
    _, lora = weight_counts(model, setting.lora_r, setting.lora_targets)
    frozen = frozen_bytes(model, setting.load_in_4bit)
    if setting.load_in_4bit:
        frozen += dequant_workspace(model)
    return frozen + 16.0 * lora  # fp32 LoRA weight + grad + 2 AdamW moments


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
                  + liger_saving(MODELS[r["registry"]], r["seq"], r["setting"])
                  - attention_width_bytes(MODELS[r["registry"]], r["seq"], r["setting"]) for r in ok])
    scale = 1.0 / np.array([r["peak_mib"] * MIB for r in ok])
    coef, _ = nnls(X * scale[:, None], y * scale)
    return coef


@lru_cache(maxsize=1)
def calibration() -> tuple:
    return tuple(fit(anchor_rows()))


def peak_mib(model: Model, seq: int, setting: Setting, coef=None) -> float:
    coef = np.asarray(calibration() if coef is None else coef)
    total = (fixed_bytes(model, setting) + features(model, seq, setting) @ coef - liger_saving(model, seq, setting)
             + softcap_bytes(model, seq, setting) + attention_width_bytes(model, seq, setting))
    return float(total / MIB)


@lru_cache(maxsize=1)
def measured_models() -> frozenset:
    return frozenset(r["registry"] for r in anchor_rows())


def extrapolated(model: Model, setting: Setting) -> bool:
    """True when no measured row backs the prediction: an architecture without anchor rows, or QLoRA
    (every anchor is bf16 LoRA)."""
    return model.name not in measured_models() or setting.load_in_4bit


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


# ---- generation (`just eval`): what the inference length is sized by ----------------------------------------

def infer_peak_mib(model: Model, prompt_len: int, new_tokens: int, *, batch: int | None = None,
                   load_in_4bit: bool | None = None, lora_r: int = 16) -> float:
    """The peak of eval's HF generation (eval/generate.py) for `batch` prompts padded to `prompt_len` tokens,
    each generating up to `new_tokens`: counted from the code, not fitted (no inference peak has been
    measured). Base weights as trained (bf16, or NF4 for an entry whose plain recipe is QLoRA); the LoRA
    adapter in fp32 (PEFT casts it up beside a bf16 base); the bf16 KV cache, 2 × layers × k/v width per
    token; the largest transient of one layer's prefill (no autograd: one layer's tensors at a time): the
    attention phase (the residual and its norm, q, k, v, k and v repeated for the padded batch's mask, the
    output and its contiguous copy) or the MLP phase (residual, norm, act(gate), up, their product),
    whichever is wider, plus eager attention's scores and their soft-capped and softmaxed copies
    (Gemma-2, eager at inference as in training: 8 bytes per score); the last positions' logits (4
    positions, bf16 + fp32 copies)."""
    from recipes.models import EVAL_BATCH
    batch = batch or EVAL_BATCH
    quant = model.adapter == "qlora" if load_in_4bit is None else load_in_4bit
    a = model.facts
    h, i, L = a.hidden_size, a.intermediate_size, a.num_hidden_layers
    q, kv = (h, h) if a.model_type == "gpt2" else (a.num_attention_heads * a.head_size, a.kv_heads * a.head_size)
    weights = frozen_bytes(model, quant) + (dequant_workspace(model) if quant else 0.0)
    adapter = 4.0 * weight_counts(model, lora_r, model.lora_targets)[1]
    cache = 2.0 * 2 * L * kv * batch * (prompt_len + new_tokens)
    phase = max(2 * h + 5 * q + 2 * kv, 2 * h + 3 * i)
    transient = 2.0 * batch * prompt_len * phase
    if a.eager_only:
        transient += 8.0 * batch * a.num_attention_heads * prompt_len ** 2
    logits = 10.0 * batch * 4 * a.vocab_size
    return float((weights + adapter + cache + transient + logits) / MIB)


def answer_tokens() -> int:
    """The longest answer any task generates (its `max_new_tokens`: XL-Sum's 256)."""
    from prompts.tasks import TASKS
    return max(int(t.generate.get("max_new_tokens", 0)) for t in TASKS.values())


def longest_generation_len(model: Model, cap_mb: int, load_in_4bit: bool | None = None, step: int = 100,
                           limit: int = 1 << 17) -> int:
    """The longest prompt length (a multiple of `step`, at most the native context) that eval generates
    under `cap_mb` at its default batch, with every task's longest answer, on the base as the run trained
    it (`load_in_4bit`; None: the entry's plain recipe); 0 if none. A model's `infer_len` is this at the
    paper's 46,000 MB (tests/test_models_successors.py recomputes it)."""
    new = answer_tokens()
    if infer_peak_mib(model, model.native_context, new, load_in_4bit=load_in_4bit) <= cap_mb:
        return model.native_context
    lo, hi = 0, min(limit, model.native_context) // step
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if infer_peak_mib(model, mid * step, new, load_in_4bit=load_in_4bit) <= cap_mb:
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
                   lora_r=int(cfg["lora_r"]), lora_targets=targets, load_in_4bit=bool(cfg.get("load_in_4bit")))


def check_fits(model: Model, cfg: dict) -> str | None:
    """None when the recipe's predicted peak fits its cap, else a one-line reason (what fits instead is
    `what_fits`'s answer). (The tiny CPU model has no GPU budget to keep.)"""
    cap = cfg.get("vram_cap_mb")
    if model.cpu or not cap:
        return None
    setting = recipe_setting(model, cfg)
    frozen = frozen_bytes(model, setting.load_in_4bit) / MIB
    if frozen > cap and not setting.load_in_4bit:
        return f"{model.name}'s frozen bf16 weights alone need ~{frozen:,.0f} MiB, over the {cap:,} MB cap"
    peak = peak_mib(model, int(cfg["sequence_len"]), setting)
    if peak <= cap:
        return None
    fits = longest_fit(model, setting, cap, step=100)
    return (f"{model.name} at sequence_len {cfg['sequence_len']} with {setting.name} (micro-batch "
            f"{setting.micro_batch}, LoRA r={setting.lora_r}) needs ~{peak:,.0f} MiB, over the {cap:,} MB cap "
            f"(this setting fits {fits:,} tokens)")


# What `what_fits` may add to a variant: SDPA with gradient checkpointing (the planner's "SDPA+GC" column).
SAVING_SETS = ("attn_implementation=sdpa", "gradient_checkpointing=true")


def what_fits(spec, build) -> str:
    """The planner's advice for a run whose recipe does not fit its cap: the first few other recipes it
    predicts to fit, each as the options that make it (never the run's own), found in this order: the
    plain recipe, `full`, the other adapter (`--variant qlora`, or `--variant lora` where the plain recipe is
    QLoRA), each of those with SDPA and gradient checkpointing set; and only if none of them fits, a shorter
    `sequence_len`. `build(spec, sets)` renders a variant's recipe with the run's own options and `--set`s
    plus `sets`."""
    from dataclasses import replace as with_variant
    model = spec.model
    other = "lora" if model.adapter == "qlora" else "qlora"
    bases = [None, "full", other]
    tried, found, shorter = set(), [], []
    cap = build(spec, ())["vram_cap_mb"]
    for sets in ((), SAVING_SETS):
        for variant in bases:
            if model.facts.eager_only and sets:
                sets = SAVING_SETS[1:]  # soft-capped attention stays eager
            cfg = build(with_variant(spec, variant=variant), sets)
            setting = recipe_setting(model, cfg)
            key = (cfg["sequence_len"], setting)
            if (variant == spec.variant and not sets) or key in tried:
                continue  # the run's own recipe, or one already tried under another spelling
            tried.add(key)
            flags = " ".join([f"--variant {variant}"] * bool(variant) + [f"--set {x}" for x in sets])
            flags = flags or "without --variant"
            if check_fits(model, cfg) is None:
                peak = peak_mib(model, int(cfg["sequence_len"]), setting)
                found.append(f"{flags} ({int(cfg['sequence_len']):,} tokens, ~{peak:,.0f} MiB)")
            elif variant != "full" and frozen_bytes(model, setting.load_in_4bit) / MIB <= cap:
                n = longest_fit(model, setting, cap, step=100)
                if n >= 100:
                    shorter.append((n, f"{flags} --set sequence_len={n} (~{peak_mib(model, n, setting):,.0f} MiB)"))
    where = f"`just plan {model.name} --cap-mb {cap}`"
    if found:
        return f"what fits: {'; '.join(found[:3])} ({where})"
    if shorter:
        return f"what fits, shorter: {'; '.join(text for _, text in sorted(shorter, reverse=True)[:2])} ({where})"
    return f"no recipe of {model.name} fits a {cap:,} MB cap ({where})"
