"""`just eval`: for every finished run, every epoch checkpoint not yet scored -> predictions + scores."""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import time
from pathlib import Path

from tqdm import tqdm

from eval import inputs, predictions
from eval.generate import BACKENDS, GenSettings
from eval.metrics import METRICS, diagnostics, score_rows, task_metrics
from eval.postprocess import postprocess
from jaft.common import DataError, atomic_write_json, runs_root
from jaft.records import SCORES_SCHEMA, read_epoch_scores, read_scores, write_epoch_scores, write_scores
from prompts import get_task
from recipes import (DEFAULT_SEED, RunLock, RunSpec, base_model_path, checkpoints, damaged_checkpoints, eval_prompts,
                     fingerprint, read_manifest, same_checkpoint, weights_problem)

RULES = {
    "task-metric": "the epoch with the highest {metric} on the {split} split (the paper's rule)",
    "val-loss": "the epoch with the lowest validation loss (Axolotl's eval_loss; no peeking at the scored split)",
}


def say(msg: str) -> None:
    print(f"[jaft eval] {msg}", file=sys.stderr)


def read_json_or_none(path: Path):
    """A JSON file eval derives from others (the run's scores.json, an epoch's checkpoint.json), or None
    when it is missing or damaged: then it is simply made again."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def epoch_scores(out_dir: Path) -> dict | None:
    """An epoch's scores.json, None when there is none; a damaged one is a DataError naming it (its
    numbers are a record: jaft does not silently replace them)."""
    path = out_dir / "scores.json"
    return read_epoch_scores(path) if path.is_file() else None


def val_losses(run_dir: Path) -> dict[int, float]:
    """Epoch -> eval_loss, from the last checkpoint's trainer_state.json (Axolotl evaluates each epoch)."""
    found = checkpoints(run_dir)
    if not found:
        return {}
    history = json.loads((found[-1][1] / "trainer_state.json").read_text(encoding="utf-8")).get("log_history", [])
    losses = {}
    for h in history if isinstance(history, list) else []:
        # An entry without a finite epoch (or loss) says nothing about an epoch: left out, not a traceback.
        if isinstance(h, dict) and _finite(h.get("epoch")) and _finite(h.get("eval_loss")) and round(h["epoch"]) >= 1:
            losses[round(h["epoch"])] = h["eval_loss"]
    return losses


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def is_oom(error: BaseException) -> bool:
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower()


def wants_logliks(gen, task) -> bool:
    """A task scored by label likelihood (a metric reading `loglik_label`) on a backend that can give it."""
    return (bool(task.label_words) and hasattr(gen, "label_logliks")
            and any(METRICS[m].reads == "loglik_label" for m in task_metrics(task)))


