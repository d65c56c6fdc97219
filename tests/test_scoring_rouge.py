"""XL-Sum ROUGE: jaft against XL-Sum's official multilingual ROUGE (the PyPI fork `multilingual-rouge`, a
test-only dependency), row by row, on cases written to find every difference in normalisation."""
from __future__ import annotations

import json
import sys
import types
import unicodedata

import pytest

from eval import rouge
from eval.metrics import METRICS
from tests.conftest import cli

NEWS = "気象庁によると、九州北部では24日から記録的な大雨が続き、福岡県と佐賀県に大雨特別警報が出された。住民に避難を呼びかけている。"  # noqa: E501

# (prediction, reference): widths, case, symbols, punctuation, emoji, control characters, empty, long
CASES = [
    ("九州北部で大雨が降った。", "九州北部で大雨が降った。"),
    ("九州で大雨が降った", "九州北部で大雨が降った。"),
    ("東京は晴れ", "九州北部で大雨が降った。"),
    ("ＡＢＣ社の株価が１０％上昇した", "ABC社の株価が10%上昇した"),          # full- vs half-width: not folded
    ("ａｂｃ社", "ＡＢＣ社"),                                                # full-width case: lowered
    ("Apple社がiPhoneを発表", "APPLE社がIPHONEを発表した"),                  # case: lowered
    ("NHKによると", "ｎｈｋによると"),
    ("★5つの評価＋特典付き、価格は¥1,980", "評価は★5つ、特典＋価格¥1980"),     # symbols stay, punctuation goes
    ("気温は30°Cを超えた", "気温は30℃を超えた"),
    ("「速報」首相が会見！？", "首相が会見（速報）"),
    ("米国(アメリカ)の大統領は…", "アメリカの大統領は――"),
    ("$100@#&*^~`|\\{}[]<>の寄付", "100の寄付"),                           # ASCII punctuation ($ ^ ` too)
    ("笑顔😊で👍🏽握手した", "笑顔で握手した😊"),                             # emoji (a symbol) and its modifier
    ("家族👨‍👩‍👧で旅行", "家族で旅行"),                                        # ZWJ (a format character) dropped
    ("", "九州北部で大雨が降った。"),                                        # empty output
    ("九州北部で大雨", ""),
    ("", ""),
    ("。、！？「」", "九州で大雨"),                                         # punctuation only
    ("九州\x00北部で大雨", "九州北部で大雨"),                                # NUL: dropped, nothing after it lost
    ("九州\ufffd北部で\x07大雨\u200b", "九州北部で大雨"),                    # U+FFFD, BEL, zero-width space
    ("九州\u3000北部\tで\n大雨\r", "九州 北部 で 大雨"),                     # ideographic space, tab, line breaks
    ("九州\u2028北部で大雨", "九州北部で大雨"),                              # line separator splits
    ("\ue000私用領域の文字", "私用領域の文字"),                              # private use: a C* character, dropped
    ("İstanbulで会議", "istanbulで会議"),                                   # lowercase that adds a character
    ("ｶﾀｶﾅ半角のニュース", "カタカナ半角のニュース"),
    ("第２四半期のGDPは年率－２．１％", "第2四半期のGDPは年率-2.1%"),
    ("大雨 大雨 大雨 大雨", "大雨が降った"),                                 # clipped counts
    ("降った大雨が九州北部で", "九州北部で大雨が降った"),                    # order: ROUGE-L below ROUGE-1
    (NEWS * 120, NEWS),                                                     # ~7,700 characters, one chunk
]


@pytest.fixture(scope="module")
def reference():
    """The official scorer, its MeCab pointed at unidic-lite as jaft's is. (It asks for the `unidic` package,
    whose dictionary is a separate download: a stand-in module of that name tells fugashi where to look.)"""
    import unidic_lite
    stand_in = types.ModuleType("unidic")
    stand_in.DICDIR = unidic_lite.DICDIR
    saved = sys.modules.get("unidic")
    sys.modules["unidic"] = stand_in
    try:
        from multilingual_rouge import rouge_scorer
        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], lang="japanese")
    finally:
        if saved is None:
            sys.modules.pop("unidic")
        else:
            sys.modules["unidic"] = saved
    assert "unidic_lite" in scorer._tokenizer.tokenizer.tokenizer.dictionary_info[0]["filename"]
    return scorer


