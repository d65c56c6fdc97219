"""Greedy generation from a base model plus one LoRA adapter at a time (Hugging Face + PEFT by default,
vLLM when asked for and installed). The base model is loaded once per run; adapters are swapped per epoch.

Each output is the model's text and the number of tokens it generated (EOS and padding not counted), so that
an answer which used every allowed token (perhaps cut short) can be told from one the model ended itself."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from jaft.common import UsageError


@dataclass(frozen=True)
class GenSettings:
    max_new_tokens: int
    stop_strings: tuple = ()


    @classmethod
    def of(cls, task) -> "GenSettings":
        """The task's `generate` entry in prompts/tasks.yaml."""
        g = task.generate
        return cls(int(g["max_new_tokens"]), tuple(g.get("stop", ())))


class Generation(NamedTuple):
    text: str
    new_tokens: int


class StopInNewText:
    """Stop a sequence once its *generated* text contains a stop string. (transformers' `stop_strings`
    also matches across the prompt boundary: XL-Sum's prompt ends in \"\"\", so one more quote stopped it.)"""

    def __init__(self, tokenizer, prompt_len: int, stops: tuple, torch_module):
        self.tokenizer, self.prompt_len, self.stops, self.torch = tokenizer, prompt_len, stops, torch_module

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        return self.torch.tensor([any(s in t for s in self.stops) for t in texts], device=input_ids.device)


class HFGenerator:
    def __init__(self, base_model: str, trust_remote_code: bool = False, load_in_4bit: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        from recipes import load_or_explain  # offline, gated, not found: one line
        self.tokenizer = load_or_explain(base_model, lambda: AutoTokenizer.from_pretrained(
            base_model, trust_remote_code=trust_remote_code))
        self.tokenizer.padding_side = "left"  # decoder-only: new tokens must follow every prompt directly
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        from transformers import AutoConfig
        config = AutoConfig.from_pretrained(base_model, trust_remote_code=trust_remote_code)
        # Soft-capped attention (Gemma-2) is computed by the eager path alone: transformers' default SDPA would
        # generate from a different model than the one trained (its recipes say eager).
        attn = {"attn_implementation": "eager"} if getattr(config, "attn_logit_softcapping", None) else {}
        if load_in_4bit:  # a QLoRA run's adapter is evaluated on the 4-bit base it was trained on
            from transformers import BitsAndBytesConfig
            quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                       bnb_4bit_compute_dtype=dtype)
            self.base = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype, quantization_config=quant,
                                                             device_map=self.device,
                                                             trust_remote_code=trust_remote_code, **attn)
        else:
            self.base = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype,
                                                             trust_remote_code=trust_remote_code,
                                                             **attn).to(self.device)
        self.model = None
        self.adapter = None

    def use_adapter(self, checkpoint: str) -> None:
        from peft import PeftModel

        name = f"a{abs(hash(checkpoint)) % 10**8}"
        if self.model is None:
            self.model = PeftModel.from_pretrained(self.base, checkpoint, adapter_name=name)
        else:
            self.model.load_adapter(checkpoint, adapter_name=name)
            self.model.set_adapter(name)
            self.model.delete_adapter(self.adapter)
        self.model.eval()
        self.adapter = name

    def free_memory(self) -> None:
        if self.device == "cuda":
            self.torch.cuda.empty_cache()

    def label_logliks(self, prompts: list[str], labels: tuple) -> list[dict[str, float]]:
        """Each label word's log-likelihood after each prompt: one batched forward per label (lm-eval's
        multiple-choice scoring: the label's tokens are those of prompt + label after the prompt's own)."""
        torch, tok = self.torch, self.tokenizer
        out = [{} for _ in prompts]
        prompt_ids = tok(prompts)["input_ids"]
        for label in labels:
            whole = tok([p + label for p in prompts])["input_ids"]
            # the label's tokens, at the end (at least one: a tokenizer that merges the label into the prompt's
            # last token is scored on that token)
            lengths = [max(1, len(w) - len(p)) for w, p in zip(whole, prompt_ids)]
            width = max(len(w) for w in whole)
            pad = tok.pad_token_id
            ids = torch.tensor([[pad] * (width - len(w)) + w for w in whole], device=self.device)
            mask = torch.tensor([[0] * (width - len(w)) + [1] * len(w) for w in whole], device=self.device)
            # positions count from each row's first real token, as generate() does: left padding must not
            # shift absolute position embeddings (GPT-2)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            keep = max(lengths) + 1  # only the last positions' logits: a 150k vocabulary over a long prompt
            inputs = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
            with torch.inference_mode():
                try:
                    logits = self.model(**inputs, logits_to_keep=keep).logits
                except TypeError:  # an architecture without logits_to_keep
                    logits = self.model(**inputs).logits
            logprobs = torch.log_softmax(logits[:, -keep:, :].float(), dim=-1)
            for i, n in enumerate(lengths):
                targets = ids[i, width - n:]
                # position t predicts token t + 1: the label's n tokens are predicted by the n before them
                picked = logprobs[i, keep - n - 1: keep - 1].gather(-1, targets[:, None])
                out[i][label] = float(picked.sum())
        return out

    def generate(self, prompts: list[str], settings: GenSettings) -> list[Generation]:
        tok = self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True).to(self.device)
        extra = {}
        if settings.stop_strings:
            from transformers import StoppingCriteriaList
            stop = StopInNewText(tok, enc["input_ids"].shape[1], settings.stop_strings, self.torch)
            extra = {"stopping_criteria": StoppingCriteriaList([stop])}
        with self.torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=settings.max_new_tokens, do_sample=False,
                                      temperature=None, top_p=None, top_k=None,
                                      pad_token_id=tok.pad_token_id, **extra)
        outs = []
        for row in out[:, enc["input_ids"].shape[1]:].tolist():
            if tok.eos_token_id in row:  # keep the text up to EOS; padding after it is not model text
                row = row[: row.index(tok.eos_token_id)]
            row = [t for t in row if t != tok.pad_token_id]  # a row stopped by a stop string is padded
            outs.append(Generation(tok.decode(row, skip_special_tokens=False), len(row)))
        return outs