def cluster_of(task, row: dict) -> str | None:
    """The resampling unit a row belongs to (tasks.yaml `cluster_field`: JSQuAD's paragraph, named by a
    hash of its context), written beside the prediction for the report's intervals and paired tests."""
    name = getattr(task, "cluster_field", None)
    value = (row.get("meta") or {}).get("fields", {}).get(name) if name else None
    return None if value is None else hashlib.sha1(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def predict_epoch(gen, task: str, rows: list[dict], out: Path, settings: GenSettings, batch_size: int) -> int:
    """Generate what `out` lacks, appending each batch; on out-of-memory, halve the batch and go on. For a
    task scored by label likelihood, each label word's log-likelihood after the prompt is scored in the
    same pass (`label_loglik`). Returns how many examples this call generated (fewer than `rows` when an
    earlier eval was resumed)."""
    t = get_task(task)
    logliks = wants_logliks(gen, t)
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
                lls = gen.label_logliks([r["prompt"] for r in batch], t.label_words) if logliks else None
            except Exception as e:  # noqa: BLE001 - only out-of-memory is handled; the rest re-raised
                if not is_oom(e) or batch_size == 1:
                    raise
                batch_size //= 2
                say(f"out of memory at batch size {batch_size * 2}; going on with {batch_size}")
                gen.free_memory()
                continue
            lines = []
            for k, (r, o) in enumerate(zip(batch, outs)):
                line = {**r, "raw": o.text, "new_tokens": o.new_tokens, "prediction": postprocess(task, o.text)}
                if lls is not None:
                    line["label_loglik"] = lls[k]
                cluster = cluster_of(t, r)
                if cluster is not None:
                    line["cluster"] = cluster
                lines.append(line)
            predictions.append(out, lines)
            bar.update(len(batch))
            i += len(batch)
    return len(todo)


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


def run_scores(run_dir: Path, run: dict) -> dict:
    """The run's scores.json: every epoch whose scores come from the checkpoint now in the run folder."""
    task = get_task(run["task"])
    metric = task_metrics(task)[0]
    losses = val_losses(run_dir)
    epochs = []
    for epoch, checkpoint in checkpoints(run_dir):
        s = epoch_scores(run_dir / "eval" / f"epoch-{epoch}")
        if s is None or not same_checkpoint(s.get("checkpoint_fingerprint"), checkpoint):
            continue  # not scored yet, or scored from a checkpoint since replaced
        epochs.append({"epoch": s["epoch"], "n": s["n"], "limit": s.get("limit"), "metrics": s["metrics"],
                       "diagnostics": s.get("diagnostics"), "val_loss": losses.get(s["epoch"]),
                       "eval_wall_s": s.get("wall_s"), "eval_examples_per_s": s.get("examples_per_s")})
    return {
        "schema_version": SCORES_SCHEMA,
        "run_id": run["run_id"], "model": run["model"], "task": task.name, "lr": run["lr"],
        "variant": run.get("variant"), "seed": run.get("seed", DEFAULT_SEED), "split": task.eval_split,
        "metric": metric,
        "epochs": epochs,
        "best": select(epochs, metric, "task-metric"),
        "best_by_val_loss": select(epochs, metric, "val-loss"),
        "selection_rule": "task-metric",
        "rules": {k: v.format(metric=metric, split=task.eval_split) for k, v in RULES.items()},
    }


def current_scores(run_dir: Path) -> dict | None:
    """The run's scores.json as a record, or None when it is missing or not one (then it is made again:
    it is derived from the epochs' scores)."""
    try:
        return read_scores(run_dir / "scores.json")
    except (OSError, DataError):
        return None


def write_run_scores(run_dir: Path, run: dict) -> dict:
    """Write runs/<id>/scores.json, unless it already says exactly this (an eval with nothing to do writes
    nothing: a read-only runs folder stays readable by `just eval`)."""
    scores = run_scores(run_dir, run)
    if current_scores(run_dir) != scores:
        write_scores(run_dir / "scores.json", scores)
    return scores


def claim_epoch(out_dir: Path, checkpoint: Path, fp: dict) -> None:
    """Make `out_dir` hold the output of `checkpoint` only, from the inputs `fp` names (its "inputs": data and
    generation settings, eval.inputs). Files made from another checkpoint (the run was retrained), other
    inputs, or of unknown origin (an older jaft) are set aside as eval/stale-epoch-<k>, never resumed."""
    source = out_dir / "checkpoint.json"
    if out_dir.is_dir() and any(out_dir.iterdir()):
        recorded = read_json_or_none(source)
        why = None
        if not same_checkpoint(recorded, checkpoint):
            why = f"made from another checkpoint than {checkpoint.name} (or an unknown one)"
        elif "inputs" in fp and not inputs.same((recorded or {}).get("inputs"), fp["inputs"]):
            why = "made from other inputs (" + "; ".join(inputs.differences(recorded.get("inputs"), fp["inputs"])) + ")"
        if why:
            stale = out_dir.with_name(f"stale-{out_dir.name}")
            shutil.rmtree(stale, ignore_errors=True)
            out_dir.rename(stale)
            say(f"{out_dir}: {why}; set aside as {stale.name}, evaluated again")
    if not source.is_file():
        atomic_write_json(source, fp)


def eval_run(run_dir: Path, *, batch_size: int, backend: str, limit: int | None, max_new_tokens: int | None) -> str:
    """Returns 'scored', 'up to date' or 'skipped'. A damaged file of the run is a DataError naming it; a run
    that another train or eval holds (its lock) is a UsageError naming the holder."""
    run = read_manifest(run_dir)
    if not run:
        say(f"{run_dir}: no run.json, not a jaft run; skipped")
        return "skipped"
    if run.get("status") == "finished":
        for path, why in damaged_checkpoints(run_dir):
            raise DataError(f"{path}: {why}, so epoch scores from it cannot be made; retrain the run "
                            f"(`just train {run['model']} {run['task']} {run['lr']} ... --force`)")
    found = checkpoints(run_dir)
    if not found:
        say(f"{run_dir}: no epoch checkpoint yet; skipped")
        return "skipped"
    if run.get("status") != "finished":
        say(f"{run_dir}: training status is '{run.get('status')}', not finished; skipped")
        return "skipped"
    wanted = inputs.current(run["task"], backend, max_new_tokens)
    pending = [(k, p) for k, p in found if not epoch_done(run_dir / "eval" / f"epoch-{k}", limit, p, wanted)]
    if not pending and current_scores(run_dir) == run_scores(run_dir, run):
        say(f"{run['run_id']}: up to date" + more_rows_note(run_dir, found, limit))
        return "up to date"  # nothing written, no lock taken
    with RunLock(run_dir):
        run = read_manifest(run_dir)  # again, under the lock: a train --force may have begun meanwhile
        if run.get("status") != "finished":
            say(f"{run_dir}: training status is '{run.get('status')}', not finished; skipped")
            return "skipped"
        found = checkpoints(run_dir)
        pending = [(k, p) for k, p in found if not epoch_done(run_dir / "eval" / f"epoch-{k}", limit, p, wanted)]
        if pending:
            score_epochs(run_dir, run, pending, batch_size=batch_size, backend=backend, limit=limit,
                         max_new_tokens=max_new_tokens, now=wanted)
        scores = write_run_scores(run_dir, run)
    best = scores["best"]
    say(f"{run['run_id']}: best epoch {best['epoch']} by {scores['metric']}" if best else f"{run_dir}: no scores")
    return "scored" if pending else "up to date"


def score_epochs(run_dir: Path, run: dict, pending: list[tuple[int, Path]], *, batch_size: int, backend: str,
                 limit: int | None, max_new_tokens: int | None, now: dict | None = None) -> None:
    """Generate and score each pending epoch checkpoint (the caller holds the run's lock). `now`: the
    inputs (eval.inputs.current) recorded with each epoch's outputs."""
    now = now or inputs.current(run["task"], backend, max_new_tokens)
    spec = RunSpec.parse(run["model"], run["task"], run["lr"], run.get("variant"), run.get("seed"), run.get("trial"))
    # Files first, model after: a stale or damaged predictions file is dealt with before minutes of loading.
    prints = {}
    for epoch, checkpoint in pending:
        out = run_dir / "eval" / f"epoch-{epoch}" / "predictions.jsonl"
        prints[epoch] = fingerprint(checkpoint)
        claim_epoch(out.parent, checkpoint, {**prints[epoch], "inputs": now})
        predictions.repair_tail(out)
        repeated = predictions.dedupe(out)
        if repeated:
            say(f"{out}: {repeated} repeated lines removed (each id kept once)")
        refuse_damaged_weights(run, checkpoint)
    infer_len = spec.model.infer_len
    gen = BACKENDS[backend](base_model_path(spec), spec.model.trust_remote_code, load_in_4bit=spec.load_in_4bit)
    # The evaluation split, prompts cut (article/context only) to the model's inference input maximum;
    # fitted once per model and task (cached), the first `limit` rows with --limit.
    rows, shortened, dropped = eval_prompts(spec, gen.tokenizer).first(limit)
    if shortened or dropped:
        say(f"{run['run_id']}: {shortened} prompts shortened to {infer_len} tokens, {dropped} dropped")
    settings = inputs.settings(spec.task, max_new_tokens)
    for epoch, checkpoint in pending:
        out_dir = run_dir / "eval" / f"epoch-{epoch}"
        clock = time.perf_counter()  # adapter loading, generation and scoring of this epoch
        use_adapter(gen, run, checkpoint)
        generated = predict_epoch(gen, spec.task.name, rows, out_dir / "predictions.jsonl", settings, batch_size)
        wanted = {str(r["id"]) for r in rows}  # an earlier, longer eval may have left more lines
        scored = [r for r in predictions.load_for_scoring(spec.task.name, out_dir / "predictions.jsonl")
                  if str(r["id"]) in wanted]
        metrics = score_rows(spec.task.name, scored)
        n = metrics.pop("n")
        wall = time.perf_counter() - clock
        write_epoch_scores(out_dir / "scores.json", {
            "epoch": epoch, "split": spec.task.eval_split, "n": n, "metrics": metrics,
            "diagnostics": diagnostics(spec.task.name, scored, settings.max_new_tokens),
            "checkpoint": checkpoint.name, "checkpoint_fingerprint": prints[epoch], "prompts_shortened": shortened,
            "prompts_dropped": dropped, "max_new_tokens": settings.max_new_tokens, "backend": backend,
            "limit": limit, "inputs": now,
            # this session's cost of the epoch: a resumed eval generated only what was missing
            "wall_s": round(wall, 3), "generated": generated,
            "examples_per_s": round(generated / wall, 3) if wall > 0 else None})
        say(f"{run['run_id']} epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))


def refuse_damaged_weights(run: dict, checkpoint: Path) -> None:
    """A checkpoint whose adapter file is cut short (a full disk, a copy stopped midway) is this run's
    problem, said in one line before any model loads; the other runs of the same `just eval` go on."""
    why = weights_problem(checkpoint)
    if why:
        raise DataError(f"{checkpoint}: {why}, so epoch scores from it cannot be made; retrain the run "
                        f"(`just train {run['model']} {run['task']} {run['lr']} ... --force`)")


def use_adapter(gen, run: dict, checkpoint: Path) -> None:
    """Load the epoch's adapter; weights the loader refuses (a damage the header check cannot see) are a
    one-line problem of this run, not a traceback."""
    try:
        gen.use_adapter(str(checkpoint))
    except Exception as e:  # noqa: BLE001 - only the weights' loader errors are turned into a run's problem
        if type(e).__name__ != "SafetensorError":
            raise
        raise DataError(f"{checkpoint}: its adapter weights cannot be loaded ({e}); retrain the run "
                        f"(`just train {run['model']} {run['task']} {run['lr']} ... --force`)") from None


def epoch_done(out_dir: Path, limit: int | None, checkpoint: Path | None = None, wanted: dict | None = None) -> bool:
    """Scored already, over the same rows or more, from the checkpoint now in the run folder (when given),
    from the inputs `wanted` (eval.inputs.current, when given): after `--limit 100`, a plain `just eval`
    extends to the whole split (the 100 predictions are kept); `--limit 3` after it keeps the scores over
    the whole split; after a retrain, new data or other generation settings, the epoch is scored again."""
    s = epoch_scores(out_dir)
    if s is None or not inputs.covers(s.get("limit"), limit):
        return False
    if wanted is not None and not inputs.same(s.get("inputs"), wanted):
        return False
    return checkpoint is None or same_checkpoint(s.get("checkpoint_fingerprint"), checkpoint)


def more_rows_note(run_dir: Path, found: list[tuple[int, Path]], limit: int | None) -> str:
    """Said when `--limit N` found epochs scored over more rows: they are kept, not replaced by fewer."""
    if limit is None:
        return ""
    wider = [(epoch_scores(run_dir / "eval" / f"epoch-{k}") or {}).get("n") for k, _ in found]
    wider = [n for n in wider if isinstance(n, int) and n > limit]
    return f" (its epochs are scored on {max(wider)} rows, more than --limit {limit}; kept)" if wider else ""


def find_runs(paths: list[str]) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    root = runs_root()
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
