"""A run's rows: the task's splits fitted into the run's token budget with the model's own tokenizer, from
the cache that every run of the same model, task and length shares (prompts.fit_cache).

Example: `python -m recipes prepare calm2 xlsum --variant len1024` (what `just prepare` runs) fits and
caches the rows of a run, for training and for evaluation, without training.
"""
from __future__ import annotations

import sys
import time

from jaft.common import atomic_write_bytes
from prompts import Fitted, fit_split
from recipes.runs import RunSpec

SPLITS = ("train", "validation")  # what Axolotl reads: rows to learn, and the loss reported every epoch


def load_tokenizer(base_model: str, trust_remote_code: bool):
    """The model's tokenizer; a model the hub will not give (offline, gated, not found) is one line."""
    from transformers import AutoTokenizer

    from recipes.hub import load_or_explain
    return load_or_explain(base_model, lambda: AutoTokenizer.from_pretrained(base_model,
                                                                             trust_remote_code=trust_remote_code))


def fit_run_rows(spec: RunSpec, tokenizer, limit: int, log: bool = False) -> dict[str, Fitted]:
    """The train and validation rows fitted to `limit` tokens (the recipe's sequence_len, which `--set`
    may have changed)."""
    fitted = {}
    for split in SPLITS:
        fitted[split] = f = fit_split(spec.task, split, tokenizer, limit, "train")
        if log:
            print(f"[jaft] {spec.id}: {split}: {describe(f)}", file=sys.stderr)
    return fitted


def eval_prompts(spec: RunSpec, tokenizer) -> Fitted:
    """The evaluation split's prompts cut (article/context only) to the model's inference input maximum,
    the paper's 4,096 (7B) / 1,500 (13B) tokens."""
    return fit_split(spec.task, spec.task.eval_split, tokenizer, spec.model.infer_len, "prompt")


def write_run_data(spec: RunSpec, fitted: dict[str, Fitted]) -> dict:
    """Copy the fitted rows into the run folder, where the recipe points Axolotl; their counts for run.json."""
    for split, f in fitted.items():
        atomic_write_bytes(spec.dir / "data" / f"{split}.jsonl", f.path.read_bytes())
    return {split: f.counts for split, f in fitted.items()}


def describe(f: Fitted) -> str:
    return (f"{f.rows:,} rows kept, {f.shortened:,} shortened, {f.dropped:,} dropped"
            + (" (cache hit)" if f.hit else ""))


def prepare(spec: RunSpec) -> list[str]:
    """Fit and cache every split a run of `spec` reads: train and validation at the recipe's sequence_len
    (training), the evaluation split at the model's inference maximum (generation). One line per split."""
    from recipes.render import base_model_path, recipe_dict
    base_model = base_model_path(spec)
    sequence_len = int(recipe_dict(spec, base_model=base_model)["sequence_len"])
    tokenizer = load_tokenizer(base_model, spec.model.trust_remote_code)
    lines = []
    start = time.perf_counter()
    for split, f in fit_run_rows(spec, tokenizer, sequence_len).items():
        lines.append(f"{split:<10} training, {sequence_len:,} tokens: {describe(f)}  [{f.path}]")
    f = eval_prompts(spec, tokenizer)
    lines.append(f"{spec.task.eval_split:<10} eval prompts, {spec.model.infer_len:,} tokens: {describe(f)}  [{f.path}]")
    lines.append(f"({time.perf_counter() - start:.1f} s)")
    return lines
