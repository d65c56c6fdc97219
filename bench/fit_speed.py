"""Row fitting at full size: batched `fit_rows` against the per-row rule (`shorten`), the cache's cold and
warm times, beside what `just data` takes to prepare the same rows.

Synthetic data in the hub's schema at the real datasets' sizes: 187,528 MARC-ja-like reviews and 7,113
XL-Sum-like articles (~1,500 characters on average, log-normally spread), written from the phrase lists of
`prompts/samples/generate.py`, i.e. in the vocabulary the tiny model's tokenizer was trained on. `--unseen N`
adds N articles of random kana and kanji the tiny tokenizer never saw (about 2 tokens a character): there
the tokenizer itself is the bound, and the table says how close to it fitting runs.

Example: `python bench/fit_speed.py` (about 2 minutes on 2 cores); `python bench/fit_speed.py --quick`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "prompts" / "samples"))

import generate as samples  # noqa: E402

from prompts.data import prepare  # noqa: E402
from prompts.fit import MEASURES, fit_rows, shorten  # noqa: E402
from prompts.tasks import TASKS  # noqa: E402

MARC_ROWS, XLSUM_ROWS = 187_528, 7_113


def marc_rows(rng: random.Random, n: int) -> list[dict]:
    """Reviews of one to six sentences (~70 characters on average), half positive, half negative."""
    rows = []
    for i in range(n):
        label = rng.randrange(2)
        pool = samples.GOOD if label == 0 else samples.BAD
        body = "".join(rng.choice(pool) for _ in range(rng.randint(1, 6)))
        rows.append({"sentence": f"この{rng.choice(samples.PRODUCTS)}は{body}", "label": label,
                     "review_id": f"R{i:06d}"})
    return rows


def article(rng: random.Random, chars: int) -> str:
    topic, lead = rng.choice(samples.TOPICS)
    place = rng.choice(samples.PLACES)
    lines = [f"{place}で{lead}"]
    while sum(map(len, lines)) < chars:
        lines.append(rng.choice(samples.DETAILS) if rng.random() < 0.7 else
                     f"{rng.choice(samples.PEOPLE)}さんは{rng.choice(samples.PLACES)}で{rng.choice(samples.FIELDS)}について話した。")
    return "\n".join(lines)


def unseen_text(rng: random.Random, chars: int) -> str:
    kana = [chr(c) for c in range(0x3041, 0x3094)]
    kanji = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    out = []
    while len(out) < chars:
        out += [rng.choice(kana) if rng.random() < 0.5 else rng.choice(kanji) for _ in range(rng.randint(15, 50))]
        out.append("。")
    return "".join(out)


def xlsum_rows(rng: random.Random, n: int, make=article) -> list[dict]:
    rows = []
    for i in range(n):
        chars = int(min(8000, max(200, rng.lognormvariate(math.log(1300), 0.55))))  # mean ~1,500
        text = make(rng, chars)
        rows.append({"id": f"A{i:05d}", "title": text[:12], "summary": text[:60] + "。", "text": text})
    return rows


def write_split(folder: Path, split: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                           encoding="utf-8")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def timed_cpu(fn):
    """(result, wall seconds, CPU seconds of this process, the tokenizer's threads included)."""
    cpu, start = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def per_row(task, tokenizer, rows, limit, mode):
    measure = MEASURES[mode]
    return [shorten(task, tokenizer, r, limit, measure) for r in rows]


def bench(name: str, task_name: str, hub_rows: list[dict], limits, tokenizer, work: Path, old_rows: int) -> list[str]:
    from prompts.fit_cache import fit_split

    task = TASKS[task_name]
    src, data = work / "src" / name, work / "data"
    splits = {s: hub_rows if s == "train" else hub_rows[:10] for s in task.splits}
    for split, rows in splits.items():
        write_split(src, split, rows)
    _, data_s = timed(lambda: prepare(task, src, data / task_name))
    examples, load_s = timed(lambda: [json.loads(l) for l in (data / task_name / "train.jsonl").open(encoding="utf-8")])
    chars = sum(len(e["meta"]["fields"][task.cut_field]) for e in examples) / len(examples)
    lines = []
    for limit, mode in limits:
        fit, new_s, new_cpu = timed_cpu(lambda: fit_rows(task, tokenizer, examples, limit, mode, progress=False))
        sample = examples[:old_rows]
        old, old_s, old_cpu = timed_cpu(lambda: per_row(task, tokenizer, sample, limit, mode))
        assert [r for r, _ in old if r is not None] == fit.rows[: sum(r is not None for r, _ in old)], "rows differ"
        os.environ["JAFT_DATA"] = str(data)
        for f in (data / task_name / "fitted").glob("*"):
            f.unlink()
        _, cold_s = timed(lambda: fit_split(task, "train", tokenizer, limit, mode))
        hit, warm_s = timed(lambda: fit_split(task, "train", tokenizer, limit, mode))
        assert hit.hit
        cut = fit.shortened or 1
        lines.append(f"| {name} | {len(examples):,} | {chars:,.0f} | {limit} {mode} | {data_s:.1f} | "
                     f"{len(sample) / old_s:,.0f} ({len(sample) / old_cpu:,.0f}) | "
                     f"**{len(examples) / new_s:,.0f}** ({len(examples) / new_cpu:,.0f}) | "
                     f"{fit.shortened:,} / {fit.dropped:,} | {fit.rechecks / cut:.2f} | {cold_s:.1f} | {warm_s:.2f} |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a tenth of the rows")
    ap.add_argument("--unseen", type=int, default=500, help="articles of unseen text (0: none)")
    args = ap.parse_args()
    from transformers import AutoTokenizer

    from recipes.tiny import ensure_tiny
    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny())
    scale = 10 if args.quick else 1
    rng = random.Random(0)
    print(f"fit_speed: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; tiny tokenizer "
          f"(byte-level BPE, 1,024 tokens); per-row `shorten` timed on the first rows only; CPU-seconds count "
          f"the tokenizer's threads (on an idle machine the wall rate can reach the CPU rate × cores)\n")
    print("| data | rows | chars/row (cut field) | limit, measure | `just data` s | per-row rows/s (per CPU-s) "
          "| batched rows/s (per CPU-s) | shortened / dropped | re-checks per cut row | cold `fit_split` s "
          "| cache hit s |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench("MARC-ja-like", "marc", marc_rows(rng, MARC_ROWS // scale), [(512, "train"), (512, "prompt")],
              tokenizer, work, 20_000 // scale)
        bench("XL-Sum-like", "xlsum", xlsum_rows(rng, XLSUM_ROWS // scale),
              [(512, "train"), (256, "train"), (512, "prompt")], tokenizer, work, 2_000 // scale)
        if args.unseen:
            bench("XL-Sum, unseen text", "xlsum", xlsum_rows(rng, args.unseen, unseen_text),
                  [(1024, "train"), (4096, "prompt")], tokenizer, work / "unseen", min(args.unseen, 200))
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