@pytest.mark.parametrize("prediction, target", CASES)
def test_scores_equal_the_official_scorer(reference, prediction, target):
    theirs = reference.score(target, prediction)
    for name in ("rouge1", "rouge2", "rougeL"):
        assert METRICS[name](prediction, [target]) == pytest.approx(theirs[name].fmeasure, abs=1e-9), name


@pytest.mark.parametrize("text", [p for p, _ in CASES] + ["ＡＢＣ Ｄｅｆ ghi", "No.１ の★"])
def test_tokens_equal_the_official_scorer(reference, text):
    from multilingual_rouge import tokenization_wrapper
    assert list(rouge.tokens(text)) == tokenization_wrapper.tokenize(text, None, reference._tokenizer)


BASES = ["九州北部で大雨が降った。", NEWS, "Apple社は9月、新型iPhone 15を発表した。価格は$799から。",
         "日経平均株価は前日比１．２％高の３万２千円で取引を終えた。", "「ＷＨＯ」は新型ウイルスについて★緊急事態★を宣言！"]  # noqa: E501
FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}
VARIANTS = [
    lambda t: t,
    lambda t: "".join(FULLWIDTH.get(c, c) for c in t),          # ASCII made full-width
    lambda t: t.upper(),
    lambda t: t.replace("。", "！").replace("、", "，"),
    lambda t: t.replace("。", " ★ ").replace("、", "＋"),
    lambda t: "😊" + t.replace("。", "👍🏽。"),
    lambda t: "".join(c for c in t if c not in "。、「」！"),
    lambda t: t.replace("、", "\x00").replace("。", "\u3000"),
    lambda t: unicodedata.normalize("NFKC", t),
    lambda t: "",
]


def test_varied_rows_agree_with_the_official_scorer(reference):
    """Every base summary under every pair of variants, as prediction and reference: 500 rows."""
    rows = [(v(base), w(base)) for base in BASES for v in VARIANTS for w in VARIANTS]
    differ = []
    for prediction, target in rows:
        theirs = reference.score(target, prediction)
        for name in ("rouge1", "rouge2", "rougeL"):
            if abs(METRICS[name](prediction, [target]) - theirs[name].fmeasure) > 1e-9:
                differ.append((name, prediction, target))
    assert len(rows) == 500 and differ == []


def test_long_news_text_chunked_still_agrees(reference):
    # 64,000 characters: jaft tags it in chunks cut at spaces; the reference in one piece (it still can)
    from multilingual_rouge import tokenization_wrapper
    text = NEWS * 1000
    assert list(rouge.tokens(text)) == tokenization_wrapper.tokenize(text, None, reference._tokenizer)


def test_what_the_official_order_means():
    assert rouge.tokens("ＡＢＣ社") == ("ａｂｃ", "社")          # lowercased, width kept
    assert rouge.tokens("★＋¥°") == ("★", "＋", "¥", "°")        # symbols are tokens
    assert rouge.tokens("「東京」、大阪！") == ("東京", "大阪")    # punctuation is not
    assert rouge.tokens("東\x00京") == ("東京",)                   # NUL neither cuts nor splits


def test_lcs_length():
    assert rouge.lcs_length(tuple("ABCBDAB"), tuple("BDCABA")) == 4
    assert rouge.lcs_length((), tuple("abc")) == 0
    assert rouge.lcs_length(tuple("abc"), tuple("abc")) == 3
    assert rouge.lcs_length(tuple("a" * 100), tuple("b" * 100)) == 0


def test_a_million_character_output_is_scored_not_a_segfault(tmp_path):
    """`just score xlsum` on a 1.5M-character output: MeCab alone segfaults (exit 139)."""
    k = 1_500_000 // len(NEWS) + 1
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"id": 1, "raw": NEWS * k, "references": [NEWS]}, ensure_ascii=False) + "\n",
                 encoding="utf-8")
    proc = cli("eval", "score", "xlsum", str(f), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    m = len(rouge.tokens(NEWS))
    # the output is the reference k times: every reference n-gram found, precision about 1/k
    assert got["rouge1"] == pytest.approx(2 / (k + 1), abs=1e-12)
    assert got["rougeL"] == pytest.approx(2 / (k + 1), abs=1e-12)
    p2 = (m - 1) / (k * m - 1)
    assert got["rouge2"] == pytest.approx(2 * p2 / (p2 + 1), abs=1e-12)
