"""`tiny`: a Llama-architecture model built locally (random weights, a byte-level BPE tokenizer trained on
the bundled Japanese sample text), so that every command runs on a CPU with no model hub. Its twins
`tiny-qwen3`, `tiny-qwen2`, `tiny-gemma2`, `tiny-gpt2` are built the same way from their registry entry's
architecture facts, with their family tokenizer's special-token conventions (FAMILY_TOKENS).

Example: `python -m recipes tiny` (prints the folder; built once, then reused).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

from jaft.common import follow_umask
from prompts.tasks import HERE as PROMPTS_DIR
from recipes.models import get_model

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


# Per family: the special tokens (in id order), BOS / EOS / pad, and whether BOS starts every encoding, as
# the family's released tokenizers do: Llama and Gemma prepend BOS; Qwen has no BOS and pads with its EOS;
# llm-jp v1.0 (GPT-2) ends documents with <EOD|LLM-jp> and adds nothing in front.
FAMILY_TOKENS = {
    "qwen2": {"specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "bos": None,
              "eos": "<|endoftext|>", "pad": "<|endoftext|>", "unk": None, "add_bos": False},
    "gemma2": {"specials": ["<pad>", "<eos>", "<bos>", "<unk>"], "bos": "<bos>", "eos": "<eos>",
               "pad": "<pad>", "unk": "<unk>", "add_bos": True},
    "gpt2": {"specials": ["<unk|LLM-jp>", "<s|LLM-jp>", "</s|LLM-jp>", "<mask|LLM-jp>", "<pad|LLM-jp>",
                          "<CLS|LLM-jp>", "<SEP|LLM-jp>", "<EOD|LLM-jp>"],
             "bos": "<EOD|LLM-jp>", "eos": "<EOD|LLM-jp>", "pad": "<pad|LLM-jp>", "unk": "<unk|LLM-jp>",
             "add_bos": False},
}
FAMILY_TOKENS["qwen3"] = FAMILY_TOKENS["qwen2"]


def tiny_dir(name: str = "tiny") -> Path:
    """`tiny` lives in JAFT_TINY_DIR (default .cache/tiny-model); a twin beside it, in <name>-model."""
    from jaft.settings import current
    base = current().tiny_dir
    return base if name == "tiny" else base.parent / f"{name}-model"


def _corpus() -> list[str]:
    """Every string in the bundled samples and templates, plus the label words."""
    texts = [p.read_text(encoding="utf-8") for p in (PROMPTS_DIR / "templates").glob("*.txt")]
    texts += ["positive negative"] * 20
    for path in sorted((PROMPTS_DIR / "samples").glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            texts += [v for v in _strings(json.loads(line))]
    return texts


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def build(out: Path, name: str = "tiny") -> None:
    if name != "tiny":
        return build_twin(out, name)
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    a = get_model("tiny").facts
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=a.vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", bos)])
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                     unk_token="<unk>", pad_token="<pad>", model_max_length=1024)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(hf_tok), hidden_size=a.hidden_size,
                         intermediate_size=a.intermediate_size, num_hidden_layers=a.num_hidden_layers,
                         num_attention_heads=a.num_attention_heads, num_key_value_heads=a.kv_heads,
                         max_position_embeddings=a.max_position_embeddings, bos_token_id=bos,
                         eos_token_id=hf_tok.eos_token_id, pad_token_id=hf_tok.pad_token_id,
                         tie_word_embeddings=a.tie_word_embeddings)
    model = LlamaForCausalLM(config)
    hf_tok.save_pretrained(out)
    model.save_pretrained(out)


def _family_tokenizer(family: str, vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    conv = FAMILY_TOKENS[family]
    tok = Tokenizer(models.BPE(unk_token=conv["unk"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=conv["specials"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)
    if conv["add_bos"]:
        bos = conv["bos"]
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    names = {k: conv[k] for k in ("bos", "eos", "pad", "unk") if conv[k]}
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=1024,
                                   **{f"{k}_token": v for k, v in names.items()})


def build_twin(out: Path, name: str) -> None:
    """A twin from its entry's architecture facts: every switch of the family's code paths kept."""
    import torch
    import transformers

    a = get_model(name).facts
    hf_tok = _family_tokenizer(a.model_type, a.vocab_size)
    ids = {"bos_token_id": hf_tok.bos_token_id, "eos_token_id": hf_tok.eos_token_id,
           "pad_token_id": hf_tok.pad_token_id}
    common = dict(vocab_size=len(hf_tok), tie_word_embeddings=a.tie_word_embeddings, **ids)
    if a.model_type == "gpt2":
        config = transformers.GPT2Config(n_embd=a.hidden_size, n_layer=a.num_hidden_layers,
                                         n_head=a.num_attention_heads, n_inner=a.intermediate_size,
                                         n_positions=a.max_position_embeddings, **common)
    else:
        kwargs = dict(hidden_size=a.hidden_size, num_hidden_layers=a.num_hidden_layers,
                      num_attention_heads=a.num_attention_heads, num_key_value_heads=a.kv_heads,
                      intermediate_size=a.intermediate_size, max_position_embeddings=a.max_position_embeddings,
                      **common)
        if a.model_type in ("qwen3", "gemma2"):
            kwargs["head_dim"] = a.head_size
        if a.model_type == "gemma2":
            kwargs.update(attn_logit_softcapping=a.attn_logit_softcapping, sliding_window=a.sliding_window,
                          final_logit_softcapping=a.final_logit_softcapping, query_pre_attn_scalar=a.head_size)
        cls = {"qwen2": transformers.Qwen2Config, "qwen3": transformers.Qwen3Config,
               "gemma2": transformers.Gemma2Config}[a.model_type]
        config = cls(**kwargs)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    hf_tok.save_pretrained(out)
    model.save_pretrained(out)


# Beside each build: what it was built from. A build whose record differs (an older shape: `tiny` had 4 kv
# heads before it had 2) or is missing is rebuilt, never reused. Bump BUILD_VERSION when build() changes.
BUILD_FILE = "jaft-build.json"
BUILD_VERSION = 2


def build_key(name: str) -> dict:
    """What a build depends on: the entry's architecture facts, the tokenizer's conventions, the builder."""
    a = get_model(name).facts
    tokens = SPECIALS if name == "tiny" else FAMILY_TOKENS[a.model_type]
    return json.loads(json.dumps({"name": name, "version": BUILD_VERSION, "tokens": tokens,
                                  "facts": a.model_dump(mode="json", exclude={"source", "unverified"})}))


def is_current(target: Path, name: str) -> bool:
    try:
        return (target / "config.json").is_file() and \
            json.loads((target / BUILD_FILE).read_text(encoding="utf-8")) == build_key(name)
    except (OSError, ValueError):
        return False


def ensure_tiny(name: str = "tiny") -> Path:
    """The tiny model's (or a twin's) folder, building it first if needed (atomically: a temp folder, then
    rename); a build made from other facts (BUILD_FILE) is replaced. Two processes asking at once (a
    `--jobs 2` sweep, parallel tests) build it once: the second waits on a lock beside the folder, then finds
    it built."""
    target = tiny_dir(name)
    if is_current(target, name):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target.parent / f".{target.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocking; the kernel drops it if this process dies
        if is_current(target, name):
            return target
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tiny-"))
        try:
            build(tmp, name)
            (tmp / BUILD_FILE).write_text(json.dumps(build_key(name), indent=1) + "\n", encoding="utf-8")
            follow_umask(tmp)  # mkdtemp's folder is private, safetensors' weights 0600: a shared cache is not
            shutil.rmtree(target, ignore_errors=True)  # incomplete (no config.json) or built from other facts
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        os.close(fd)
    return target
