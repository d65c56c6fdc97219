"""ROUGE-1/2/L for Japanese, computed as XL-Sum's official multilingual ROUGE computes it (csebuetnlp/xl-sum,
`multilingual_rouge_scoring`, `lang="japanese"`, no stemmer), in the same order:

1. lowercase the whole text (Python's `str.lower`; no NFKC: full- and half-width stay distinct);
2. drop NUL, U+FFFD and control/format characters (Unicode C*, except tab and line breaks, which become
   spaces, as every Zs space does);
3. split at whitespace, then split each word at punctuation, which is dropped: Unicode P* and every ASCII
   character that is not a letter or digit. Symbols (S*: ★ ＋ ¥ ° emoji) stay;
4. join the pieces with spaces and segment with MeCab (`-O wakati`); the tokens are its words;
5. ROUGE-N: clipped n-gram overlap; ROUGE-L: longest common subsequence; F = 2PR / (P + R), 0 when P + R is 0.

The one departure: the official scorer asks for the full UniDic (`fugashi[unidic]`, a separate download);
jaft segments with unidic-lite, which installs from PyPI. tests/test_scoring_rouge.py runs the reference
beside this module (with the same dictionary) and finds every score equal.

Example: `python -c "from eval.rouge import rouge; print(rouge(1, '九州で大雨', '九州北部で大雨'))"`
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from functools import lru_cache

from eval import mecab

# ASCII that is neither a letter nor a digit counts as punctuation, as in the reference ($ ^ ` included).
ASCII_PUNCTUATION = frozenset(chr(c) for c in range(33, 127) if not chr(c).isalnum())


def _kind(char: str) -> str:
    """'drop', 'space', 'punct' or 'keep' for one character."""
    if char in "\t\n\r ":
        return "space"
    if char in ("\x00", "\ufffd"):
        return "drop"
    category = unicodedata.category(char)
    if category[0] == "C":
        return "drop"
    if category == "Zs":
        return "space"
    if char in ASCII_PUNCTUATION or category[0] == "P":
        return "punct"
    return "keep"


def words(text: str) -> list[str]:
    """Steps 2-3: the text's pieces between spaces and punctuation."""
    pieces, current = [], []
    for char in text:
        kind = _kind(char)
        if kind == "keep":
            current.append(char)
        elif kind != "drop":
            if current:
                pieces.append("".join(current))
                current = []
    if current:
        pieces.append("".join(current))
    # Python's split() also splits at characters the steps above keep (U+2028, U+2029): so does the reference.
    return [w for piece in pieces for w in piece.split()]


@lru_cache(maxsize=8192)
def tokens(text: str) -> tuple[str, ...]:
    """Steps 1-4."""
    return tuple(t for t in mecab.words(" ".join(words(text.lower()))) if t)


def fmeasure(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def ngrams(toks: tuple, n: int) -> Counter:
    return Counter(tuple(toks[i: i + n]) for i in range(len(toks) - n + 1))


def rouge_n(n: int, prediction: tuple, target: tuple) -> float:
    pred, gold = ngrams(prediction, n), ngrams(target, n)
    overlap = sum(min(count, pred[gram]) for gram, count in gold.items())
    precision = overlap / max(sum(pred.values()), 1)
    recall = overlap / max(sum(gold.values()), 1)
    return fmeasure(precision, recall)


def lcs_length(a: tuple, b: tuple) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): one pass over the longer
    sequence with a bit vector as long as the shorter, so a million-token output scores in about a
    second where the textbook table would need a million rows."""
    if len(a) > len(b):
        a, b = b, a
    if not a:
        return 0
    masks: dict = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - bin(v).count("1")


def rouge_l(prediction: tuple, target: tuple) -> float:
    if not prediction or not target:
        return 0.0
    lcs = lcs_length(target, prediction)
    return fmeasure(lcs / len(prediction), lcs / len(target))


def rouge(kind: int | str, prediction: str, target: str) -> float:
    """F-measure of ROUGE-`kind` (1, 2 or 'L') of one prediction against one target text."""
    pred, gold = tokens(prediction), tokens(target)
    return rouge_l(pred, gold) if kind == "L" else rouge_n(int(kind), pred, gold)
