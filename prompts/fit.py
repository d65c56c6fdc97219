"""Fit rows into a token budget by cutting the task's cut field (article, review, context) at a token
boundary and rendering again: the template, the title, the question and the response are never cut.

`shorten` is the rule, one row at a time: measure the row; if it is too long, tokenize the cut field, keep
as many of its tokens as the excess allows, render, measure again, and step down by the remaining excess
until it fits. `fit_rows` applies the same rule to many rows at the speed of the tokenizer's batch call:
one batched measurement of every row, one batched tokenization of the cut fields of the rows that are too
long, one batched re-check of the cut rows, and another round only for the cut rows that still do not fit
(a cut inside a multi-token character or word shifts the count by a few). The rows kept are identical to
`shorten`'s, row for row (tests/test_fit.py compares them).

Two measures: "train" (what Axolotl trains on: prompt with the tokenizer's specials, response, EOS) and
"prompt" (what generation reads: the prompt alone).
"""
from __future__ import annotations

from typing import NamedTuple

from tqdm import tqdm

from prompts.tasks import Task

CHUNK = 4096  # rows per batched call: large enough for the tokenizer's threads, small enough for a progress bar


def train_length(tokenizer, prompt: str, response: str) -> int:
    """Tokens Axolotl trains on: prompt with the tokenizer's specials, then response, then EOS."""
    return (len(tokenizer(prompt)["input_ids"])
            + len(tokenizer(response, add_special_tokens=False)["input_ids"]) + 1)


def prompt_length(tokenizer, prompt: str, response: str = "") -> int:
    return len(tokenizer(prompt)["input_ids"])


MEASURES = {"train": train_length, "prompt": prompt_length}


# ---- one row ------------------------------------------------------------------------------------------------

def _cut_at(task: Task, example: dict, offsets, keep: int) -> dict:
    """The row with its cut field ending after token `keep`, rendered again."""
    values = dict(example["meta"]["fields"])
    text = values[task.cut_field]
    values[task.cut_field] = text[: offsets[keep - 1][1]]
    prompt, response = task.render(values, example["references"][0])
    meta = {**example["meta"], "fields": values, "cut_chars": len(text) - len(values[task.cut_field])}
    return {**example, "prompt": prompt, "response": response, "meta": meta}


def _step_down(task: Task, tokenizer, example: dict, offsets, keep: int, limit: int,
               measure) -> tuple[dict | None, bool]:
    """Cut at `keep` tokens, measure, and step down by the excess until the row fits (or nothing is left)."""
    while keep > 0:
        candidate = _cut_at(task, example, offsets, keep)
        total = measure(tokenizer, candidate["prompt"], candidate["response"])
        if total <= limit:
            return candidate, True
        keep -= max(1, total - limit)  # token counts at the cut can shift by a few: step down and retry
    return None, False


def _cut_offsets(tokenizer, text: str):
    return tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]


def shorten(task: Task, tokenizer, example: dict, limit: int, measure=train_length) -> tuple[dict | None, bool]:
    """Return (example, was_shortened); (None, False) when even an empty cut field does not fit."""
    total = measure(tokenizer, example["prompt"], example["response"])
    if total <= limit:
        return example, False
    offsets = _cut_offsets(tokenizer, example["meta"]["fields"][task.cut_field])
    return _step_down(task, tokenizer, example, offsets, len(offsets) - (total - limit), limit, measure)


# ---- many rows ----------------------------------------------------------------------------------------------

def _backend(tokenizer, text: str, add_special_tokens: bool):
    """The Rust tokenizer behind `tokenizer` when calling it directly gives what `tokenizer(...)` gives,
    else None. Transformers' fast tokenizers pass a batch straight to it, after setting per-call state
    (no padding, no truncation, special-token splitting); one call of `tokenizer` on `text` sets that state,
    and its result is compared with the backend's, so that a tokenizer that does more never takes this path."""
    from transformers import PreTrainedTokenizerBase
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    kind = type(tokenizer)
    plain = (isinstance(tokenizer, TokenizersBackend) and kind._encode_plus is TokenizersBackend._encode_plus
             and kind.__call__ is PreTrainedTokenizerBase.__call__ and not hasattr(tokenizer, "_switch_to_input_mode"))
    if not plain:
        return None
    backend = tokenizer.backend_tokenizer
    expected = tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
    got = backend.encode(text, add_special_tokens=add_special_tokens).ids
    return backend if got == expected else None


def token_counts(tokenizer, texts: list[str], add_special_tokens: bool = True) -> list[int]:
    """len(tokenizer(text)["input_ids"]) for every text, in one batched call (offsets are not computed)."""
    if not texts:
        return []
    backend = _backend(tokenizer, texts[0], add_special_tokens)
    if backend is not None:
        return [len(e) for e in backend.encode_batch_fast(texts, add_special_tokens=add_special_tokens)]
    ids = tokenizer(texts, add_special_tokens=add_special_tokens, return_attention_mask=False,
                    return_token_type_ids=False)["input_ids"]
    return [len(x) for x in ids]


