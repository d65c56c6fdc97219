"""The metrics today's Japanese leaderboards report, each computed exactly as its source computes it, so that
a fine-tuned model can be put beside the published numbers (docs/leaderboard-metrics.md).

- `llmjp_char_f1` (JSQuAD): llm-jp-eval 1.3.0's `char_f1` (`src/llm_jp_eval/utils.py`,
  `get_evaluation_result`; also the Swallow leaderboard's JSQuAD): the prediction is
  NFKC(output.split("\\n\\n")[0].strip()), the gold NFKC(answers[0]), the score
  `fuzz.token_sort_ratio(pred, gold) / 100` (fuzzywuzzy 0.18 with python-Levenshtein). Reproduced here with
  rapidfuzz (MIT): fuzzywuzzy's `full_process` with its defaults (force_ascii: characters U+0080-U+00FF
  deleted; every `(?ui)\\W` character a space; lowercase; trimmed), tokens sorted and joined by one space, then
  its `ratio`: 100 when the two strings are equal (two empty ones too), 0 when one is empty, else
  `int(round(100 * Indel normalized similarity))` (Python's round: halves to even).
- `lmeval_rouge2` (XL-Sum): lm-evaluation-harness's `japanese_leaderboard` XL-Sum (`ja_leaderboard_xlsum.py`;
  the JP harness Swallow runs scores the same way): emoji removed, `neologdn.normalize`, whitespace collapsed,
  MeCab `-Owakati` (fugashi, unidic-lite as its requirements install) and `rouge_score`'s ROUGE-2 F of the
  reference against the prediction. A per-row value; jaft averages rows (lm-eval reports the median of an
  unseeded bootstrap of the mean, which differs from the mean in the last digits).

Both references hand MeCab a C string: a NUL ends the text there, and jaft does the same. A lone surrogate
makes the references raise; jaft reads it as U+FFFD instead of failing a whole file.

Example: `python -c "from eval.leaderboard import llmjp_char_f1; print(llmjp_char_f1('東京都', ['東京']))"`
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz.distance import Indel

from eval import mecab, rouge

# fuzzywuzzy's asciidammit deletes exactly these (its "bad_chars": chr(128) .. chr(255)).
LATIN1 = {c: None for c in range(128, 256)}
NOT_WORD = re.compile(r"(?ui)\W")


def fuzzywuzzy_process(text: str) -> str:
    """fuzzywuzzy.utils.full_process(text, force_ascii=True)."""
    return NOT_WORD.sub(" ", text.translate(LATIN1)).lower().strip()


def token_sort_ratio(a: str, b: str) -> int:
    """fuzzywuzzy.fuzz.token_sort_ratio(a, b) with its defaults, python-Levenshtein's ratio underneath."""
    a, b = (" ".join(sorted(fuzzywuzzy_process(s).split())).strip() for s in (a, b))
    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(100 * Indel.normalized_similarity(a, b)))


def llmjp_normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def llmjp_char_f1(prediction: str, references: list) -> float:
    """llm-jp-eval 1.3.0's char_f1 of one output against the FIRST gold answer (it keeps answers[0] only)."""
    pred = llmjp_normalize(prediction.split("\n\n")[0].strip())
    return token_sort_ratio(pred, llmjp_normalize(references[0])) / 100.0


# ---- lm-evaluation-harness japanese_leaderboard: XL-Sum ROUGE-2 over MeCab tokens ------------------------
# The emoji ranges its remove_emoji strips after the `emoji` package's per-character test.
SURROGATE = re.compile("[\ud800-\udfff]")
EMOJI_RANGES = re.compile("[\U0001f600-\U0001f64f\U0001f300-\U0001f5ff\U0001f680-\U0001f6ff"
                          "\U0001f1e0-\U0001f1ff\U00002702-\U000027b0]+")


def lmeval_normalize(text: str) -> str:
    """MecabTokenizer.normalize_answer: emoji out, neologdn.normalize, whitespace collapsed to one space."""
    import emoji
    import neologdn
    text = SURROGATE.sub("\ufffd", text)  # neologdn cannot encode one (the reference raises)
    text = EMOJI_RANGES.sub("", "".join("" if emoji.is_emoji(c) else c for c in text))
    return " ".join(neologdn.normalize(text).split())


# The reference tags a text whole; so does jaft up to this length (MeCab's lattice at a cut changes a few
# words). Longer text (no summary is) is tagged in chunks, since MeCab itself crashes near 1,000,000 characters.
WHOLE = 200_000


@lru_cache(maxsize=8192)
def lmeval_tokens(text: str) -> tuple[str, ...]:
    """MecabTokenizer.tokenize: MeCab's wakati output of the normalised text, split at whitespace."""
    text = lmeval_normalize(text).split("\x00", 1)[0]  # MeCab reads a C string: a NUL ends it
    if len(text) > WHOLE:
        return tuple(mecab.words(text))
    return tuple(" ".join(node.surface for node in mecab.tagger()(mecab.safe(text))).split())


def lmeval_rouge2(prediction: str, references: list) -> float:
    """rouge_score's ROUGE-2 F-measure with lm-eval's MeCab tokenizer (one reference: XL-Sum has one)."""
    pred = lmeval_tokens(prediction)
    return max(rouge.rouge_n(2, pred, lmeval_tokens(r)) for r in references)
