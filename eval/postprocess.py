"""Post-processing: named, visible steps from the model's raw text to the prediction that is scored.

A task names its step in prompts/tasks.yaml (`postprocess: jsquad_answer`); each step is registered here
under that name and called as `step(raw, task)`. The raw text is always kept beside the result (`raw` and
`prediction` in predictions.jsonl).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable

from jaft.common import UsageError

Step = Callable[[str, object], str]
STEPS: dict[str, Step] = {}


def step(name: str):
    """Register a post-processing step under `name`; a second step under a name already taken is refused."""
    def register(fn: Step) -> Step:
        if name in STEPS:
            raise ValueError(f"post-processing step '{name}' is registered twice")
        STEPS[name] = fn
        return fn
    return register

# The paper's particles, longest first so that から is tried before a one-character match.
PARTICLES = tuple(sorted(("は", "が", "も", "で", "に", "を", "へ", "と", "の", "から"), key=len, reverse=True))
# Special tokens a decoder may leave in the text: <EOD|LLM-jp>, </s>, <s>, <|endoftext|>, <unk>, <pad> ...
SPECIAL_TOKEN = re.compile(r"<\|?[A-Za-z_]+\|[A-Za-z_\-]*\|?>|<\|[^<>]*\|>|</?s>|<unk>|<pad>")
EDGE = " \t\r\n\u3000、。"


def first_word(raw: str, labels=("positive", "negative")) -> str:
    """MARC-ja (the paper: 'the first word generated'): first whitespace-separated word, NFKC, lowercase,
    trailing punctuation dropped. Anything other than positive/negative is kept as is and scores wrong."""
    words = SPECIAL_TOKEN.sub(" ", raw).split()
    if not words:
        return ""
    word = unicodedata.normalize("NFKC", words[0]).lower().strip(".,:;!?。、")
    for label in labels:  # "positive</s>" or "positive." already handled; "positives" stays wrong
        if word == label:
            return label
    return word


def drop_special_tokens(text: str) -> str:
    return SPECIAL_TOKEN.sub("", text)


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def strip_edges(text: str) -> str:
    return text.strip(EDGE)


def strip_trailing_particles(text: str) -> str:
    """Remove particles from the end, repeatedly (「東京都での」 -> 「東京都」), never inside the answer
    (「東京の大学」 keeps its の), and never the whole answer."""
    changed = True
    while changed:
        changed = False
        for particle in PARTICLES:
            if text.endswith(particle) and len(text) > len(particle):
                text = strip_edges(text[: -len(particle)])
                changed = True
                break
    return text


def jsquad_answer(raw: str) -> str:
    """JSQuAD: special tokens out, first line, edges (whitespace 、 。) stripped, trailing particles out."""
    return strip_trailing_particles(strip_edges(first_line(drop_special_tokens(raw))))


def before_closing_quotes(raw: str) -> str:
    """XL-Sum: the summary is what comes before the template's closing triple quote."""
    return drop_special_tokens(raw.split('"""', 1)[0]).strip()


step("first_word")(lambda raw, task: first_word(raw, task.label_words))
step("jsquad_answer")(lambda raw, task: jsquad_answer(raw))
step("before_closing_quotes")(lambda raw, task: before_closing_quotes(raw))


def get_step(task) -> Step:
    if task.postprocess not in STEPS:
        raise UsageError(f"task {task.name}: unknown postprocess step '{task.postprocess}' "
                         f"(prompts/tasks.yaml); valid: {', '.join(STEPS)}")
    return STEPS[task.postprocess]


def postprocess(task: str, raw: str) -> str:
    """The prediction for `raw` under the step the task names."""
    from prompts.tasks import get_task
    t = get_task(task)
    return get_step(t)(raw, t)
