"""`tiny`: a Llama-architecture model built locally (random weights, a byte-level BPE tokenizer trained on
the bundled Japanese sample text), so that every command runs on a CPU with no model hub.

Example: `python -m recipes tiny` (prints the folder; built once, then reused).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from jaft.common import follow_umask
from prompts.tasks import HERE as PROMPTS_DIR
from recipes.models import get_model

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def tiny_dir() -> Path:
    return Path(os.environ.get("JAFT_TINY_DIR", ".cache/tiny-model")).resolve()


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


def build(out: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    shape = get_model("tiny").shape
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=shape["vocab"], special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", bos)])
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                     unk_token="<unk>", pad_token="<pad>", model_max_length=1024)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(hf_tok), hidden_size=shape["hidden"],
                         intermediate_size=shape["intermediate"], num_hidden_layers=shape["layers"],
                         num_attention_heads=shape["heads"], num_key_value_heads=shape["heads"],
                         max_position_embeddings=1024, bos_token_id=bos, eos_token_id=hf_tok.eos_token_id,
                         pad_token_id=hf_tok.pad_token_id, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    hf_tok.save_pretrained(out)
    model.save_pretrained(out)


def ensure_tiny() -> Path:
    """The tiny model's folder, building it first if needed (atomically: a temp folder, then rename)."""
    target = tiny_dir()
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tiny-"))
    try:
        build(tmp)
        follow_umask(tmp)  # mkdtemp's folder is private, safetensors' weights 0600: a shared cache is not
        if not (target / "config.json").is_file():
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
