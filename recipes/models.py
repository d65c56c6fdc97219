"""The model registry (`models.yaml`) and the names a user may type: models, learning rates, variants."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from jaft.common import UsageError, choose, did_you_mean
from jaft.records import Grid, ModelEntry, check, one_line
from prompts.tasks import Names, Registry, load_entries, registry_error, registry_files
from recipes.architecture import Architecture, from_shape
from recipes.axolotl_keys import OWNED_KEYS, check_values, valid_keys

HERE = Path(__file__).parent
# The paper's VRAM budget: 46,000 MB as nvidia-smi counts MB, i.e. MiB.
DEFAULT_CAP_MB = 46000
# `just eval`'s default batch (prompts generated at once; on an out-of-memory it halves): what the planner
# sizes a model's inference length for (recipes.memory.infer_len).
EVAL_BATCH = 16
VARIANT = re.compile(r"^(len(?P<len>\d+)|full|qlora|lora)$")
VARIANTS_HELP = ("len<N> (train at N tokens, e.g. len1024), full (native context, SDPA, checkpointing), "
                 "qlora (4-bit NF4 base weights, LoRA on the same targets), lora (bf16 base weights, for an entry "
                 "whose plain recipe is QLoRA)")


@dataclass(frozen=True)
class Model:
    name: str
    hub_id: str | None
    display: str
    arch: str
    size: str
    shape: dict
    lora_targets: tuple
    native_context: int
    train_len: int
    infer_len: int
    liger: bool
    trust_remote_code: bool
    cpu: bool = False
    paper_attn: str = "eager"   # attention of the paper-length recipes (13B: sdpa, see models.yaml)
    recipe_overrides: dict = field(default_factory=dict)  # recipe keys this model changes (tiny only)
    paper: bool = False         # one of the paper's models: in the default grid and every table
    paper_variants: dict = field(default_factory=dict)    # task -> extra variants of the grid
    architecture: Architecture | None = None  # config.json facts (successors, twins); else from `shape`
    group: str | None = None    # a name `just sweep --models` expands (e.g. successors)
    license: str | None = None
    adapter: str = "lora"       # "qlora": the plain recipe already loads the base in 4 bits (calm3-22b)
    registry_file: Path = HERE / "models.yaml"  # the file that defines it: errors about the entry name it

    @property
    def facts(self) -> Architecture:
        """The architecture facts the planner counts from (a paper entry's are derived from its shape)."""
        return self.architecture or from_shape(self.arch, self.shape, self.native_context)


def model_files() -> list[Path]:
    from jaft.settings import current
    return registry_files(HERE / "models.yaml", current().model_files)


def build_model(path: Path, name: str, raw) -> Model:
    """One entry of the models file `path`, checked: its keys and closed sets (jaft.records), its
    `architecture` (recipes/architecture.py), its variants and its recipe overrides."""
    where = f"{path}: model '{name}'"
    entry = check(ModelEntry, raw, where)
    for task, variants in entry.paper_variants.items():
        for variant in variants:
            try:
                parse_variant(variant)
            except UsageError as e:
                raise registry_error(f"{where}: key 'paper_variants.{task}': {e}") from None
    for key, value in entry.recipe_overrides.items():
        _check_override(where, key, value)
    try:
        return _model(name, entry.model_dump(exclude_unset=True), path)
    except ValidationError as e:
        raise registry_error(one_line(e, where, Architecture, prefix="architecture")) from None
    except ValueError as e:
        raise registry_error(f"{where}: {e}") from None


def _check_override(where: str, key: str, value) -> None:
    """A recipe key Axolotl does not know would be written and ignored; an impossible value fails later; a
    key an argument owns (learning_rate, seed, ...) would train every run of the model with a value its run
    id and run.json do not show, as `--set` would."""
    if key in OWNED_KEYS:
        raise registry_error(f"{where}: key 'recipe_overrides.{key}': {key} is given by {OWNED_KEYS[key]}, "
                             f"not by a model entry")
    if key not in valid_keys():
        raise registry_error(f"{where}: key 'recipe_overrides.{key}': not a key Axolotl knows"
                             f"{did_you_mean(key, valid_keys())} (valid: recipes/axolotl_keys.txt)")
    try:
        check_values({key: value})
    except UsageError as e:
        raise registry_error(f"{where}: key 'recipe_overrides.{key}': {e}") from None


def _model(name: str, e: dict, path: Path) -> Model:
    e = {**e, "lora_targets": tuple(e["lora_targets"]), "registry_file": path}
    if e.get("architecture") is not None:
        a = e["architecture"] = Architecture(**e["architecture"])
        if a.model_type != e["arch"]:
            raise ValueError(f"key 'arch': '{e['arch']}' but architecture.model_type '{a.model_type}'")
        # the planner's short shape, from the facts (one source of truth for an entry that has them)
        e.setdefault("shape", {"hidden": a.hidden_size, "layers": a.num_hidden_layers,
                               "heads": a.num_attention_heads, "intermediate": a.intermediate_size,
                               "vocab": a.vocab_size})
    return Model(name=name, **e)


def grid_files() -> list[Path]:
    from jaft.settings import current
    return [current().grid_file or HERE / "grid.yaml"]


def _load_grid(files) -> dict[str, float]:
    """The grid's learning rates (recipes/grid.yaml, or JAFT_GRID): spelling -> value, in column order."""
    path = files[0]
    grid = check(Grid, read_registry_file(path), f"{path}")
    return {text: float(text) for text in grid.learning_rates}


def read_registry_file(path: Path) -> dict:
    import yaml
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read the grid ({type(e).__name__})") from None


def _groups(models) -> dict[str, tuple]:
    groups: dict[str, tuple] = {}
    for m in models.values():
        if m.group:
            groups[m.group] = groups.get(m.group, ()) + (m.name,)
    return groups


MODELS: Mapping[str, Model] = Registry(model_files, lambda files: load_entries(files, build_model))
# The learning rates of the grid, as the paper writes them (and as run ids spell them): registry data.
LEARNING_RATES: Mapping[str, float] = Registry(grid_files, _load_grid)
# The paper's models (the default grid, a row of every table), in registry order.
PAPER_MODELS: Sequence[str] = Names(lambda: tuple(name for name, m in MODELS.items() if m.paper))
# group name (`successors`) -> its models, in registry order
GROUPS: Mapping[str, tuple] = Registry(model_files, lambda files: _groups(MODELS))


def expand_models(names) -> list[str]:
    """Model names with any group name (`successors`) replaced by its members, in registry order."""
    out = []
    for name in names:
        for m in GROUPS.get(name, (name,)):
            if m not in out:
                out.append(m)
    return out


def get_model(name: str) -> Model:
    return MODELS[choose("model", name, MODELS)]


def parse_lr(text: str) -> str:
    """The canonical spelling of a paper learning rate ('2e-4'); '0.0002' is accepted too."""
    if text in LEARNING_RATES:
        return text
    try:
        value = float(text)
    except ValueError:
        value = None
    for name, v in LEARNING_RATES.items():
        if value is not None and abs(value - v) < 1e-12:
            return name
    from jaft.settings import current
    grid = f"JAFT_GRID={current().grid_file}" if current().grid_file else "recipes/grid.yaml"
    raise UsageError(f"unknown learning rate '{text}'; valid: {', '.join(LEARNING_RATES)} (the grid: {grid})")


def parse_variant(text: str | None) -> str | None:
    if text in (None, ""):
        return None
    m = VARIANT.match(text)
    if not m or (m.group("len") is not None and int(m.group("len")) < 16):
        raise UsageError(f"unknown variant '{text}'; valid: {VARIANTS_HELP}")
    return text
