"""Fitting one huge row: time and peak memory of `fit_rows` on a MARC-ja review and a JSQuAD context of N
million characters (the answer at its end), with the rule before issue 24 (the whole field tokenised) beside
today's (a bounded stretch read first), on the tiny model's tokenizer.

Each measurement runs in a fresh process, so that its peak resident memory (ru_maxrss) is its own.

Example: `python bench/huge_row.py` (about two minutes on 2 cores); `python bench/huge_row.py --sizes 1 3`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from transformers import AutoTokenizer
from prompts import fit
from prompts.data import convert
from prompts.tasks import TASKS
from recipes.tiny import ensure_tiny
task_name, millions, rule = sys.argv[2], float(sys.argv[3]), sys.argv[4]
tok = AutoTokenizer.from_pretrained(ensure_tiny())
n = int(millions * 1_000_000)
if task_name == "marc":
    hub = {"review_id": "big", "sentence": ("この商品はとても良かったです。" * (n // 15 + 1))[:n], "label": 0}
else:
    body = ("大阪城は豊臣秀吉が築いた城である。" * (n // 17 + 1))[:n]
    hub = {"id": "big", "title": "t", "context": body + "江戸幕府を開いたのは徳川家康である。",
           "question": "江戸幕府を開いたのは誰か？", "answers": {"text": ["徳川家康"], "answer_start": [n + 9]}}
rows, _ = convert(TASKS[task_name], [("x:1", hub)])
if rule == "before":  # no precut, no window: the rule of FIT_RULE 1
    fit._precut = lambda task, tokenizer, examples, limit, around: list(examples)
    fit.answer_span = lambda task, example: None
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
got = fit.fit_rows(TASKS[task_name], tok, rows, 512, "train", progress=False)
took = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kept = got.rows[0]["meta"]["fields"][TASKS[task_name].cut_field] if got.rows else ""
print(json.dumps({"s": round(took, 2), "peak_mib": round(peak / 1024), "grew_mib": round((peak - base) / 1024),
                  "answer_kept": "徳川家康" in kept}))
"""


def measure(task: str, millions: float, rule: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), task, str(millions), rule],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 10, 31], help="millions of characters")
    ap.add_argument("--before-up-to", type=float, default=1,
                    help="run the old rule only up to this many millions (it takes ~20 s and ~0.5 GiB each)")
    args = ap.parse_args()
    print("| task | characters | rule | time (s) | peak memory (MiB) | grew by (MiB) | answer kept |")
    print("|---|---:|---|---:|---:|---:|---|")
    for task in ("marc", "jsquad"):
        for millions in args.sizes:
            for rule in ("before", "now") if millions <= args.before_up_to else ("now",):
                r = measure(task, millions, rule)
                if "error" in r:
                    print(f"| {task} | {millions:g} M | {rule} | error: {r['error']} | | | |")
                    continue
                kept = ("yes" if r["answer_kept"] else "no") if task == "jsquad" else "–"
                print(f"| {task} | {millions:g} M | {rule} | {r['s']} | {r['peak_mib']:,} | {r['grew_mib']:,} "
                      f"| {kept} |")


if __name__ == "__main__":
    main()
