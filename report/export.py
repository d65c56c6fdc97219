"""`just export RUN_DIR`: one epoch of a finished run as a PEFT adapter folder that `PeftModel.from_pretrained`
loads with nothing else (and, with --merge, a merged model that transformers loads alone), with a model card.

Examples:
  python -m report.export runs/calm2-jsquad-lr2e-4                  # the epoch the run's scores.json selected
  python -m report.export runs/calm2-jsquad-lr2e-4 --epoch 3 --merge --out exports/calm2-jsquad
  python -m report.export runs/tiny-marc-lr2e-4 --out /tmp/tiny --force    # replace an earlier export

The folder is written beside --out under a temporary name and renamed into place when complete; the run
folder is only read.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from jaft.common import UsageError, atomic_write_json, atomic_write_text, run
from jaft.records import read_epoch_scores, read_scores
from prompts.tasks import get_task
from recipes import checkpoints, get_model, read_manifest, same_checkpoint
from recipes.manifest import adapter_file
from report.card import LLM_JP_EVAL_DATASETS, lm_eval_command, llm_jp_eval_command, model_card, shell, train_command

# What a tokenizer may consist of (Axolotl saves the tokenizer into every checkpoint).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja", "spiece.model")


def parse_epoch(text: str) -> int | str:
    if text == "best":
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise UsageError(f"bad --epoch '{text}'; give an epoch number (1, 2, ...) or best")


def choose_epoch(run_dir: Path, asked: int | str) -> tuple[int, Path, dict | None]:
    """(epoch, checkpoint folder, that epoch's scores or None). `best` is the epoch the run's scores.json
    selected, from the checkpoint now in the folder (scores of a replaced checkpoint do not count)."""
    found = dict(checkpoints(run_dir))
    scores_path = run_dir / "scores.json"
    scores = read_scores(scores_path) if scores_path.is_file() else None
    if asked == "best":
        if not scores or not scores.get("best"):
            raise UsageError(f"{run_dir}: no scored epochs to choose from (run `just eval {run_dir}` first, "
                             f"or give --epoch N of {', '.join(map(str, found))})")
        epoch = scores["best"]["epoch"]
    else:
        epoch = asked
    if epoch not in found:
        raise UsageError(f"{run_dir}: no epoch {epoch}; valid: {', '.join(map(str, found)) or 'none'}")
    checkpoint = found[epoch]
    epoch_file = run_dir / "eval" / f"epoch-{epoch}" / "scores.json"
    mine = read_epoch_scores(epoch_file) if epoch_file.is_file() else None
    if mine and not same_checkpoint(mine.get("checkpoint_fingerprint"), checkpoint):
        if asked == "best":
            raise UsageError(f"{run_dir}: epoch {epoch}'s scores come from another checkpoint than "
                             f"{checkpoint.name} (retrained?); run `just eval {run_dir}` again")
        mine = None
    if mine and asked == "best":
        mine = {**mine, "rule": scores["best"].get("rule")}
    return epoch, checkpoint, mine


def check_out(out: Path, run_dir: Path, force: bool) -> None:
    """Never inside the run folder (nor a folder holding it, which --force would delete); never over an
    existing non-empty folder without --force."""
    o, r = out.resolve(), run_dir.resolve()
    if o == r or r in o.parents or o in r.parents:
        raise UsageError(f"--out {out} is inside the run folder {run_dir} (or holds it); export elsewhere, "
                         f"e.g. --out exports/{run_dir.name}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"--out {out} exists and is not empty; --force to replace it")


def umask_modes(root: Path) -> None:
    """Files and folders get the permissions any new one gets (mkdtemp makes 0700, safetensors 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(root, 0o777 & ~mask)
    for path in root.rglob("*"):
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def write_adapter(checkpoint: Path, dest: Path, base: str) -> None:
    """The adapter's weights and config (naming `base`, not the training machine's path) and the tokenizer."""
    dest.mkdir(parents=True, exist_ok=True)
    weights = adapter_file(checkpoint)
    shutil.copyfile(weights, dest / weights.name)
    config = json.loads((checkpoint / "adapter_config.json").read_text(encoding="utf-8"))
    atomic_write_json(dest / "adapter_config.json", {**config, "base_model_name_or_path": base,
                                                     "inference_mode": True})
    copy_tokenizer(checkpoint, dest)


def copy_tokenizer(src: Path, dest: Path) -> None:
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dest / name)


def write_merged(adapter: Path, dest: Path, base_path: str, model) -> None:
    """Base + adapter merged (`merge_and_unload`), saved as safetensors in bf16 (the paper models' dtype; the
    CPU-only tiny model keeps its float32)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    dtype = torch.float32 if model.cpu else torch.bfloat16
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype, trust_remote_code=model.trust_remote_code)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(dest, safe_serialization=True)
    copy_tokenizer(adapter, dest)


def export(run_dir: Path, *, epoch: int | str = "best", out: Path | None = None, merge: bool = False,
           force: bool = False) -> Path:
    """Write the export folder; returns it. Every refusal comes before anything is written."""
    if not run_dir.is_dir():
        raise UsageError(f"no such run folder '{run_dir}'")
    manifest = read_manifest(run_dir)
    if not manifest:
        raise UsageError(f"{run_dir}: no run.json, not a jaft run")
    if manifest.get("status") != "finished":
        raise UsageError(f"{run_dir}: training is '{manifest.get('status')}', not finished; finish it with "
                         f"`just train` before exporting")
    k, checkpoint, scores = choose_epoch(run_dir, epoch)
    out = out or Path("exports") / f"{manifest['run_id']}-epoch{k}"
    check_out(out, run_dir, force)
    model, task = get_model(manifest["model"]), get_task(manifest["task"])
    # What the adapter names as its base: the hub id, or (the tiny model) the local folder it trained on.
    base = model.hub_id or json.loads((checkpoint / "adapter_config.json").read_text(encoding="utf-8"))[
        "base_model_name_or_path"]
    recipe = run_dir / "recipe.yaml"
    card = model_card(run=manifest, model=model, task=task, epoch=k, scores=scores, split=task.eval_split,
                      base=base, recipe_text=recipe.read_text(encoding="utf-8") if recipe.is_file() else "",
                      command=train_command(recipe), merged=merge, checkpoint=checkpoint.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        write_adapter(checkpoint, tmp, base)
        atomic_write_text(tmp / "README.md", card)
        if merge:
            write_merged(tmp, tmp / "merged", base, model)
            atomic_write_text(tmp / "merged" / "README.md", card.replace("library_name: peft", "library_name: "
                                                                          "transformers"))
        umask_modes(tmp)
        old = None
        if out.exists():  # --force (check_out refused the rest): the old export goes only once the new is in
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
        tmp.rename(out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def commands(out: Path, base: str, task: str, merged: bool) -> str:
    adapter = str(out.resolve())
    merged_dir = str(out.resolve() / "merged")
    lines = ["evaluate it with lm-evaluation-harness (its own prompts and few-shot settings, not jaft's):",
             "  " + shell(lm_eval_command(base, adapter, None, task))]
    if merged:
        lines += ["  " + shell(lm_eval_command(base, None, merged_dir, task))]
    where = "" if task in LLM_JP_EVAL_DATASETS else f" (it has no {task} dataset: `all` runs its own suite)"
    lines += [f"with llm-jp-eval 1.3, in its checkout, on the merged model{where}:"]
    lines += ["  " + shell(llm_jp_eval_command(merged_dir, task)) if merged else
              "  (it loads a plain transformers model: export again with --merge)"]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from jaft.cli import Parser
    ap = Parser(prog="just export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments("export", ap)
    return run_verb("export", ap.parse_args(argv))


def add_arguments(verb: str, ap) -> None:
    from jaft.cli import user_path
    ap.add_argument("run_dir", type=user_path, help="a finished run folder, e.g. runs/calm2-marc-lr2e-4")
    ap.add_argument("--epoch", default="best", help="an epoch number, or best (default: the epoch the run's "
                                                    "scores.json selected)")
    ap.add_argument("--merge", action="store_true", help="also write the merged model into OUT/merged/")
    ap.add_argument("--out", type=user_path, help="the export folder (default exports/<run-id>-epoch<k>)")
    ap.add_argument("--force", action="store_true", help="replace an existing --out folder")


def run_verb(verb: str, args) -> int:
    out = export(args.run_dir, epoch=parse_epoch(args.epoch), out=args.out, merge=args.merge, force=args.force)
    manifest = read_manifest(args.run_dir)
    config = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    print(f"[jaft export] {out}: PEFT adapter" + (", merged model in merged/" if args.merge else "")
          + ", README.md model card", file=sys.stderr)
    print(commands(out, config["base_model_name_or_path"], manifest["task"], args.merge))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
