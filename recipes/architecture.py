"""A checkpoint's architecture facts, as its `config.json` publishes them: what the memory planner counts and
what the recipe must respect (grouped-query attention, head size, tied embeddings, biases, q/k norms,
soft-capping, sliding window). One record per model, under `architecture:` in models.yaml.

Example: `python -c "from recipes.models import get_model; print(get_model('qwen3-8b').facts)"`
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The architecture families jaft knows how to count and train (one tiny twin each).
FAMILIES = ("llama", "gpt2", "qwen2", "qwen3", "gemma2")
# RMSNorms per decoder layer: Gemma-2 normalises before and after both attention and MLP.
NORMS_PER_LAYER = {"llama": 2, "qwen2": 2, "qwen3": 2, "gemma2": 4, "gpt2": 2}


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str                    # the config.json read (or the page that shows it)
    revision: str | None = None  # commit of that file, where the page gives one


class Architecture(BaseModel):
    """config.json keys, under their config.json names. `unverified` lists the keys that could not be read
    from the checkpoint's own config.json (taken from the model it was trained from, and said so)."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    model_type: Literal["llama", "gpt2", "qwen2", "qwen3", "gemma2"]
    hidden_size: int = Field(gt=0)
    num_hidden_layers: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_key_value_heads: int | None = Field(default=None, gt=0)  # None: as many as query heads
    head_dim: int | None = Field(default=None, gt=0)             # None: hidden_size / heads
    intermediate_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    max_position_embeddings: int = Field(gt=0)
    tie_word_embeddings: bool = False
    attention_bias: bool = False        # q/k/v (and, for gpt2, every) projection has a bias
    mlp_bias: bool = False
    qk_norm: bool = False               # an RMSNorm over each head's q and k (Qwen3)
    norm: Literal["rms", "layer"] = "rms"
    attn_logit_softcapping: float | None = None
    final_logit_softcapping: float | None = None
    sliding_window: int | None = None   # Gemma-2: every other layer attends to this many tokens only
    source: Source | None = None
    unverified: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self):
        kv = self.kv_heads
        if self.num_attention_heads % kv:
            raise ValueError(f"num_attention_heads {self.num_attention_heads} is not a multiple of "
                             f"num_key_value_heads {kv}")
        unknown = set(self.unverified) - set(type(self).model_fields)
        if unknown:
            raise ValueError(f"unverified names unknown keys: {sorted(unknown)}")
        return self

    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def head_size(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def eager_only(self) -> bool:
        """Attention soft-capping is computed by the eager path only: transformers' SDPA path drops it
        (gemma2's `sdpa_attention_forward` takes no softcap), so training with SDPA changes the model."""
        return self.attn_logit_softcapping is not None


# Axolotl's legacy boolean attention keys and the attention each one selects (axolotl.utils.schemas.enums).
LEGACY_ATTENTION_KEYS = {"xformers_attention": "xformers", "sage_attention": "sage", "flex_attention": "flex_attention",
                         "flash_attention": "flash_attention_2", "sdp_attention": "sdpa", "eager_attention": "eager"}


def attention_refusal(name: str, facts: Architecture, cfg: dict) -> str | None:
    """Why a recipe's attention cannot train this model, or None: soft-capped attention (Gemma-2) is computed
    by the eager path alone, so any other attention (`--set attn_implementation=sdpa`) trains a different
    model."""
    if not facts.eager_only:
        return None
    legacy = [impl for key, impl in LEGACY_ATTENTION_KEYS.items() if cfg.get(key)]
    attn = cfg.get("attn_implementation") or (legacy[0] if legacy else "eager")
    if attn == "eager" and set(legacy) <= {"eager"}:
        return None
    return (f"{name} ({facts.model_type}) trains with attn_implementation eager only: its attention soft-capping "
            f"(attn_logit_softcapping {facts.attn_logit_softcapping:g}) is computed by the eager path alone, and "
            f"{attn if attn != 'eager' else legacy[0]} would drop it; the valid value is eager")


def from_shape(arch: str, shape: dict, native_context: int) -> Architecture:
    """The facts of a paper model whose entry gives only the planner's `shape` (hidden, layers, heads,
    intermediate, vocab): Llama-2 / CALM2 are multi-head, untied, bias-free; llm-jp-13b v1.0 is GPT-2
    (tied embeddings, learned positions, biases everywhere, LayerNorm)."""
    gpt2 = arch == "gpt2"
    return Architecture(model_type=arch, hidden_size=shape["hidden"], num_hidden_layers=shape["layers"],
                        num_attention_heads=shape["heads"], intermediate_size=shape["intermediate"],
                        vocab_size=shape["vocab"], max_position_embeddings=native_context,
                        tie_word_embeddings=gpt2, attention_bias=gpt2, mlp_bias=gpt2,
                        norm="layer" if gpt2 else "rms")
