"""`just eval`: for every finished run, every epoch checkpoint not yet scored -> predictions + scores."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from tqdm import tqdm

from eval import predictions
from eval.generate import BACKENDS, GenSettings
from eval.metrics import diagnostics, score_rows, task_metrics
from eval.postprocess import postprocess
from jaft.common import atomic_write_json, read_json, runs_root
from prompts import get_task
from recipes import RunSpec, base_model_path, checkpoints, eval_prompts, read_manifest

RULES = {
    "task-metric": "the epoch with the highest {metric} on the {split} split (the paper's rule)",
    "val-loss": "the epoch with the lowest validation loss (Axolotl's eval_loss; no peeking at the scored split)",
}


def say(msg: str) -> None:
    print(f"[jaft eval] {msg}", file=sys.stderr)


def val_losses(run_dir: Path) -> dict[int, float]:
    """Epoch -> eval_loss, from the last checkpoint's trainer_state.json (Axolotl evaluates each epoch)."""
    found = checkpoints(run_dir)
    if not found:
        return {}
    history = json.loads((found[-1][1] / "trainer_state.json").read_text())["log_history"]
    return {round(h["epoch"]): h["eval_loss"] for h in history if "eval_loss" in h and round(h["epoch"]) >= 1}


def is_oom(error: BaseException) -> bool:
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower()


def predict_epoch(gen, task: str, rows: list[dict], out: Path, settings: GenSettings, batch_size: int) -> None:
    """Generate what `out` lacks, appending each batch; on out-of-memory, halve the batch and go on."""
    done = predictions.done_ids(out)
    todo = [r for r in rows if str(r["id"]) not in done]
    # Longest first: similar lengths share a batch (less padding), and an out-of-memory shows up at once.
    todo.sort(key=lambda r: len(r["prompt"]), reverse=True)
    with tqdm(total=len(rows), initial=len(rows) - len(todo), desc=out.parent.name, unit="ex",
              file=sys.stderr, disable=None) as bar:
        i = 0
        while i < len(todo):
            batch = todo[i: i + batch_size]
            try:
                outs = gen.generate([r["prompt"] for r in batch], settings)
            except Exception as e:  # noqa: BLE001 - only out-of-memory is handled; the rest re-raised
                if not is_oom(e) or batch_size == 1:
                    raise
                batch_size //= 2
                say(f"out of memory at batch size {batch_size * 2}; going on with {batch_size}")
                gen.free_memory()
                continue
            predictions.append(out, [{**r, "raw": o.text, "new_tokens": o.new_tokens,
                                      "prediction": postprocess(task, o.text)} for r, o in zip(batch, outs)])
            bar.update(len(batch))
            i += len(batch)


def select(epochs: list[dict], metric: str, rule: str) -> dict | None:
    if not epochs:
        return None
    if rule == "val-loss":
        with_loss = [e for e in epochs if e.get("val_loss") is not None]
        if not with_loss:
            return None
        best = min(with_loss, key=lambda e: (e["val_loss"], e["epoch"]))
    else:
        best = max(epochs, key=lambda e: (e["metrics"][metric], -e["epoch"]))  # ties: the earlier epoch
    return {"rule": rule, **best}


def write_run_scores(run_dir: Path, run: dict) -> dict:
    task = get_task(run["task"])
    metric = task_metrics(task)[0]
    losses = val_losses(run_dir)
    epochs = []
    for path in sorted((run_dir / "eval").glob("epoch-*/scores.json"), key=lambda p: int(p.parent.name[6:])):
        s = read_json(path, "scores.json")
        epochs.append({"epoch": s["epoch"], "n": s["n"], "limit": s.get("limit"), "metrics": s["metrics"],
                       "diagnostics": s.get("diagnostics"), "val_loss": losses.get(s["epoch"])})
    scores = {
        "run_id": run["run_id"], "model": run["model"], "task": task.name, "lr": run["lr"],
        "variant": run.get("variant"), "split": task.eval_split, "metric": metric,
        "epochs": epochs,
        "best": select(epochs, metric, "task-metric"),
        "best_by_val_loss": select(epochs, metric, "val-loss"),
        "selection_rule": "task-metric",
        "rules": {k: v.format(metric=metric, split=task.eval_split) for k, v in RULES.items()},
    }
    atomic_write_json(run_dir / "scores.json", scores)
    return scores


def eval_run(run_dir: Path, *, batch_size: int, backend: str, limit: int | None, max_new_tokens: int | None) -> str:
    """Returns 'scored', 'up to date' or 'skipped'."""
    run = read_manifest(run_dir)
    if not run:
        say(f"{run_dir}: no run.json, not a jaft run; skipped")
        return "skipped"
    found = checkpoints(run_dir)
    if not found:
        say(f"{run_dir}: no epoch checkpoint yet; skipped")
        return "skipped"
    if run.get("status") != "finished":
        say(f"{run_dir}: training status is '{run.get('status')}', not finished; skipped")
        return "skipped"
    pending = [(k, p) for k, p in found if not epoch_done(run_dir / "eval" / f"epoch-{k}", limit)]
    if pending:
        spec = RunSpec.parse(run["model"], run["task"], run["lr"], run.get("variant"))
        infer_len = spec.model.infer_len
        gen = BACKENDS[backend](base_model_path(spec), spec.model.trust_remote_code)
        # The evaluation split, prompts cut (article/context only) to the model's inference input maximum;
        # fitted once per model and task (cached), the first `limit` rows with --limit.
        rows, shortened, dropped = eval_prompts(spec, gen.tokenizer).first(limit)
        if shortened or dropped:
            say(f"{run['run_id']}: {shortened} prompts shortened to {infer_len} tokens, {dropped} dropped")
        settings = GenSettings.of(spec.task)
        if max_new_tokens:
            settings = GenSettings(max_new_tokens, settings.stop_strings)
        for epoch, checkpoint in pending:
            out_dir = run_dir / "eval" / f"epoch-{epoch}"
            gen.use_adapter(str(checkpoint))
            predict_epoch(gen, spec.task.name, rows, out_dir / "predictions.jsonl", settings, batch_size)
            wanted = {str(r["id"]) for r in rows}  # an earlier, longer eval may have left more lines
            scored = [r for r in predictions.load_for_scoring(spec.task.name, out_dir / "predictions.jsonl")
                      if str(r["id"]) in wanted]
            metrics = score_rows(spec.task.name, scored)
            n = metrics.pop("n")
            atomic_write_json(out_dir / "scores.json", {
                "epoch": epoch, "split": spec.task.eval_split, "n": n, "metrics": metrics,
                "diagnostics": diagnostics(spec.task.name, scored, settings.max_new_tokens),
                "checkpoint": checkpoint.name, "prompts_shortened": shortened, "prompts_dropped": dropped,
                "max_new_tokens": settings.max_new_tokens, "backend": backend, "limit": limit})
            say(f"{run['run_id']} epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    scores = write_run_scores(run_dir, run)
    best = scores["best"]
    say(f"{run['run_id']}: best epoch {best['epoch']} by {scores['metric']}" if best else f"{run_dir}: no scores")
    return "scored" if pending else "up to date"


def epoch_done(out_dir: Path, limit: int | None) -> bool:
    """Scored already, over the same rows: after `--limit 100`, a plain `just eval` extends to the whole
    split (the 100 predictions are kept)."""
    path = out_dir / "scores.json"
    return path.is_file() and read_json(path, "scores.json").get("limit") == limit


def find_runs(paths: list[str]) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    root = runs_root()
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
