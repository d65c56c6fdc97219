"""The paper's models with random weights at their exact shapes (recipes/models.yaml), which is all that
memory and speed depend on: no hub is needed, and none is reachable on the lent GPU machine.

A model is written as a hub snapshot into a private Hugging Face cache (HF_HUB_CACHE), so that the recipe,
Axolotl and eval load it by its real hub id, offline, exactly as a user's run loads the downloaded model.
Its tokenizer is tiny's byte-level BPE (trained on the bundled samples) with the vocabulary filled up to the
model's size by tokens no text produces, so no embedding is resized.

Example: `python -m bench.random_models calm2 --cache /tmp/hf/hub`   (bf16 on a GPU; fp32 on a CPU)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

from recipes import ensure_tiny, get_model
from recipes.models import Model

# The snapshot's revision: a fixed name, so that a second build replaces the first.
REVISION = hashlib.sha1(b"jaft random weights").hexdigest()
SPECIAL_IDS = {"bos": 1, "eos": 2, "pad": 3}  # tiny's tokenizer: <unk> <s> </s> <pad>


def config_for(model: Model, shape: dict | None = None):
    """A transformers config of the registry's architecture and shape (`shape` overrides it, for tests).
    Successors and twins follow their architecture facts: GQA, head size, tied embeddings, soft-capping."""
    from transformers import GPT2Config, LlamaConfig
    s = {**model.shape, **(shape or {})}
    ids = {"bos_token_id": SPECIAL_IDS["bos"], "eos_token_id": SPECIAL_IDS["eos"], "pad_token_id": SPECIAL_IDS["pad"]}
    if model.architecture is not None:
        return facts_config(model, s, ids)
    if model.arch == "gpt2":  # llm-jp-13b: GPT-2 blocks (Conv1D), tied embeddings, learned positions
        return GPT2Config(vocab_size=s["vocab"], n_embd=s["hidden"], n_layer=s["layers"], n_head=s["heads"],
                          n_inner=s["intermediate"], n_positions=model.native_context,
                          tie_word_embeddings=True, **ids)
    if model.arch == "llama":  # Llama-2 and CALM2: multi-head attention, untied head
        return LlamaConfig(vocab_size=s["vocab"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
                           num_attention_heads=s["heads"], num_key_value_heads=s["heads"],
                           intermediate_size=s["intermediate"], max_position_embeddings=model.native_context,
                           tie_word_embeddings=False, **ids)
    raise ValueError(f"no random builder for architecture '{model.arch}' (llama, gpt2)")


def facts_config(model: Model, s: dict, ids: dict):
    """The config of an entry with architecture facts (any family jaft knows), at shape `s`."""
    import transformers
    a = model.facts
    common = dict(vocab_size=s["vocab"], tie_word_embeddings=a.tie_word_embeddings, **ids)
    if a.model_type == "gpt2":
        return transformers.GPT2Config(n_embd=s["hidden"], n_layer=s["layers"], n_head=s["heads"],
                                       n_inner=s["intermediate"], n_positions=a.max_position_embeddings, **common)
    kv = a.kv_heads if s["heads"] == a.num_attention_heads else s["heads"]  # a test's smaller shape: MHA
    kw = dict(hidden_size=s["hidden"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
              num_key_value_heads=kv, intermediate_size=s["intermediate"],
              max_position_embeddings=a.max_position_embeddings, **common)
    if a.model_type == "llama":
        return transformers.LlamaConfig(**kw)
    if a.model_type == "qwen2":
        return transformers.Qwen2Config(**kw)
    head = a.head_size if s["hidden"] == a.hidden_size else s["hidden"] // s["heads"]
    if a.model_type == "qwen3":
        return transformers.Qwen3Config(head_dim=head, **kw)
    return transformers.Gemma2Config(head_dim=head, query_pre_attn_scalar=head, sliding_window=a.sliding_window,
                                     attn_logit_softcapping=a.attn_logit_softcapping,
                                     final_logit_softcapping=a.final_logit_softcapping, **kw)


def tokenizer_for(vocab: int, max_length: int):
    """tiny's tokenizer with its vocabulary filled up to `vocab` entries by unreachable tokens."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    spec = json.loads((ensure_tiny() / "tokenizer.json").read_text(encoding="utf-8"))
    table = spec["model"]["vocab"]
    if len(table) > vocab:
        raise ValueError(f"vocabulary of {vocab} is smaller than the base tokenizer's {len(table)}")
    # BPE only emits tokens its merges build; these have no merge, so no text ever turns into them.
    table.update({f"<unused{i}>": i for i in range(len(table), vocab)})
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), bos_token="<s>",
                                  eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                                  model_max_length=max_length)
    assert len(tok) == vocab and tok.pad_token_id == SPECIAL_IDS["pad"] and tok.eos_token_id == SPECIAL_IDS["eos"]
    return tok


def snapshot_dir(cache: Path, hub_id: str) -> Path:
    return Path(cache) / ("models--" + hub_id.replace("/", "--")) / "snapshots" / REVISION


def build(name: str, cache: Path, *, device: str = "cpu", shape: dict | None = None) -> Path:
    """Write model `name` with random weights (bf16 on CUDA, fp32 on CPU) as the hub snapshot of its hub id
    in `cache`; returns the snapshot folder. `shape` overrides the registry's (tests build small ones)."""
    import torch
    from transformers import AutoModelForCausalLM
    model = get_model(name)
    if not model.hub_id:
        raise ValueError(f"model '{name}' has no hub id to stand in for")
    config = config_for(model, shape)
    snap = snapshot_dir(cache, model.hub_id)
    shutil.rmtree(snap, ignore_errors=True)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):  # initialised where it runs: a 13B model in seconds on a GPU
        net = AutoModelForCausalLM.from_config(config, dtype=dtype)
    net.save_pretrained(snap)
    tokenizer_for(config.vocab_size, model.native_context).save_pretrained(snap)
    del net
    if device == "cuda":
        torch.cuda.empty_cache()
    refs = snap.parent.parent / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / "main").write_text(REVISION)
    return snap


def remove(name: str, cache: Path) -> None:
    """Delete a built model (the GPU machine's disk holds one 13B model at a time, with room to spare)."""
    shutil.rmtree(snapshot_dir(cache, get_model(name).hub_id).parent.parent, ignore_errors=True)


def main() -> None:
    import torch
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("HF_HUB_CACHE", ".cache/random-hub")))
    args = ap.parse_args()
    for name in args.models:
        print(build(name, args.cache, device="cuda" if torch.cuda.is_available() else "cpu"))


if __name__ == "__main__":
    main()