class VLLMGenerator:  # pragma: no cover - needs a GPU and vLLM, which no extra installs (docs/gpu.md)
    def __init__(self, base_model: str, trust_remote_code: bool = False, load_in_4bit: bool = False,
                 max_lora_rank: int = 16):
        try:
            from vllm import LLM
        except ImportError:
            raise UsageError("backend 'vllm' is not installed (it cannot share Axolotl 0.19.0's environment: "
                             "docs/gpu.md); use --backend hf")
        self.llm = LLM(model=base_model, enable_lora=True, max_lora_rank=max_lora_rank,
                       trust_remote_code=trust_remote_code,
                       **({"quantization": "bitsandbytes"} if load_in_4bit else {}))  # QLoRA: 4-bit base
        self.tokenizer = self.llm.get_tokenizer()
        self.request = None

    def free_memory(self) -> None:
        pass  # vLLM manages its own memory

    def use_adapter(self, checkpoint: str) -> None:
        from vllm.lora.request import LoRARequest
        self.request = LoRARequest(checkpoint, abs(hash(checkpoint)) % 10**8 + 1, checkpoint)

    def generate(self, prompts: list[str], settings: GenSettings) -> list[Generation]:
        from vllm import SamplingParams
        params = SamplingParams(temperature=0.0, max_tokens=settings.max_new_tokens,
                                stop=list(settings.stop_strings), include_stop_str_in_output=True)
        outs = self.llm.generate(prompts, params, lora_request=self.request, use_tqdm=False)
        eos = self.tokenizer.eos_token_id
        gens = []
        for o in outs:
            ids = list(o.outputs[0].token_ids)
            if ids and ids[-1] == eos:  # vLLM keeps the EOS id in token_ids, not in the text
                ids = ids[:-1]
            gens.append(Generation(o.outputs[0].text, len(ids)))
        return gens


BACKENDS = {"hf": HFGenerator, "vllm": VLLMGenerator}
