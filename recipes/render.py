"""RunSpec -> Axolotl config: the Jinja template rendered to a dict, checked, dumped with PyYAML."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import jinja2
import yaml

from jaft.common import atomic_write_text, quiet_stderr
from jaft.common import UsageError
from recipes.axolotl_keys import OWNED_KEYS, check_key, check_values
from recipes.gate import GATE_DIR
from recipes.runs import DEFAULT_SEED, RunSpec
from recipes.models import DEFAULT_CAP_MB

HERE = Path(__file__).parent
# Choices the paper does not state: Axolotl's LoRA-example conventions (docs/scoring.md, "conventions").
DEFAULTS = {
    "lora": {"r": 16, "alpha": 32, "dropout": 0.05},
    "num_epochs": 10,
    "optimizer": "adamw_torch",
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.03,
    "micro_batch_size": 1,
    "gradient_accumulation_steps": 4,
    "seed": DEFAULT_SEED,  # the run's `--seed` replaces it (recipes/runs.py)
    "logging_steps": 10,
    "excess_length_strategy": "raise",
}


def yaml_scalar(value) -> str:
    """One value as PyYAML writes it, on one line (flow style): what yaml.safe_load reads back unchanged."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 30)
    return text.removesuffix("\n...\n").strip()


ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE), undefined=jinja2.StrictUndefined,
                         keep_trailing_newline=True)
ENV.filters["yaml"] = yaml_scalar


def base_model_path(spec: RunSpec) -> str:
    if spec.model.hub_id:
        return spec.model.hub_id
    from recipes.tiny import ensure_tiny
    return str(ensure_tiny(spec.model.name))


def recipe_dict(spec: RunSpec, *, epochs: int | None = None, cap_mb: int = DEFAULT_CAP_MB,
                deepspeed: str | None = None, base_model: str | None = None) -> dict:
    run_dir = spec.dir
    # The cap holds in the training process; whole epochs make `num_epochs` mean what it says.
    plugins = ["recipes.vram_cap.VramCapPlugin", "recipes.whole_epochs.WholeEpochsPlugin"]
    if spec.liger:
        plugins.append("axolotl.integrations.liger.LigerPlugin")
    gate = {}
    if spec.trial is not None:  # a tuning trial: each epoch waits for the tuner's verdict (prune or go on)
        plugins.append("recipes.epoch_gate.EpochGatePlugin")
        gate = {"epoch_gate_dir": str(run_dir / GATE_DIR)}
    context = {
        **DEFAULTS,
        "lora": {**DEFAULTS["lora"], "targets": list(spec.model.lora_targets)},
        "base_model": base_model or base_model_path(spec),
        "trust_remote_code": spec.model.trust_remote_code,
        "train_file": str(run_dir / "data" / "train.jsonl"),
        "validation_file": str(run_dir / "data" / "validation.jsonl"),
        "prepared_path": str(run_dir / "prepared"),
        "output_dir": str(run_dir),
        "sequence_len": spec.sequence_len,
        "num_epochs": epochs or DEFAULTS["num_epochs"],
        "learning_rate": spec.learning_rate,
        "seed": spec.seed,
        # bf16 on GPUs as the paper's models ship (QLoRA computes in bf16); the CPU-only tiny models train in fp32.
        "bf16": False if spec.model.cpu else (True if spec.load_in_4bit else "auto"),
        "adapter": "qlora" if spec.load_in_4bit else "lora",
        "load_in_4bit": spec.load_in_4bit,
        "attn_implementation": spec.attn_implementation,
        "gradient_checkpointing": spec.gradient_checkpointing,
        "liger": spec.liger,
        "deepspeed": deepspeed,
        "plugins": plugins,
        "vram_cap_mb": cap_mb,
    }
    cfg = yaml.safe_load(ENV.get_template("recipe.yaml.j2").render(**context))
    return {**cfg, **gate, **spec.model.recipe_overrides}


def owner(key: str) -> str:
    """The argument that gives an owned key, as the refusal names it (the LR argument with the grid's rates)."""
    if key == "learning_rate":
        from recipes.models import LEARNING_RATES
        return f"{OWNED_KEYS[key]} (one of {', '.join(LEARNING_RATES)})"
    return OWNED_KEYS[key]


