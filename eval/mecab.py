"""MeCab (fugashi + unidic-lite) made safe for any text: it never crashes and never drops a character.

Three things MeCab cannot take, each met here rather than at every caller:
- NUL ends its C string (everything after it would be silently lost), and a lone surrogate cannot be
  encoded as UTF-8 (fugashi raises): both reach MeCab as U+FFFD, one character for one, so positions
  in the tagged text are positions in the caller's text.
- A very long text overflows its best-path cost (a 32-bit int): MeCab segfaults (exit 139) at about
  190,000 Latin letters or 1,000,000 characters of news text. Text longer than CHUNK is tagged in chunks
  cut at spaces; a chunk's cost stays far below the overflow whatever it holds (at most ~65,000 per
  character: a word cost plus a connection cost, each a 16-bit number). MeCab's time grows with the square
  of a run without spaces (10,000 repeated letters: ~0.2 s), so such a run in a long text is cut every RUN.

Example: `python -c "from eval.mecab import words; print(words('九州北部で大雨'))"`
"""
from __future__ import annotations

import re
from functools import lru_cache

CHUNK = 10_000
RUN = 1_000
UNSAFE = re.compile("[\x00\ud800-\udfff]")


@lru_cache(maxsize=1)
def tagger():
    """fugashi on unidic-lite, named explicitly: fugashi prefers the `unidic` package when one is installed
    (the reference scorer's requirements bring it), and that package's dictionary is a separate download:
    without the pin, jaft's segmentation would depend on what else is installed, or fail."""
    import os

    import fugashi
    import unidic_lite
    dicdir = unidic_lite.DICDIR
    return fugashi.Tagger(f'-r "{os.path.join(dicdir, "mecabrc")}" -d "{dicdir}"')


def safe(text: str) -> str:
    return UNSAFE.sub("\ufffd", text)


def chunks(text: str, size: int = CHUNK, run: int = RUN):
    """Pieces of at most `size` characters, cut at the last space before the limit (or after `run`
    characters when there is no space). A text that fits is one piece: tagged exactly as MeCab would."""
    start = 0
    while len(text) - start > size:
        cut = text.rfind(" ", start + 1, start + size)
        if cut <= start:
            cut = start + run
        yield text[start:cut]
        start = cut
    yield text[start:]


def words(text: str) -> list[str]:
    """Surface forms, as MeCab's `-O wakati` output split at whitespace."""
    out = []
    for piece in chunks(safe(text)):
        out.extend(" ".join(node.surface for node in tagger()(piece)).split())
    return out


def last_morpheme(text: str) -> tuple[str, str, str] | None:
    """(surface, pos1, pos2) of the text's last morpheme, or None when there is none. Only the last CHUNK
    characters are tagged: the end of a text is all the caller asks about."""
    nodes = tagger()(safe(text[-CHUNK:]))
    if not nodes:
        return None
    last = nodes[-1]
    return last.surface, last.feature.pos1 or "", last.feature.pos2 or ""


def spans(text: str) -> list[tuple[int, int, str, str]] | None:
    """(start, end, surface, pos1) of every morpheme of `text` (at most CHUNK characters: the caller cuts),
    positions in `text`; None when MeCab's nodes do not spell the text out (then nothing can be aligned)."""
    out, pos = [], 0
    safe_text = safe(text)
    for node in tagger()(safe_text):
        pos += len(node.white_space)
        end = pos + len(node.surface)
        if safe_text[pos:end] != node.surface:
            return None
        out.append((pos, end, node.surface, node.feature.pos1 or ""))
        pos = end
    return out
