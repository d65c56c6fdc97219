"""Recipes: render and train runs of the grid.

Examples:
  python -m recipes render calm2 xlsum 2e-4 --variant len1024   # print the recipe's path
  python -m recipes train calm2 marc 2e-4                       # real Axolotl training
  python -m recipes prepare calm2 xlsum --variant len1024       # fit and cache a run's rows (`just prepare`)
  python -m recipes train calm2 marc 2e-4 --seed 43             # another seed: runs/calm2-marc-lr2e-4-s43
  python -m recipes plan llmjp-13b                              # the memory plan (`just plan`)
  python -m recipes tiny                                        # build the local test model
"""
from __future__ import annotations

import sys

from jaft.cli import at_least_one, package_main, user_path
from jaft.common import UsageError, choose, run
from prompts.tasks import TASKS
from recipes import manifest
from recipes.lock import RunLock
from recipes.models import LEARNING_RATES, MODELS, VARIANTS_HELP
from recipes.runs import DEFAULT_SEED, RunSpec


def _run_args(p) -> None:
    p.add_argument("model", help=f"one of {', '.join(MODELS)}")
    p.add_argument("task", help=f"one of {', '.join(TASKS)}")
    p.add_argument("lr", help=f"one of {', '.join(LEARNING_RATES)}")
    p.add_argument("--variant", help=VARIANTS_HELP)
    p.add_argument("--seed", help=f"training seed (default {DEFAULT_SEED}); another seed adds -s<N> to the run id")
    p.add_argument("--epochs", type=at_least_one, help="override the paper's 10 epochs (the demo uses fewer)")
    p.add_argument("--trial", help="a trial of `just tune` (run id <model>-<task>-tune-<N>, any LR; its epochs "
                                   "wait for the tuner's verdict, recipes/epoch_gate.py)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any recipe key (value read as YAML), e.g. --set micro_batch_size=2")
    p.add_argument("--deepspeed", type=lambda t: str(user_path(t)),
                   help="a DeepSpeed config for one run over several GPUs, "
                                       "e.g. recipes/deepspeed/zero2.json")
    p.add_argument("--cap-mb", type=at_least_one, help="VRAM cap in MB (MiB); default 46000, the paper's")
    p.add_argument("--force", action="store_true",
                   help="overwrite a finished run; write a recipe the memory planner says exceeds the cap")
    if p.prog.endswith(" train"):
        p.add_argument("--track", metavar="TRACKER", help="mlflow or wandb: log the run to an experiment tracker "
                                                          "(default: JAFT_TRACK, else off; docs/tracking.md)")


def add_arguments(verb: str, p) -> None:
    """render, train: a run's arguments; prepare: MODEL TASK [--variant] (the rows every lr shares); tiny."""
    if verb in ("render", "train"):
        _run_args(p)
    elif verb == "tiny":
        p.add_argument("name", nargs="?", default="tiny", help="tiny, tiny-qwen3, tiny-qwen2, tiny-gemma2 or tiny-gpt2")
    elif verb == "prepare":
        p.add_argument("model", help=f"one of {', '.join(MODELS)}")
        p.add_argument("task", help=f"one of {', '.join(TASKS)}")
        p.add_argument("--variant", help=VARIANTS_HELP)
        p.add_argument("--show", metavar="ID", help="print the row with this id as fitted: prompt and response, "
                                                    "as trained (and the eval prompt)")


def main(argv: list[str]) -> int:
    """`python -m recipes VERB ...`: the package's verbs (`plan` included), as `jaft VERB ...`."""
    return package_main("recipes.__main__", "python -m recipes", argv)


def run_verb(verb: str, args) -> int:
    args.verb = verb

    if args.verb == "tiny":
        from recipes.models import GROUPS
        from recipes.tiny import ensure_tiny
        print(ensure_tiny(choose("tiny model", args.name, ("tiny", *GROUPS["twins"]))))
        return 0
    if args.verb == "prepare":
        from recipes.rows import prepare
        spec = RunSpec.parse(args.model, args.task, next(iter(LEARNING_RATES)), args.variant)  # rows: any lr
        print(f"{spec.model.name} {spec.task.name}{' ' + spec.variant if spec.variant else ''}: rows fitted with "
              f"the model's tokenizer, cached for every run and evaluation that reads them")
        lines, shown = prepare(spec, show=args.show)
        for line in lines:
            print("  " + line)
        for line in shown:
            print(line)
        return 0
    spec = RunSpec.parse(args.model, args.task, args.lr, args.variant, args.seed, args.trial)
    if args.verb == "render":
        from recipes.render import build_recipe, option_args, write_recipe
        # Never rewrite the recipe of a training or eval in progress (a new run's folder is made last).
        lock = RunLock(spec.dir)
        try:
            lock.acquire_if_present()
            if not args.force and manifest.read(spec.dir).get("status") == "finished":
                raise UsageError(f"run {spec.id} already finished; its recipe stays as trained (--force to rewrite)")
            if not args.force and manifest.has_checkpoints(spec.dir):
                # Its recipe.yaml (header included) is what the checkpoints were trained with; `just train`
                # resumes from it, and points the user at that header when options differ.
                raise UsageError(f"run {spec.id} has checkpoints (status "
                                 f"'{manifest.read(spec.dir).get('status', 'unknown')}'); its recipe.yaml stays as "
                                 f"trained: `just train` with the options in its header resumes it (--force to "
                                 f"rewrite)")
            # Axolotl's schema (a ~20 s import) checks a rendered recipe only when `--set` changed it: jaft's
            # own recipe is checked by the tests; `train` always checks before anything trains.
            cfg = build_recipe(spec, force=args.force, epochs=args.epochs, overrides=args.overrides,
                               deepspeed=args.deepspeed, cap_mb=args.cap_mb, axolotl_check=bool(args.overrides))
            if lock.fd is None:
                lock.acquire()
            print(write_recipe(spec, cfg, option_args(epochs=args.epochs, overrides=args.overrides,
                                                      deepspeed=args.deepspeed, cap_mb=args.cap_mb)))
        finally:
            lock.release()
        return 0
    from recipes.supervise import Interrupted
    from recipes.tracking import requested
    from recipes.train import train
    try:
        return train(spec, force=args.force, epochs=args.epochs, overrides=args.overrides,
                     deepspeed=args.deepspeed, cap_mb=args.cap_mb, track=requested(args.track))
    except Interrupted as stopped:  # recorded as interrupted; end as the signal would have
        return stopped.die()


if __name__ == "__main__":
    sys.exit(run(main))
