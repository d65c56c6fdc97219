"""Fit rows into a token budget by cutting the task's cut field (article, review, context) at a token
boundary and rendering again: the template, the title, the question and the response are never cut."""
from __future__ import annotations

from tqdm import tqdm

from prompts.tasks import Task


def train_length(tokenizer, prompt: str, response: str) -> int:
    """Tokens Axolotl trains on: prompt with the tokenizer's specials, then response, then EOS."""
    return (len(tokenizer(prompt)["input_ids"])
            + len(tokenizer(response, add_special_tokens=False)["input_ids"]) + 1)


def prompt_length(tokenizer, prompt: str, response: str = "") -> int:
    return len(tokenizer(prompt)["input_ids"])


def shorten(task: Task, tokenizer, example: dict, limit: int, measure=train_length) -> tuple[dict | None, bool]:
    """Return (example, was_shortened); (None, False) when even an empty cut field does not fit."""
    total = measure(tokenizer, example["prompt"], example["response"])
    if total <= limit:
        return example, False
    values = dict(example["meta"]["fields"])
    text = values[task.cut_field]
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    keep = len(offsets) - (total - limit)
    response_text = example["references"][0]
    while keep > 0:
        values[task.cut_field] = text[: offsets[keep - 1][1]]
        prompt, response = task.render(values, response_text)
        total = measure(tokenizer, prompt, response)
        if total <= limit:
            meta = {**example["meta"], "fields": values, "cut_chars": len(text) - len(values[task.cut_field])}
            return {**example, "prompt": prompt, "response": response, "meta": meta}, True
        keep -= max(1, total - limit)  # token counts at the cut can shift by a few: step down and retry
    return None, False


def shorten_all(task: Task, tokenizer, examples, limit: int, measure=train_length) -> tuple[list[dict], int, int]:
    """(kept examples, rows shortened, rows dropped)."""
    kept, shortened, dropped = [], 0, 0
    for ex in tqdm(examples, desc=f"fit rows to {limit} tokens", unit="row", disable=None, leave=False):
        new, cut = shorten(task, tokenizer, ex, limit, measure)
        if new is None:
            dropped += 1
            continue
        shortened += cut
        kept.append(new)
    return kept, shortened, dropped
