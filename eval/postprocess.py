"""Post-processing: named, visible steps from the model's raw text to the prediction that is scored.

A task names its step in prompts/tasks.yaml (`postprocess: jsquad_answer`); each step is registered here
under that name and called as `step(raw, task)`. The raw text is always kept beside the result (`raw` and
`prediction` in predictions.jsonl). A step registered `also_gold` is applied to the gold answers too, so
that a gold answer given as the output always scores full marks (JSQuAD: the paper's particle stripping
would otherwise cut the prediction and not the answer). The rules and their sources are in docs/scoring.md,
"How we score".

Example: `python -c "from eval.postprocess import postprocess; print(postprocess('jsquad', '東京で</s>'))"`
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable, Sequence

from eval import mecab
from jaft.common import UsageError, did_you_mean
from prompts.tasks import get_task

# Special tokens a decoder may leave in the text: <EOD|LLM-jp>, </s>, <s>, <|endoftext|>, <unk>, <pad> ...
SPECIAL_TOKEN = re.compile(r"<\|?[A-Za-z_]+\|[A-Za-z_\-]*\|?>|<\|[^<>]*\|>|</?s>|<unk>|<pad>")

# ---- MARC-ja: the label word at the very start -----------------------------------------------------------
# What may come before the label: whitespace, special tokens, opening quotes and brackets, markdown emphasis
# and bullets. Nothing else: "The sentiment is positive" has "The" as its first word and holds no label.
OPENERS = "「『（([［{｛【〔〈《\"'“‘«‹＂＇`"
MARKDOWN = "*_~-+•・‣◦▪●–—＊＿>#＞＃"          # emphasis, bullets, quote (>) and heading (#) marks
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"  # zero-width space/joiners, word joiner, BOM: \s has none of them
LEAD = re.compile(rf"(?:\s|{SPECIAL_TOKEN.pattern}|[{re.escape(OPENERS + MARKDOWN + INVISIBLE)}])*")

# Words that deny the label just read (`positiveではない`, `negativeではなくpositive`, `positive... not`): the
# output goes on to say it is not that label, so it holds no label. Only right after the label word, with at
# most spaces and punctuation between; compared case- and width-insensitively. Data, not code: a new
# phrasing is one more entry (docs/scoring-rules.md states the rule).
DENIALS_JA = ("ではない", "ではなく", "ではありません", "でない", "でなく", "じゃない", "じゃなく", "じゃありません")
# English "not" denies too, except in "positive, not negative", which restates the label by rejecting the other.
DENIALS_EN = ("not", "isn't", "isn’t", "is not")


def _fold(text: str) -> str:
    """Width- and case-insensitive form: ｎｅｇａｔｉｖｅ and NEGATIVE both read negative."""
    return unicodedata.normalize("NFKC", text).casefold()


def _prefix_length(text: str, word: str) -> int | None:
    """How many characters of `text` spell `word` (folded), or None when `text` does not start with it."""
    word = _fold(word)
    for end in range(1, len(text) + 1):
        folded = _fold(text[:end])
        if folded == word:
            return end
        if not word.startswith(folded):
            return None
    return None


def _continues_word(char: str) -> bool:
    """A Latin letter (any width, accented or not) or a combining mark: `positively`, `negatives` are other words."""
    if unicodedata.category(char)[0] == "M":
        return True
    return any(c.isalpha() and "LATIN" in unicodedata.name(c, "") for c in unicodedata.normalize("NFKC", char))


def label_first(raw: str, labels: Sequence[str]) -> str:
    """The label word that the output starts with (the paper: 'the first word generated'), or "" when it
    starts with none. Japanese puts no space after a word, so `positiveです` and `negative。星5つ` are read as
    labels; `positively`, `pos`, ポジティブ are not."""
    text = raw[LEAD.match(raw).end():]
    for label in labels:
        end = _prefix_length(text, label)
        if end is not None and (end == len(text) or not _continues_word(text[end])):
            return "" if _denied(text[end:], label, labels) else label
    return ""


def _spaces_and_punctuation(text: str) -> int:
    """How many characters at the start of `text` are whitespace or punctuation (Unicode Z* and P*)."""
    n = 0
    while n < len(text) and (text[n].isspace() or unicodedata.category(text[n])[0] in "PZ"):
        n += 1
    return n


def _word_at(text: str, word: str) -> int | None:
    """The length of `word` (folded) at the start of `text` when it is a whole word there, else None."""
    end = _prefix_length(text, word)
    return end if end is not None and (end == len(text) or not _continues_word(text[end])) else None


def _denied(rest: str, label: str, labels: Sequence[str]) -> bool:
    """Whether `rest`, what follows the label word, starts by denying it (DENIALS_JA, DENIALS_EN)."""
    rest = rest[_spaces_and_punctuation(rest[:64]):]   # a short look: the work per output stays bounded
    if any(_prefix_length(rest, word) is not None for word in DENIALS_JA):
        return True
    for word in DENIALS_EN:
        end = _word_at(rest, word)
        if end is not None:
            after = rest[end:]
            after = after[_spaces_and_punctuation(after[:64]):]
            return not any(_word_at(after, other) is not None for other in labels if other != label)
    return False


# ---- JSQuAD: first line, special tokens and the paper's particles out ------------------------------------
# The paper's particles (the surface forms it lists). A trailing morpheme is cut only when MeCab reads it as
# one of these and as a function word: a particle (助詞), or the copula's で/に (助動詞): the paper calls them
# "auxiliary words". So 「まで」「もの」「こと」 are never cut into, and 「東京の大学」 keeps its の.
PARTICLES = frozenset(("は", "が", "も", "で", "に", "を", "へ", "と", "の", "から"))
FUNCTION_WORD = frozenset(("助詞", "助動詞"))


def drop_special_tokens(text: str) -> str:
    return SPECIAL_TOKEN.sub("", text)


def first_line(text: str) -> str:
    lines = text.splitlines()
    return lines[0] if lines else ""


def _edge(char: str) -> bool:
    return char.isspace() or char in "、。"


def _edges_off(text: str, start: int, end: int) -> tuple[int, int]:
    """`text[start:end]` without whitespace, 、 and 。 at either end, as indices: one look at each character
    (a regex anchored at the end, `[\\s、。]+$`, tried every run again from each of its characters)."""
    while start < end and _edge(text[start]):
        start += 1
    while end > start and _edge(text[end - 1]):
        end -= 1
    return start, end


def strip_edges(text: str) -> str:
    """Whitespace, 、 and 。 off both ends."""
    start, end = _edges_off(text, 0, len(text))
    return text[start:end]


# The work per answer stays linear in its length. The first EXACT_CUTS cuts re-read the answer after each
# (MeCab on its last CHUNK characters, as the rule says); no real answer ends in more particles than that
# (a prediction has 5 new tokens). A longer chain (「東京」 + 「での」 × 4,000) is then cut from one reading of
# the last TAIL characters at a time, as far as that reading goes, and re-read only to confirm where the
# cutting stops: every answer stops where a re-reading finds no particle to cut, and no reading or copy is
# made per particle. Past EXACT_CUTS, a chain may so be cut further than one-by-one re-reading would have
# stopped (bench/jsquad_postprocess.py counts how often, on generated chains).
EXACT_CUTS = 16
TAIL = mecab.CHUNK


def _cuttable(surface: str, pos1: str) -> bool:
    return surface in PARTICLES and pos1 in FUNCTION_WORD


def _last_cut(text: str, start: int, end: int) -> int | None:
    """Where `text[start:end]` ends once its last morpheme is cut (one reading, today's rule), or None."""
    last = mecab.last_morpheme(text[max(start, end - mecab.CHUNK):end])
    if last is None:
        return None
    surface, pos1, _ = last
    if (not _cuttable(surface, pos1) or len(surface) >= end - start
            or mecab.safe(text[end - len(surface):end]) != surface):
        return None
    return end - len(surface)


def _cut_run(text: str, start: int, end: int) -> int:
    """Cut trailing particles off `text[start:end]` using one reading of its last TAIL characters; the new
    end (== end when the reading gives nothing to cut)."""
    lo = max(start, end - TAIL)
    spans = mecab.spans(text[lo:end])
    if not spans:
        return end
    for first, (s, e, surface, pos1) in zip(range(len(spans), 0, -1), reversed(spans)):
        s, e = s + lo, e + lo
        if e > end:        # in the edge characters already stripped
            if s < end:
                break
            continue
        if e < end or not _cuttable(surface, pos1) or e - s >= end - start:
            break
        if first == 1 and lo > start:  # the window's first morpheme may be read differently in full context
            break
        end = _edges_off(text, start, s)[1]
    return end


def strip_trailing_particles(text: str) -> str:
    """Cut the paper's particles off the end, one morpheme at a time and re-reading after each cut
    (「東京都での」 -> 「東京都で」 -> 「東京都」), with the edges stripped each time; never the whole answer."""
    start, end = _edges_off(text, 0, len(text))
    for _ in range(EXACT_CUTS):
        cut = _last_cut(text, start, end)
        if cut is None:
            return text[start:end]
        end = _edges_off(text, start, cut)[1]
    while True:
        cut = _last_cut(text, start, end)   # the re-reading that decides whether to go on
        if cut is None:
            return text[start:end]
        end = _edges_off(text, start, cut)[1]
        end = _cut_run(text, start, end)


def jsquad_extract(raw: str) -> str:
    """JSQuAD, what the model answered: special tokens out, leading whitespace and newlines out, first line
    (the leaderboard metrics read this, before the paper's stripping)."""
    return first_line(drop_special_tokens(raw).lstrip())


@lru_cache(maxsize=65536)
def jsquad_answer(raw: str) -> str:
    """JSQuAD: the extracted answer with its edges and trailing particles stripped."""
    return strip_trailing_particles(jsquad_extract(raw))


# ---- XL-Sum ------------------------------------------------------------------------------------------------
def before_stop(raw: str, stops) -> str:
    """What comes before the first of the task's stop texts (`generate.stop` in tasks.yaml)."""
    cut = min((i for i in (raw.find(s) for s in stops if s) if i >= 0), default=len(raw))
    return drop_special_tokens(raw[:cut]).strip()


def before_closing_quotes(raw: str, stops=None) -> str:
    """XL-Sum: the summary is what comes before the template's closing triple quote (the task's stop text;
    by default XL-Sum's, read from its entry)."""
    return before_stop(raw, get_task("xlsum").generate["stop"] if stops is None else stops)


# ---- the registry of named steps ---------------------------------------------------------------------------
Step = Callable[[str, object], str]     # (raw text, prompts.Task) -> prediction
STEPS: dict[str, Step] = {}


def step(name: str, *, also_gold: bool = False, extract: Step | None = None):
    """Register a post-processing step under `name`; a second step under a name already taken is refused.
    `also_gold`: the gold answers go through it too. `extract`: the part of the step that finds the answer
    in the output, before any clean-up a paper adds (default: the whole step)."""
    def register(fn: Step) -> Step:
        if name in STEPS:
            raise ValueError(f"post-processing step '{name}' is registered twice")
        fn.also_gold = also_gold
        fn.extract = extract or fn
        STEPS[name] = fn
        return fn
    return register


step("label_first")(lambda raw, task: label_first(raw, task.label_words))
step("jsquad_answer", also_gold=True, extract=lambda raw, task: jsquad_extract(raw))(
    lambda raw, task: jsquad_answer(raw))
step("before_closing_quotes")(lambda raw, task: before_stop(raw, task.generate.get("stop") or ()))


def get_step(task) -> Step:
    if task.postprocess not in STEPS:
        raise UsageError(f"{task.registry_file}: task '{task.name}': key 'postprocess': unknown step "
                         f"'{task.postprocess}'{did_you_mean(task.postprocess, STEPS)} (valid: {', '.join(STEPS)})")
    return STEPS[task.postprocess]


def postprocess(task: str, raw: str) -> str:
    """The prediction for `raw` under the step the task names."""
    t = get_task(task)
    return get_step(t)(raw, t)


def extract(task: str, raw: str) -> str:
    """The answer as the task's step finds it in `raw`, before the paper's clean-up (JSQuAD: no particle
    stripping; XL-Sum: the summary before the closing quotes, as the step itself)."""
    t = get_task(task)
    return get_step(t).extract(raw, t)


def gold_answers(task: str, references: list) -> list:
    """The references as they are scored: through the task's step when it is registered `also_gold`."""
    t = get_task(task)
    fn = get_step(t)
    return [fn(r, t) for r in references] if fn.also_gold else list(references)
