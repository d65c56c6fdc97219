"""JSQuAD post-processing in linear work: the rule before issue 24 (a regex trimming the end, one MeCab
reading and one copy of the answer per particle cut) against today's, on the same answers.

Two checks: (1) agreement, answer for answer, on every gold answer of the bundled JGLUE fixtures and the dev
sample, and on generated answers ending in up to EXACT_CUTS particles, spaces, 、 and 。 (the new rule must
give exactly the old rule's output on all of them), and how often the two differ on longer chains; (2) the
time of both on hostile answers of growing size (a run of spaces inside the answer; 「東京」 + 「での」 × n),
the old rule stopped past `--budget` seconds.

Example: `python bench/jsquad_postprocess.py` (about a minute on 2 cores); `--quick` for smaller sizes.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval import mecab  # noqa: E402
from eval.postprocess import EXACT_CUTS, FUNCTION_WORD, PARTICLES, strip_trailing_particles  # noqa: E402

OLD_EDGES = re.compile(r"^[\s、。]+|[\s、。]+$")


def old_rule(text: str) -> str:
    """The rule as it was (eval/postprocess.py before issue 24), for comparison only."""
    text = OLD_EDGES.sub("", text)
    while True:
        last = mecab.last_morpheme(text)
        if last is None:
            return text
        surface, pos1, _ = last
        if (surface not in PARTICLES or pos1 not in FUNCTION_WORD or len(surface) >= len(text)
                or not mecab.safe(text).endswith(surface)):
            return text
        text = OLD_EDGES.sub("", text[: -len(surface)])


def fixture_answers() -> list[str]:
    out = []
    for path in sorted((ROOT / "tests" / "fixtures").rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "data" in data:
            out += [a["text"] for art in data["data"] for p in art["paragraphs"] for q in p["qas"]
                    for a in q.get("answers", [])]
    return out


def generated_answers(n: int, seed: int = 0, shortest: int = 0, longest: int = 12) -> list[str]:
    rng = random.Random(seed)
    heads = ["東京", "東京都", "明治時代", "1877年", "学生", "有機物スープ", "6歳から15歳まで", "弟子をとること",
             "京都大学", "もの", "の", "abc", "ＡＢＣ", "東京の大学"]
    tails = list(PARTICLES) + ["、", "。", " ", "　", "まで", "です", "など", "での", "には", "とも"]
    return [rng.choice(heads) + "".join(rng.choice(tails) for _ in range(rng.randint(shortest, longest)))
            for _ in range(n)]


def timed(fn, text: str, budget: float) -> float | None:
    """Seconds `fn(text)` takes, or None when an estimate says it would pass `budget` (not run)."""
    start = time.perf_counter()
    fn(text)
    took = time.perf_counter() - start
    return took if took <= budget else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--budget", type=float, default=20.0, help="the old rule is not run at sizes past this")
    args = ap.parse_args()

    n = 500 if args.quick else 5000
    for what, answers in ((f"fixture answers and generated ones ending in up to {EXACT_CUTS} particles",
                           fixture_answers() + generated_answers(n, longest=EXACT_CUTS)),
                          (f"generated answers ending in {EXACT_CUTS + 1} to 40 particles (past the exact re-readings)",
                           generated_answers(n // 5, shortest=EXACT_CUTS + 1, longest=40, seed=1))):
        differ = [(a, old_rule(a), strip_trailing_particles(a)) for a in answers]
        differ = [d for d in differ if d[1] != d[2]]
        print(f"agreement, {what}: {len(answers) - len(differ)} of {len(answers)} give the same output")
        for a, old, new in differ[:5]:
            print(f"  differs: {a!r}: old {old!r}, new {new!r}")

    print("\n| answer | characters | old rule (s) | new rule (s) |\n|---|---:|---:|---:|")
    sizes = (1_000, 4_000, 16_000) if args.quick else (1_000, 4_000, 16_000, 80_000)
    cases = [("東京 + spaces + 駅", lambda n: "東京" + " " * n + "駅"),
             ("東京 + での × n/2", lambda n: "東京" + "での" * (n // 2))]
    for name, make in cases:
        old_too_slow = False
        for n in sizes:
            text = make(n)
            old = None if old_too_slow else timed(old_rule, text, args.budget)
            old_too_slow = old_too_slow or old is None or old * 16 > args.budget  # quadratic: next size x16
            new = timed(strip_trailing_particles, text, 1e9)
            print(f"| {name} | {len(text):,} | {'–' if old is None else f'{old:.3f}'} | {new:.3f} |")
    text = "東京" + "での" * 750_000
    start = time.perf_counter()
    strip_trailing_particles(text)
    print(f"| 東京 + での × 750,000 | {len(text):,} | – | {time.perf_counter() - start:.3f} |")


if __name__ == "__main__":
    main()
