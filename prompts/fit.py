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

Two guards (issue 24; FIT_RULE 2 in prompts/fit_cache.py):
- An extractive answer stays in the window. When a training row of a task with answers (JSQuAD) is cut and
  the cut would lose the first occurrence of its answer in the cut field, the field is cut around the answer
  instead: `keep` tokens, at token boundaries, centred on it (`meta.cut_from` says where the kept text
  starts); a row whose answer alone does not fit is dropped. Rows whose answer survives the plain cut are
  cut as before. Evaluation prompts are cut as before (the answer's place is not the model's to be told);
  `Fit.answer_lost` counts those that lose it.
- Work per row is bounded. A cut field longer than PRECUT_CHARS characters a token of the limit is first
  read as a stretch of that many characters (around the answer, when there is one); when that stretch
  alone is over the limit by PRECUT_MARGIN tokens, the row cannot fit whole, and fitting goes on from the
  stretch: the tokenizer never reads a 31 MB review. Otherwise the stretch doubles until it proves it or
  holds the whole field. A row that fits is never touched.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import NamedTuple

from tqdm import tqdm

from prompts.tasks import Task

CHUNK = 4096  # rows per batched call: large enough for the tokenizer's threads, small enough for a progress bar
PRECUT_CHARS = 8      # characters per token of the limit first read of a very long cut field
PRECUT_MARGIN = 64    # tokens over the limit that prove a stretch of the field cannot fit whole


def train_length(tokenizer, prompt: str, response: str) -> int:
    """Tokens Axolotl trains on: prompt with the tokenizer's specials, then response, then EOS."""
    return (len(tokenizer(prompt)["input_ids"])
            + len(tokenizer(response, add_special_tokens=False)["input_ids"]) + 1)


def prompt_length(tokenizer, prompt: str, response: str = "") -> int:
    return len(tokenizer(prompt)["input_ids"])


MEASURES = {"train": train_length, "prompt": prompt_length}


# ---- one row ------------------------------------------------------------------------------------------------

def answer_span(task: Task, example: dict) -> tuple[int, int] | None:
    """Where the first gold answer (what training teaches) first occurs in the cut field, or None."""
    if not task.answers_field:
        return None
    text = example["meta"]["fields"][task.cut_field]
    answer = example["references"][0]
    start = text.find(answer) if answer else -1
    return None if start < 0 else (start, start + len(answer))


