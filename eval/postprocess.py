"""Post-processing: named, visible steps from the model's raw text to the prediction that is scored.

A task names its step in prompts/tasks.yaml (`postprocess: jsquad_answer`); each step is registered here
under that name and called as `step(raw, task)`. The raw text is always kept beside the result (`raw` and
`prediction` in predictions.jsonl). A step registered `also_gold` is applied to the gold answers too, so
that a gold answer given as the output always scores full marks (JSQuAD: the paper's particle stripping
would otherwise cut the prediction and not the answer). The rules and their sources are in the README,
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
MARKDOWN = "*_~-+•・‣◦▪●–—＊＿"
LEAD = re.compile(rf"(?:\s|{SPECIAL_TOKEN.pattern}|[{re.escape(OPENERS + MARKDOWN)}])*")


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
            return label
    return ""


# ---- JSQuAD: first line, special tokens and the paper's particles out ------------------------------------
# The paper's particles (the surface forms it lists). A trailing morpheme is cut only when MeCab reads it as
# one of these and as a function word: a particle (助詞), or the copula's で/に (助動詞): the paper calls them
# "auxiliary words". So 「まで」「もの」「こと」 are never cut into, and 「東京の大学」 keeps its の.
PARTICLES = frozenset(("は", "が", "も", "で", "に", "を", "へ", "と", "の", "から"))
FUNCTION_WORD = frozenset(("助詞", "助動詞"))
EDGES = re.compile(r"^[\s、。]+|[\s、。]+$")


def drop_special_tokens(text: str) -> str:
    return SPECIAL_TOKEN.sub("", text)


def first_line(text: str) -> str:
    lines = text.splitlines()
    return lines[0] if lines else ""


def strip_edges(text: str) -> str:
    """Whitespace, 、 and 。 off both ends."""
    return EDGES.sub("", text)


def strip_trailing_particles(text: str) -> str:
    """Cut the paper's particles off the end, one morpheme at a time and re-reading after each cut
    (「東京都での」 -> 「東京都で」 -> 「東京都」), with the edges stripped each time; never the whole answer."""
    text = strip_edges(text)
    while True:
        last = mecab.last_morpheme(text)
        if last is None:
            return text
        surface, pos1, _ = last
        if (surface not in PARTICLES or pos1 not in FUNCTION_WORD or len(surface) >= len(text)
                or not mecab.safe(text).endswith(surface)):
            return text
        text = strip_edges(text[: -len(surface)])


@lru_cache(maxsize=65536)
def jsquad_answer(raw: str) -> str:
    """JSQuAD: special tokens out, leading whitespace and newlines out, first line, edges and trailing
    particles stripped."""
    return strip_trailing_particles(first_line(drop_special_tokens(raw).lstrip()))


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


def step(name: str, *, also_gold: bool = False):
    """Register a post-processing step under `name`; a second step under a name already taken is refused.
    `also_gold`: the gold answers go through it too."""
    def register(fn: Step) -> Step:
        if name in STEPS:
            raise ValueError(f"post-processing step '{name}' is registered twice")
        fn.also_gold = also_gold
        STEPS[name] = fn
        return fn
    return register


step("label_first")(lambda raw, task: label_first(raw, task.label_words))
step("jsquad_answer", also_gold=True)(lambda raw, task: jsquad_answer(raw))
step("before_closing_quotes")(lambda raw, task: before_stop(raw, task.generate.get("stop") or ()))


def get_step(task) -> Step:
    if task.postprocess not in STEPS:
        raise UsageError(f"task {task.name}: unknown postprocess step '{task.postprocess}' (prompts/tasks.yaml)"
                         f"{did_you_mean(task.postprocess, STEPS)}; valid: {', '.join(STEPS)}")
    return STEPS[task.postprocess]


def postprocess(task: str, raw: str) -> str:
    """The prediction for `raw` under the step the task names."""
    t = get_task(task)
    return get_step(t)(raw, t)


def gold_answers(task: str, references: list) -> list:
    """The references as they are scored: through the task's step when it is registered `also_gold`."""
    t = get_task(task)
    fn = get_step(t)
    return [fn(r, t) for r in references] if fn.also_gold else list(references)
