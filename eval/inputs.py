"""What an epoch's predictions are made from besides the checkpoint: the evaluation data and the generation
settings. Both are recorded with every epoch's outputs (`eval/epoch-<k>/checkpoint.json` and `scores.json`,
key "inputs"), as the checkpoint's fingerprint is; predictions made from other data or with other settings
are set aside (`eval/stale-epoch-<k>`) and made again, never mixed with new ones or kept as if current.

Example: `just eval --max-new-tokens 2` on a run scored with the task's 8 evaluates every epoch again;
`just data marc` with changed labels, then `just eval`, does the same.
"""
from __future__ import annotations

from eval.generate import GenSettings
from jaft.common import DataError
from prompts import get_task
from prompts.data import split_path
from prompts.fit_cache import FIT_RULE, file_sha256

GENERATION_RULE = 1  # bump when eval/generate.py would generate differently from the same settings


def settings(task, max_new_tokens: int | None) -> GenSettings:
    """The task's generation settings (prompts/tasks.yaml), `--max-new-tokens` overriding its length."""
    s = GenSettings.of(task)
    return GenSettings(max_new_tokens, s.stop_strings) if max_new_tokens else s


def current(task_name: str, backend: str, max_new_tokens: int | None) -> dict:
    """The inputs an eval with these options uses now. The data is the evaluation split's file as `just
    data` wrote it (a hash of its bytes) with the template and fitting rule that turn it into prompts; None
    when the file is not there (nothing can be generated, so nothing is compared)."""
    task = get_task(task_name)
    try:
        digest = file_sha256(split_path(task.name, task.eval_split))
    except DataError:
        digest = None
    s = settings(task, max_new_tokens)
    return {"data": {"split": task.eval_split, "sha256": digest, "template_sha256": task.template_hash,
                     "fit_rule": FIT_RULE},
            "generation": {"max_new_tokens": s.max_new_tokens, "stop": list(s.stop_strings), "backend": backend,
                           "rule": GENERATION_RULE}}


def same(recorded, now: dict) -> bool:
    """True when outputs recorded with `recorded` inputs are outputs of `now`'s. A record without inputs (an
    older jaft) is not: its data and settings are unknown."""
    return not differences(recorded, now)


def differences(recorded, now: dict) -> list[str]:
    """What differs, in words, for the line that sets an epoch's outputs aside."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("generation"), dict):
        return ["data and generation settings not recorded (an older jaft)"]
    said = []
    before, after = recorded["generation"], now["generation"]
    said += [f"{k} {before.get(k)!r} -> {after[k]!r}" for k in after if before.get(k) != after[k]]
    if now["data"]["sha256"] is not None and recorded.get("data") != now["data"]:
        said.append(f"{now['data']['split']} data changed since")
    return said


def covers(recorded_limit: int | None, limit: int | None) -> bool:
    """Scores over the first `recorded_limit` rows (None: all) answer an eval of the first `limit`: they are
    over the same or more rows. A smaller --limit never replaces scores over more rows."""
    return recorded_limit is None or (limit is not None and recorded_limit >= limit)