def _window(offsets, keep: int, span: tuple[int, int] | None) -> tuple[int, int] | None:
    """The tokens [first, last] of the cut field to keep: the first `keep` (the plain cut) unless that loses
    the answer at `span`; then `keep` tokens centred on the answer; None when the answer needs more."""
    if span is None or offsets[keep - 1][1] >= span[1]:
        return 0, keep - 1
    n = len(offsets)
    a = bisect_right(range(n), span[0], key=lambda i: offsets[i][1])     # first token ending after its start
    b = bisect_left(range(n), span[1], key=lambda i: offsets[i][0]) - 1  # last token starting before its end
    need = b - a + 1
    if need > keep:
        return None
    first = max(0, min(a - (keep - need) // 2, n - keep))
    return first, first + keep - 1


def _cut_at(task: Task, example: dict, offsets, keep: int, around_answer: bool = False) -> dict | None:
    """The row with its cut field cut to `keep` tokens (the first ones; around the answer when
    `around_answer` and the first ones lose it), rendered again; None when the answer does not fit."""
    values = dict(example["meta"]["fields"])
    text = values[task.cut_field]
    window = _window(offsets, keep, answer_span(task, example) if around_answer else None)
    if window is None:
        return None
    first, last = window
    start = offsets[first][0] if first else 0
    values[task.cut_field] = text[start: offsets[last][1]]
    prompt, response = task.render(values, example["references"][0])
    whole = example.get("_whole_chars", len(text))      # the field's length before a precut (see _precut)
    cut_from = start + example.get("_from", 0)
    meta = {**example["meta"], "fields": values, "cut_chars": whole - len(values[task.cut_field]),
            **({"cut_from": cut_from} if cut_from else {})}
    row = {k: v for k, v in example.items() if not k.startswith("_")}
    return {**row, "prompt": prompt, "response": response, "meta": meta}


def _step_down(task: Task, tokenizer, example: dict, offsets, keep: int, limit: int,
               measure) -> tuple[dict | None, bool]:
    """Cut at `keep` tokens, measure, and step down by the excess until the row fits (or nothing is left)."""
    around = measure is train_length
    while keep > 0:
        candidate = _cut_at(task, example, offsets, keep, around)
        if candidate is None:
            break
        total = measure(tokenizer, candidate["prompt"], candidate["response"])
        if total <= limit:
            return candidate, True
        keep -= max(1, total - limit)  # token counts at the cut can shift by a few: step down and retry
    return None, False


def _cut_offsets(tokenizer, text: str):
    return tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]


def _stretch(task: Task, example: dict, chars: int, around_answer: bool) -> tuple[int, int]:
    """The stretch of the cut field a precut of `chars` characters keeps: its start, or (`around_answer`)
    around the answer when the start does not hold it."""
    text = example["meta"]["fields"][task.cut_field]
    span = answer_span(task, example) if around_answer else None
    if span is None or span[1] <= chars:
        return 0, min(len(text), chars)
    return max(0, span[0] - chars), min(len(text), span[1] + chars)


def _precut_row(task: Task, example: dict, lo: int, hi: int) -> dict:
    """The row with its cut field reduced to text[lo:hi]; `_cut_at` reports cuts against the whole field."""
    values = dict(example["meta"]["fields"])
    text = values[task.cut_field]
    values[task.cut_field] = text[lo:hi]
    prompt, response = task.render(values, example["references"][0])
    return {**example, "prompt": prompt, "response": response, "meta": {**example["meta"], "fields": values},
            "_whole_chars": len(text), "_from": lo}


def _precut(task: Task, tokenizer, examples: list[dict], limit: int, around_answer: bool) -> list[dict]:
    """Each row, or, where its cut field is so long that it cannot fit whole, the row with the field reduced to
    a stretch that still holds every window fitting can keep (module docstring). Batched per round."""
    out = list(examples)
    chars = PRECUT_CHARS * limit + 1024
    pending = [i for i, ex in enumerate(examples) if len(ex["meta"]["fields"][task.cut_field]) > chars]
    while pending:
        stretches = [_stretch(task, examples[i], chars, around_answer) for i in pending]
        texts = [examples[i]["meta"]["fields"][task.cut_field][lo:hi] for i, (lo, hi) in zip(pending, stretches)]
        again = []
        for i, (lo, hi), n in zip(pending, stretches, token_counts(tokenizer, texts, add_special_tokens=False)):
            if n > limit + PRECUT_MARGIN:
                out[i] = _precut_row(task, examples[i], lo, hi)
            elif hi - lo < len(examples[i]["meta"]["fields"][task.cut_field]):
                again.append(i)       # long tokens (or characters the tokenizer drops): read a longer stretch
        pending, chars = again, chars * 2
    return out


def shorten(task: Task, tokenizer, example: dict, limit: int, measure=train_length) -> tuple[dict | None, bool]:
    """Return (example, was_shortened); (None, False) when even an empty cut field does not fit (or, for a
    training row with an answer, when the answer alone does not)."""
    example = _precut(task, tokenizer, [example], limit, measure is train_length)[0]
    total = measure(tokenizer, example["prompt"], example["response"])
    if total <= limit and "_from" not in example:
        return example, False
    offsets = _cut_offsets(tokenizer, example["meta"]["fields"][task.cut_field])
    keep = min(len(offsets), len(offsets) - (total - limit))
    return _step_down(task, tokenizer, example, offsets, keep, limit, measure)


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
    around_answer: int = 0    # training rows cut around their answer (the plain cut would have lost it)
    answer_lost: int = 0      # rows kept whose cut field no longer holds their answer (evaluation prompts)

    @property
    def dropped(self) -> int:
        return len(self.dropped_at)


def answer_counts(task: Task, rows: list[dict]) -> tuple[int, int]:
    """(rows cut around their answer, cut rows that lost it) among fitted rows."""
    if not task.answers_field:
        return 0, 0
    cut = [r for r in rows if "cut_chars" in r["meta"]]
    around = sum("cut_from" in r["meta"] for r in cut)
    lost = sum(r["references"][0] not in r["meta"]["fields"][task.cut_field] for r in cut)
    return around, lost


def _fit_chunk(task: Task, tokenizer, rows: list[dict], limit: int, mode: str,
               response_tokens: dict) -> tuple[list[tuple[dict | None, bool]], int]:
    out: list[tuple[dict | None, bool]] = [(r, False) for r in rows]
    around = mode == "train"
    rows = _precut(task, tokenizer, rows, limit, around)  # a row that fits is never changed: `out` keeps it
    totals = _lengths(tokenizer, rows, mode, response_tokens)
    over = [i for i, total in enumerate(totals) if total > limit or "_from" in rows[i]]  # precut: never whole
    if not over:
        return out, 0
    all_offsets = token_offsets(tokenizer, [rows[i]["meta"]["fields"][task.cut_field] for i in over])
    # (row, its cut field's offsets, tokens to keep): `shorten`'s loop, run for all rows in step, so that
    # every round of re-checks is one batched call.
    pending = [(i, offsets, min(len(offsets), len(offsets) - (totals[i] - limit)))
               for i, offsets in zip(over, all_offsets)]
    rechecks = 0
    while pending:
        cuts = [(p, _cut_at(task, rows[p[0]], p[1], p[2], around)) if p[2] > 0 else (p, None) for p in pending]
        for (i, _, _), candidate in cuts:
            if candidate is None:   # nothing left to cut, or the answer alone does not fit
                out[i] = (None, False)
        pending = [p for p, candidate in cuts if candidate is not None]
        candidates = [candidate for _, candidate in cuts if candidate is not None]
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
    return Fit(kept, shortened, dropped_at, rechecks, *answer_counts(task, kept))


def shorten_all(task: Task, tokenizer, examples, limit: int, measure=train_length) -> tuple[list[dict], int, int]:
    """(kept examples, rows shortened, rows dropped), with `measure` one of `MEASURES`."""
    mode = next(m for m, f in MEASURES.items() if f is measure)
    fit = fit_rows(task, tokenizer, list(examples), limit, mode)
    return fit.rows, fit.shortened, fit.dropped