def apply_overrides(cfg: dict, overrides: list[str]) -> dict:
    """`--set key=value` (value read as YAML): for the choices the paper leaves open."""
    for item in overrides or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"bad --set '{item}'; expected KEY=VALUE, e.g. micro_batch_size=2")
        if key in OWNED_KEYS:
            raise UsageError(f"--set {key} is refused: {key} is given by {owner(key)}, "
                             f"so that the run id and run.json say what it trains with")
        check_key(key)  # a key Axolotl does not know would be written and silently ignored
        try:
            cfg[key] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise UsageError(f"bad --set '{item}': the value is not valid YAML "
                             f"({getattr(e, 'problem', None) or type(e).__name__})") from None
    check_values(cfg)
    return cfg


def option_args(*, epochs=None, overrides=(), deepspeed=None, cap_mb=None) -> list[str]:
    """The command-line options that change a recipe, spelled as a user types them (for the header)."""
    args = (["--epochs", str(epochs)] if epochs else []) + (["--cap-mb", str(cap_mb)] if cap_mb else [])
    args += ["--deepspeed", deepspeed] if deepspeed else []
    for item in overrides or []:
        args += ["--set", item]
    return args


def header(spec: RunSpec, options: list[str]) -> str:
    args = [spec.model.name, spec.task.name, spec.lr] + (["--variant", spec.variant] if spec.variant else [])
    args += ["--seed", str(spec.seed)] if spec.seed != DEFAULT_SEED else []
    args += ["--trial", str(spec.trial)] if spec.trial is not None else []
    line = " ".join(shlex.quote(a) for a in args + list(options))
    return (f"# jaft run {spec.id}: written by `just render {line}`\n"
            f"# train it with `just train {line}` (do not edit: re-render instead)\n")


def write_recipe(spec: RunSpec, cfg: dict, options: list[str] = ()) -> Path:
    text = header(spec, options) + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
    return atomic_write_text(spec.dir / "recipe.yaml", text)


def build_recipe(spec: RunSpec, *, force: bool = False, epochs: int | None = None, overrides=(),
                 deepspeed: str | None = None, cap_mb: int | None = None, base_model: str | None = None,
                 axolotl_check: bool = True) -> dict:
    """The run's config, overrides applied, checked by the memory planner (a recipe predicted not to fit its
    VRAM cap is refused; with `force`, a warning) and, with `axolotl_check`, by Axolotl's own schema.

    `just render` passes axolotl_check=False: importing Axolotl takes ~20 s on 2 cores, and a user fixing a
    typo should not wait for it; `just train` checks with Axolotl before anything trains."""
    from recipes.architecture import attention_refusal
    from recipes.memory import check_fits, what_fits

    cfg = apply_overrides(recipe_dict(spec, epochs=epochs, deepspeed=deepspeed, base_model=base_model,
                                      cap_mb=cap_mb or DEFAULT_CAP_MB), overrides)
    wrong_attention = attention_refusal(spec.model.name, spec.model.facts, cfg)
    if wrong_attention:  # not a memory question: --force does not write it
        raise UsageError(wrong_attention)
    if axolotl_check:
        validate(cfg)
    reason = check_fits(spec.model, cfg)
    if reason:  # the planner's answer: the variants that do fit, with the same options
        reason += "; " + what_fits(spec, lambda other, sets: apply_overrides(recipe_dict(
            other, epochs=epochs, deepspeed=deepspeed, base_model=base_model, cap_mb=cap_mb or DEFAULT_CAP_MB),
            [*overrides, *sets]))
    if reason and not force:
        raise UsageError(reason + "; --force to write it anyway")
    if reason:
        print(f"warning: {reason}", file=sys.stderr)
    return cfg


def validate(cfg: dict):
    """Axolotl's own schema check (plugins registered first, as `axolotl train` does). Its import's library
    chatter stays off the terminal; validate_config's own warnings about the recipe do not."""
    with quiet_stderr():
        from axolotl.utils.config import prepare_plugins, validate_config
        from axolotl.utils.dict import DictDefault
        prepare_plugins(DictDefault(dict(cfg)))  # imports the plugins' modules: chatter of the same kind
    try:
        return validate_config(DictDefault(yaml.safe_load(yaml.safe_dump(cfg))))
    except ValueError as e:  # pydantic's ValidationError is one: a value --set gave that Axolotl refuses
        raise UsageError(f"Axolotl refuses the recipe: {refusal_text(e)}") from None


def refusal_text(error: ValueError) -> str:
    """One line from Axolotl's validation error: each bad key, what is wrong, the value given."""
    details = getattr(error, "errors", None)
    if not callable(details):
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    parts = []
    for err in details():
        where = ".".join(str(x) for x in err.get("loc", ())) or "recipe"
        given = repr(err.get("input"))
        parts.append(f"{where}: {err.get('msg', '?')} (got {given if len(given) <= 60 else given[:57] + '...'})")
    return "; ".join(parts).replace("\n", " ")
