"""The model registry (`models.yaml`) and the names a user may type: models, learning rates, variants."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


from jaft.common import UsageError, choose
from prompts.tasks import read_registry, registry_error, registry_files

HERE = Path(__file__).parent
# The paper's four learning rates, written as the paper writes them (and as run ids spell them).
LEARNING_RATES = {"2e-4": 2e-4, "5e-5": 5e-5, "2e-5": 2e-5, "1e-5": 1e-5}
# The paper's VRAM budget: 46,000 MB as nvidia-smi counts MB, i.e. MiB.
DEFAULT_CAP_MB = 46000
VARIANT = re.compile(r"^(len(?P<len>\d+)|full)$")
VARIANTS_HELP = "len<N> (train at N tokens, e.g. len1024), full (native context, SDPA, checkpointing)"


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
    license: str | None = None  # the base model's licence (the export's model card names it)


def _load() -> dict[str, Model]:
    """models.yaml, then the files in JAFT_MODELS (a user's own models; an entry there replaces ours)."""
    models = {}
    for path in registry_files(HERE / "models.yaml", "JAFT_MODELS"):
        for name, e in read_registry(path).items():
            try:
                models[name] = Model(name=name, **{**e, "lora_targets": tuple(e["lora_targets"])})
            except (TypeError, KeyError) as err:
                raise registry_error(f"{path}: model '{name}': {err}") from None
    return models


MODELS: dict[str, Model] = _load()
PAPER_MODELS = tuple(name for name, m in MODELS.items() if m.paper)


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
