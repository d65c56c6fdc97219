"""What an exported run says about itself: the model card (README.md) and the commands that evaluate the export
with lm-evaluation-harness and llm-jp-eval.

Example: `python -m report.export runs/calm2-jsquad-lr2e-4` writes the card and prints the commands.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

# jaft task -> lm-evaluation-harness 0.4.11 task (lm_eval/tasks/japanese_leaderboard/<name>.yaml)
LM_EVAL_TASKS = {"marc": "ja_leaderboard_marc_ja", "jsquad": "ja_leaderboard_jsquad", "xlsum": "ja_leaderboard_xlsum"}
# jaft task -> llm-jp-eval 1.3 `target_dataset` (it has JSQuAD; MARC-ja and XL-Sum are not among its datasets)
LLM_JP_EVAL_DATASETS = {"jsquad": "jsquad"}


def train_command(recipe: Path) -> str | None:
    """The `just train ...` line of the recipe's header (recipes/render.py writes it), or None."""
    try:
        lines = recipe.read_text(encoding="utf-8").splitlines()[:3]
    except OSError:
        return None
    for line in lines:
        if line.startswith("# train it with `"):
            return line.split("`")[1]
    return None


def lm_eval_command(base: str, adapter: str | None, merged: str | None, task: str) -> list[str]:
    """lm-evaluation-harness on the export: the base model plus the adapter (`peft=`), or the merged model."""
    args = f"pretrained={merged},dtype=bfloat16" if merged else f"pretrained={base},peft={adapter},dtype=bfloat16"
    return ["lm_eval", "--model", "hf", "--model_args", args, "--tasks", LM_EVAL_TASKS[task],
            "--batch_size", "auto", "--output_path", "lm-eval-results"]


def llm_jp_eval_command(merged: str, task: str) -> list[str]:
    """llm-jp-eval 1.3 (run in its own checkout: `scripts/evaluate_llm.py`, Hydra overrides); it loads a plain
    transformers model, so it is given the merged folder."""
    return ["python", "scripts/evaluate_llm.py", "-cn", "config.yaml",
            f"model.pretrained_model_name_or_path={merged}", f"tokenizer.pretrained_model_name_or_path={merged}",
            f"target_dataset={LLM_JP_EVAL_DATASETS.get(task, 'all')}", "dataset_dir=/path/to/dataset_dir"]


def shell(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def _table(metrics: dict) -> list[str]:
    return ["| metric | value |", "|---|---|"] + [f"| {k} | {v:.4f} |" for k, v in metrics.items()]


def model_card(*, run: dict, model, task, epoch: int, scores: dict | None, split: str, base: str,
               recipe_text: str, command: str | None, merged: bool, checkpoint: str) -> str:
    """The export's README.md: where it came from, under which licences, how well it did."""
    source = task.source or {}
    dataset = run.get("dataset") or {}
    origin = dataset.get("origin")
    data_origin = (", ".join(f"{k} {v}" for k, v in origin.items()) if isinstance(origin, dict)
                   else origin or dataset.get("kind") or "unknown")
    lines = [
        "---",
        f"base_model: {base}",
        "library_name: peft",
        "license: other  # the base model's and the training data's licences both apply: see below",
        "tags: [jaft, lora, japanese]",
        "---",
        "",
        f"# {run['run_id']}, epoch {epoch}",
        "",
        f"A LoRA adapter for **{model.display}** (`{base}`), fine-tuned by jaft on **{task.title}** "
        f"(task `{task.name}`)"
        + (", with the adapter merged into the base weights in `merged/`." if merged else "."),
        "",
        "## Licences",
        "",
        f"- Base model `{base}`: {model.license or 'not recorded in recipes/models.yaml: check its model card'}.",
        f"- Training data, {task.title}: {source.get('licence') or 'not recorded in prompts/tasks.yaml'}.",
        "",
        "The adapter is derived from both: use it only as both licences allow"
        + (" (XL-Sum's is non-commercial)." if "NC" in (source.get("licence") or "") else "."),
        "",
        "## Training",
        "",
        f"- learning rate {run.get('lr')} ({run.get('learning_rate')}), seed {run.get('seed')}, "
        f"epoch {epoch} of {run.get('num_epochs')} (checkpoint `{checkpoint}`)",
        f"- LoRA r {run.get('lora_r')}, alpha {run.get('lora_alpha')}, dropout {run.get('lora_dropout')}, "
        f"targets {', '.join(run.get('lora_target_modules') or [])}; sequence length {run.get('sequence_len')}",
        f"- data: {data_origin} (version {dataset.get('version') or 'local'}), prompt template "
        f"`{run.get('prompt_template')}` (sha256 {run.get('prompt_template_sha256')})",
        f"- trained by: `{command or 'unknown (recipe header missing)'}`",
        "- packages: " + ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items()),
        "",
        f"## Scores of this epoch ({split} split, jaft's generation and metrics)",
        "",
    ]
    if scores:
        lines += _table(scores["metrics"]) + ["", f"n = {scores.get('n')}" + (
            f"; the epoch jaft selected ({scores['rule']})" if scores.get("rule") else "")]
    else:
        lines += ["Not scored: run `just eval` on the run folder."]
    lines += ["", "## The recipe (Axolotl config it trained with)", "", "```yaml", recipe_text.rstrip("\n"), "```",
              "", "## run.json facts", "", "```json",
              json.dumps({k: run.get(k) for k in ("run_id", "model", "task", "lr", "variant", "seed", "base_model",
                                                   "started", "finished", "cost")}, ensure_ascii=False, indent=2),
              "```", ""]
    return "\n".join(lines)
