"""The model registry (`models.yaml`) and the names a user may type: models, learning rates, variants."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


from jaft.common import UsageError, choose
from recipes.architecture import Architecture, from_shape
from prompts.tasks import read_registry, registry_error, registry_files

HERE = Path(__file__).parent
# The paper's four learning rates, written as the paper writes them (and as run ids spell them).
LEARNING_RATES = {"2e-4": 2e-4, "5e-5": 5e-5, "2e-5": 2e-5, "1e-5": 1e-5}
# The paper's VRAM budget: 46,000 MB as nvidia-smi counts MB, i.e. MiB.
DEFAULT_CAP_MB = 46000
VARIANT = re.compile(r"^(len(?P<len>\d+)|full|qlora)$")
VARIANTS_HELP = ("len<N> (train at N tokens, e.g. len1024), full (native context, SDPA, checkpointing), "
                 "qlora (4-bit NF4 base weights, LoRA on the same targets)")


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

    @property
    def facts(self) -> Architecture:
        """The architecture facts the planner counts from (a paper entry's are derived from its shape)."""
        return self.architecture or from_shape(self.arch, self.shape, self.native_context)


def _load() -> dict[str, Model]:
    """models.yaml, then the files in JAFT_MODELS (a user's own models; an entry there replaces ours)."""
    models = {}
    for path in registry_files(HERE / "models.yaml", "JAFT_MODELS"):
        for name, e in read_registry(path).items():
            try:
                models[name] = _model(name, e)
            except (TypeError, KeyError, ValueError) as err:
                raise registry_error(f"{path}: model '{name}': {err}") from None
    return models


def _model(name: str, e: dict) -> Model:
    e = {**e, "lora_targets": tuple(e["lora_targets"])}
    if e.get("architecture") is not None:
        a = e["architecture"] = Architecture(**e["architecture"])
        if a.model_type != e["arch"]:
            raise ValueError(f"arch '{e['arch']}' but architecture.model_type '{a.model_type}'")
        # the planner's short shape, from the facts (one source of truth for an entry that has them)
        e.setdefault("shape", {"hidden": a.hidden_size, "layers": a.num_hidden_layers,
                               "heads": a.num_attention_heads, "intermediate": a.intermediate_size,
                               "vocab": a.vocab_size})
    if e.get("adapter", "lora") not in ("lora", "qlora"):
        raise ValueError(f"adapter '{e['adapter']}'; valid: lora, qlora")
    return Model(name=name, **e)


MODELS: dict[str, Model] = _load()
PAPER_MODELS = tuple(name for name, m in MODELS.items() if m.paper)
GROUPS: dict[str, tuple] = {}
for _m in MODELS.values():
    if _m.group:
        GROUPS.setdefault(_m.group, ())
        GROUPS[_m.group] += (_m.name,)


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
    raise UsageError(f"unknown learning rate '{text}'; valid: {', '.join(LEARNING_RATES)}")


def parse_variant(text: str | None) -> str | None:
    if text in (None, ""):
        return None
    m = VARIANT.match(text)
    if not m or (m.group("len") is not None and int(m.group("len")) < 16):
        raise UsageError(f"unknown variant '{text}'; valid: {VARIANTS_HELP}")
    return text
