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
    answers = (f", {f.around_answer:,} cut around their answer" if f.around_answer else "") + \
              (f", {f.answer_lost:,} lost their answer" if f.answer_lost else "")
    return (f"{f.rows:,} rows kept, {f.shortened:,} shortened, {f.dropped:,} dropped{answers}"
            + (" (cache hit)" if f.hit else ""))


def prepare(spec: RunSpec, show: str | None = None) -> tuple[list[str], list[str]]:
    """Fit and cache every split a run of `spec` reads: train and validation at the recipe's sequence_len
    (training), the evaluation split at the model's inference maximum (generation). (One line per split;
    with `show`, the lines of that row as fitted: prompt and response.)"""
    from recipes.render import base_model_path, recipe_dict
    base_model = base_model_path(spec)
    sequence_len = int(recipe_dict(spec, base_model=base_model)["sequence_len"])
    tokenizer = load_tokenizer(base_model, spec.model.trust_remote_code)
    lines = []
    start = time.perf_counter()
    fitted = fit_run_rows(spec, tokenizer, sequence_len)
    for split, f in fitted.items():
        lines.append(f"{split:<10} training, {sequence_len:,} tokens: {describe(f)}  [{f.path}]")
    f = eval_prompts(spec, tokenizer)
    lines.append(f"{spec.task.eval_split:<10} eval prompts, {spec.model.infer_len:,} tokens: {describe(f)}  [{f.path}]")
    lines.append(f"({time.perf_counter() - start:.1f} s)")
    shown = []
    if show is not None:
        shown = show_row(spec, show, [(s, x, "training") for s, x in fitted.items()]
                         + [(spec.task.eval_split, f, "eval prompt")])
    return lines, shown


def show_row(spec: RunSpec, ident: str, fitted: list[tuple[str, Fitted, str]]) -> list[str]:
    """The row `ident` as each split holds it after fitting (`just prepare MODEL TASK --show ID`)."""
    from jaft.common import UsageError
    from prompts.data import load_split
    out = []
    for split, f, what in fitted:
        row = next((r for r in f.load() if str(r["id"]) == ident), None)
        if row is None:
            if any(str(r["id"]) == ident for r in load_split(spec.task.name, split)):
                out.append(f"--- {split} row {ident} ({what}): dropped by fitting (it cannot fit, or its "
                           f"answer cannot)")
            continue
        meta = row["meta"]
        how = ("whole" if "cut_chars" not in meta else
               f"{spec.task.cut_field} cut by {meta['cut_chars']:,} characters"
               + (f", kept from character {meta['cut_from']:,} (around the answer)" if "cut_from" in meta else ""))
        out += [f"--- {split} row {ident} ({what}, {how}) ---", "[prompt]", row["prompt"]]
        if what == "training":
            out += ["[response]", row["response"]]
        out.append(f"[references] {row['references']}")
    if not out:
        raise UsageError(f"no row with id '{ident}' in {spec.task.name}'s "
                         f"{', '.join(dict.fromkeys(s for s, _, _ in fitted))} splits")
    return out
