"""A base model that cannot be loaded, said in one line: which model, why (offline, gated, not found, the
hub unreachable) and what to do, instead of transformers' OSError at the end of a 46-frame traceback.

transformers wraps huggingface_hub's errors in an OSError (`raise OSError(...) from e`); the cause is read
from the chain: `GatedRepoError` (the hub's `X-Error-Code: GatedRepo`), `RepositoryNotFoundError`
(`RepoNotFound`, or a 401 on a repository URL: the hub answers so for a private repo without a login too),
`OfflineModeIsEnabled` / `LocalEntryNotFoundError` (HF_HUB_OFFLINE=1, or no connection, and not cached).

Example: `HF_HUB_OFFLINE=1 HF_HOME=/tmp/empty just prepare calm2 jsquad` prints
`error: model calm2 (cyberagent/calm2-7b) cannot be loaded: offline (HF_HUB_OFFLINE=1) and not in the cache ...`
"""
from __future__ import annotations

import logging
import os

from jaft.common import UsageError


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _name(base_model: str) -> str:
    from recipes.models import MODELS
    names = [m.name for m in MODELS.values() if m.hub_id == base_model]
    return f"model {names[0]} ({base_model})" if names else f"model {base_model}"


def _cache() -> str:
    from huggingface_hub import constants
    return constants.HF_HUB_CACHE


def _offline() -> bool:
    from huggingface_hub import constants
    return bool(constants.HF_HUB_OFFLINE)


def _transport(error: BaseException) -> bool:
    """httpx's connection and timeout errors (huggingface_hub's client), without importing httpx."""
    return any(c.__name__ == "TransportError" and c.__module__.startswith("httpx") for c in type(error).__mro__)


def explain(base_model: str, error: BaseException) -> UsageError | None:
    """The one-line error for a failed load of `base_model`, or None when the cause is not the hub's."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    what = f"{_name(base_model)} cannot be loaded"
    page = f"{constants.ENDPOINT}/{base_model}"
    cache = f"HF_HOME pointing at a cache that holds it (now {_cache()})"
    for e in _chain(error):
        if isinstance(e, GatedRepoError):  # a subclass of RepositoryNotFoundError: first
            return UsageError(f"{what}: it is gated and this machine has no access to it; accept its terms at "
                              f"{page}, then `hf auth login` (or set HF_TOKEN), or use {cache}")
        if isinstance(e, RevisionNotFoundError):
            return UsageError(f"{what}: the hub has no such revision of it ({page}); check the hub id and "
                              f"revision in recipes/models.yaml")
        if isinstance(e, RepositoryNotFoundError):
            return UsageError(f"{what}: not found on the hub ({page}); check the hub id in recipes/models.yaml "
                              f"(a private model needs `hf auth login` or HF_TOKEN)")
        if isinstance(e, (OfflineModeIsEnabled, LocalEntryNotFoundError)) and _offline():
            return UsageError(f"{what}: offline (HF_HUB_OFFLINE=1) and not in the cache; download it once "
                              f"online (unset HF_HUB_OFFLINE), or use {cache}")
        if isinstance(e, (OfflineModeIsEnabled, LocalEntryNotFoundError, ConnectionError)) or _transport(e) or (
                isinstance(e, RuntimeError) and "client has been closed" in str(e)):  # httpx after a failed retry
            return UsageError(f"{what}: the hub ({constants.ENDPOINT}) cannot be reached and it is not in the "
                              f"cache; connect, or use {cache}")
    return None


def load_or_explain(base_model: str, load):
    """`load()` (a from_pretrained of `base_model`), its hub failures turned into one line (UsageError).
    huggingface_hub's retry warnings ("Retrying in 1s [Retry 1/5]") are held back meanwhile: the one line
    says what happened, after the retries."""
    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)
    try:
        return load()
    except Exception as e:  # transformers' OSError, or huggingface_hub's own error unwrapped
        if os.path.isdir(base_model):  # a local model folder: its own error says what is wrong with it
            raise
        explained = explain(base_model, e)
        if explained is None:
            raise
        raise explained from None
    finally:
        hub_log.setLevel(level)