class _EncodingOffsets:
    """An encoding's offsets read one token at a time: a cut needs the length and a token or two, and
    building the whole list of (start, end) pairs for every long text costs more than the cut."""
    __slots__ = ("encoding",)

    def __init__(self, encoding):
        self.encoding = encoding

    def __len__(self) -> int:
        return len(self.encoding)

    def __getitem__(self, i: int) -> tuple[int, int]:
        return self.encoding.token_to_chars(i)


def token_offsets(tokenizer, texts: list[str]) -> list:
    """tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"], batched
    (each as a sequence of (start, end) character offsets, one per token)."""
    if not texts:
        return []
    backend = _backend(tokenizer, texts[0], False)
    if backend is not None:
        return [_EncodingOffsets(e) for e in backend.encode_batch(texts, add_special_tokens=False)]
    return tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False,
                     return_token_type_ids=False)["offset_mapping"]


def _lengths(tokenizer, rows: list[dict], mode: str, response_tokens: dict[str, int]) -> list[int]:
    """`MEASURES[mode]` of every row, in batched calls. Responses repeat (MARC-ja has two), so their
    lengths are remembered in `response_tokens`."""
    lengths = token_counts(tokenizer, [r["prompt"] for r in rows])
    if mode == "prompt":
        return lengths
    new = list(dict.fromkeys(r["response"] for r in rows if r["response"] not in response_tokens))
    response_tokens.update(zip(new, token_counts(tokenizer, new, add_special_tokens=False)))
    return [n + response_tokens[r["response"]] + 1 for n, r in zip(lengths, rows)]


class Fit(NamedTuple):
    rows: list[dict]          # the rows kept, in order, shortened where needed
    shortened: int
    dropped_at: list[int]     # positions (in the rows given) of the rows dropped: nothing left to cut
    rechecks: int             # cut rows measured again (1 per cut row, more where the cut shifted counts)

    @property
    def dropped(self) -> int:
        return len(self.dropped_at)


def _fit_chunk(task: Task, tokenizer, rows: list[dict], limit: int, mode: str,
               response_tokens: dict) -> tuple[list[tuple[dict | None, bool]], int]:
    out: list[tuple[dict | None, bool]] = [(r, False) for r in rows]
    totals = _lengths(tokenizer, rows, mode, response_tokens)
    over = [i for i, total in enumerate(totals) if total > limit]
    if not over:
        return out, 0
    all_offsets = token_offsets(tokenizer, [rows[i]["meta"]["fields"][task.cut_field] for i in over])
    # (row, its cut field's offsets, tokens to keep): `shorten`'s loop, run for all rows in step, so that
    # every round of re-checks is one batched call.
    pending = [(i, offsets, len(offsets) - (totals[i] - limit)) for i, offsets in zip(over, all_offsets)]
    rechecks = 0
    while pending:
        for i, _, keep in pending:
            if keep <= 0:
                out[i] = (None, False)
        pending = [p for p in pending if p[2] > 0]
        candidates = [_cut_at(task, rows[i], offsets, keep) for i, offsets, keep in pending]
        rechecks += len(candidates)
        again = []
        for (i, offsets, keep), candidate, total in zip(pending, candidates,
                                                        _lengths(tokenizer, candidates, mode, response_tokens)):
            if total <= limit:
                out[i] = (candidate, True)
            else:
                again.append((i, offsets, keep - max(1, total - limit)))
        pending = again
    return out, rechecks


def fit_rows(task: Task, tokenizer, examples: list[dict], limit: int, mode: str = "train",
             progress: bool = True) -> Fit:
    """`shorten` applied to every row of `examples`, in batched tokenizer calls (see module docstring)."""
    if mode not in MEASURES:
        raise ValueError(f"unknown fitting mode {mode!r}; valid: {', '.join(MEASURES)}")
    kept, shortened, dropped_at, rechecks = [], 0, [], 0
    response_tokens: dict[str, int] = {}
    with tqdm(total=len(examples), desc=f"fit rows to {limit} tokens", unit="row", leave=False,
              disable=None if progress else True) as bar:
        for start in range(0, len(examples), CHUNK):
            chunk = examples[start: start + CHUNK]
            fitted, n = _fit_chunk(task, tokenizer, chunk, limit, mode, response_tokens)
            rechecks += n
            for offset, (row, was_cut) in enumerate(fitted):
                if row is None:
                    dropped_at.append(start + offset)
                    continue
                shortened += was_cut
                kept.append(row)
            bar.update(len(chunk))
    return Fit(kept, shortened, dropped_at, rechecks)


def shorten_all(task: Task, tokenizer, examples, limit: int, measure=train_length) -> tuple[list[dict], int, int]:
    """(kept examples, rows shortened, rows dropped), with `measure` one of `MEASURES`."""
    mode = next(m for m, f in MEASURES.items() if f is measure)
    fit = fit_rows(task, tokenizer, list(examples), limit, mode)
    return fit.rows, fit.shortened, fit.dropped
