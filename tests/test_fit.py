"""Row fitting at full speed: batched fitting keeps exactly the rows the per-row rule kept, the cache is
shared and invalidated by what it depends on, `just prepare` fills it, training and evaluation read it."""
from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from prompts import fit
from prompts.data import convert, local_split, prepare
from prompts.fit import fit_rows
from prompts.fit_cache import fit_split, tokenizer_identity
from prompts.tasks import TASKS
from recipes import RunSpec, eval_prompts
from tests.conftest import SAMPLES, cli, just


# ---- the rule as it was (commit 74bc22b, prompts/fit.py), kept here verbatim as the reference ----------

def ref_train_length(tokenizer, prompt: str, response: str) -> int:
    return (len(tokenizer(prompt)["input_ids"])
            + len(tokenizer(response, add_special_tokens=False)["input_ids"]) + 1)


def ref_prompt_length(tokenizer, prompt: str, response: str = "") -> int:
    return len(tokenizer(prompt)["input_ids"])


def ref_shorten(task, tokenizer, example: dict, limit: int, measure=ref_train_length):
    total = measure(tokenizer, example["prompt"], example["response"])
    if total <= limit:
        return example, False
    values = dict(example["meta"]["fields"])
    text = values[task.cut_field]
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    keep = len(offsets) - (total - limit)
    response_text = example["references"][0]
    while keep > 0:
        values[task.cut_field] = text[: offsets[keep - 1][1]]
        prompt, response = task.render(values, response_text)
        total = measure(tokenizer, prompt, response)
        if total <= limit:
            meta = {**example["meta"], "fields": values, "cut_chars": len(text) - len(values[task.cut_field])}
            return {**example, "prompt": prompt, "response": response, "meta": meta}, True
        keep -= max(1, total - limit)
    return None, False


REF_MEASURE = {"train": ref_train_length, "prompt": ref_prompt_length}


def reference(task, tokenizer, rows, limit, mode):
    out = [ref_shorten(task, tokenizer, r, limit, REF_MEASURE[mode]) for r in rows]
    return [r for r, _ in out if r is not None], sum(c for _, c in out), sum(r is None for r, _ in out)


# ---- rows ------------------------------------------------------------------------------------------------

def sample_rows(task_name: str) -> list[dict]:
    task = TASKS[task_name]
    return [ex for split in task.splits for ex in convert(task, local_split(task, SAMPLES / task_name, split))[0]]


def synthetic_rows(task_name: str, n: int = 24, seed: int = 0) -> list[dict]:
    """Long rows of kana and kanji the tiny tokenizer never saw (bytes split across tokens, so a cut often
    shifts the count and needs more than one re-check), with a few ASCII words, braces and newlines."""
    rng = random.Random(seed)
    pool = [chr(c) for c in range(0x3041, 0x3094)] + [chr(c) for c in range(0x4E00, 0x4E00 + 800)]
    extra = ["、", "。", "\n", " ", "{x}", "abc ", "2024年"]

    def text(lo: int, hi: int) -> str:
        return "".join(rng.choice(extra) if rng.random() < 0.1 else rng.choice(pool)
                       for _ in range(rng.randint(lo, hi)))
    task = TASKS[task_name]
    if task_name == "xlsum":
        hub = [{"id": f"s{i}", "title": text(3, 15), "summary": text(10, 60), "text": text(20, 900)} for i in range(n)]
    elif task_name == "jsquad":
        def answer_in(context: str) -> str:  # an extractive answer: a stretch of the context, anywhere in it
            while True:
                at = rng.randrange(len(context))
                answer = context[at: at + rng.randint(1, 6)]
                if answer.strip():
                    return answer
        contexts = [text(20, 700) for _ in range(n)]
        hub = [{"id": f"s{i}", "title": "t", "context": c, "question": text(5, 30),
                "answers": {"text": [answer_in(c)], "answer_start": [0]}} for i, c in enumerate(contexts)]
    else:
        hub = [{"review_id": f"s{i}", "sentence": text(5, 500), "label": i % 2} for i in range(n)]
    return convert(task, [(f"synthetic:{i}", r) for i, r in enumerate(hub)])[0]


INFER_LEN = 84
LIMITS = {"xlsum": (512, 160, 100, 300), "jsquad": (512, 70, 50, 200), "marc": (512, 70, 40, 30)}


@pytest.mark.parametrize("mode", ["train", "prompt"])
@pytest.mark.parametrize("task_name", ["marc", "jsquad", "xlsum"])
def test_batched_fitting_keeps_exactly_the_rows_of_the_per_row_rule(tiny_tokenizer, task_name, mode):
    task = TASKS[task_name]
    seen = {"cut": 0, "dropped": 0, "extra rechecks": 0}
    if mode == "train" and task.answers_field:
        seen["cut around the answer"] = 0
    for rows in (sample_rows(task_name), synthetic_rows(task_name)):
        for limit in LIMITS[task_name]:
            got = fit_rows(task, tiny_tokenizer, rows, limit, mode, progress=False)
            # batched == the per-row rule of today, row for row
            per_row = [fit.shorten(task, tiny_tokenizer, r, limit, fit.MEASURES[mode]) for r in rows]
            assert got.rows == [r for r, _ in per_row if r is not None], (limit, mode)
            assert got.dropped_at == [i for i, (r, _) in enumerate(per_row) if r is None]
            assert got.shortened == sum(c for _, c in per_row)
            # ... and == the rule as it was, except where that lost a training row's answer (FIT_RULE 2)
            old = [ref_shorten(task, tiny_tokenizer, r, limit, REF_MEASURE[mode])[0] for r in rows]
            for row, before, (now, _) in zip(rows, old, per_row):
                if mode == "train" and task.answers_field and (
                        before is None or row["references"][0] not in before["meta"]["fields"]["context"]):
                    assert now is None or row["references"][0] in now["meta"]["fields"]["context"]
                else:
                    assert now == before, (row["id"], limit, mode)
            kept, shortened, dropped = reference(task, tiny_tokenizer, rows, limit, mode)
            seen["cut"] += shortened
            seen["dropped"] += dropped
            seen["extra rechecks"] += got.rechecks - got.shortened
            if "cut around the answer" in seen:
                seen["cut around the answer"] += got.around_answer
    assert all(seen.values()), seen  # every path of the rule was taken: cut, dropped, re-checked again


def test_the_tokenizers_own_batch_call_gives_the_same_rows(tiny_tokenizer, monkeypatch):
    """Where calling the Rust tokenizer directly is not proven equal, the tokenizer's batch call is used."""
    monkeypatch.setattr(fit, "_backend", lambda *a: None)
    rows = synthetic_rows("jsquad", 12, seed=3)
    got = fit_rows(TASKS["jsquad"], tiny_tokenizer, rows, 120, "train", progress=False)
    per_row = [fit.shorten(TASKS["jsquad"], tiny_tokenizer, r, 120) for r in rows]
    assert (got.rows, got.shortened) == ([r for r, _ in per_row if r is not None], sum(c for _, c in per_row))


class CountingTokenizer:
    """The tiny tokenizer behind a proxy (so the direct Rust path is not taken), counting calls."""

    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.tokenizer(*args, **kwargs)


def test_rows_are_measured_in_batches_not_one_call_per_row(tiny_tokenizer):
    rows = sample_rows("xlsum")
    counting = CountingTokenizer(tiny_tokenizer)
    got = fit_rows(TASKS["xlsum"], counting, rows, 100, "train", progress=False)
    assert got.shortened > 100 and got.rechecks == got.shortened
    # prompts, responses, cut fields, one re-check round (prompts; responses are remembered): 4 calls,
    # where the per-row rule made 4 per cut row
    assert counting.calls == 4


# ---- the cache ---------------------------------------------------------------------------------------

@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    for name in ("xlsum", "marc"):
        prepare(TASKS[name], SAMPLES / name, root / name)
    monkeypatch.setenv("JAFT_DATA", str(root))
    return root


def test_second_fit_is_a_cache_hit_with_the_same_rows(data, tiny_tokenizer):
    task = TASKS["xlsum"]
    first = fit_split(task, "train", tiny_tokenizer, 100, "train")
    assert not first.hit and first.path.parent == data / "xlsum" / "fitted" and first.shortened > 100
    again = fit_split(task, "train", tiny_tokenizer, 100, "train")
    assert again.hit and again.path == first.path and again.counts == first.counts
    assert again.load() == fit_rows(task, tiny_tokenizer, first_rows(data, "xlsum"), 100, "train").rows
    # another limit, another measure, another split: entries of their own
    assert not fit_split(task, "train", tiny_tokenizer, 160, "train").hit
    assert not fit_split(task, "train", tiny_tokenizer, 100, "prompt").hit
    assert not fit_split(task, "test", tiny_tokenizer, 100, "train").hit
    assert len(list((data / "xlsum" / "fitted").glob("*.jsonl"))) == 4


def first_rows(data: Path, task: str, split: str = "train") -> list[dict]:
    return [json.loads(l) for l in (data / task / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_changed_data_misses_and_replaces_the_old_entry(data, tiny_tokenizer):
    task = TASKS["xlsum"]
    old = fit_split(task, "train", tiny_tokenizer, 100, "train")
    path = data / "xlsum" / "train.jsonl"
    path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:50]), encoding="utf-8")
    new = fit_split(task, "train", tiny_tokenizer, 100, "train")
    assert not new.hit and new.rows + new.dropped == 50 and new.path != old.path
    assert not old.path.exists() and not old.path.with_suffix(".json").exists()


@pytest.mark.parametrize("damage", ["summary", "rows"])
def test_a_damaged_entry_is_computed_again(data, tiny_tokenizer, damage):
    task = TASKS["marc"]
    entry = fit_split(task, "validation", tiny_tokenizer, 40, "train")
    if damage == "summary":
        entry.path.with_suffix(".json").write_text("{")
    else:
        entry.path.write_text(entry.path.read_text()[:100])
    again = fit_split(task, "validation", tiny_tokenizer, 40, "train")
    assert not again.hit and again.counts == entry.counts and again.load() == entry.load()


def test_tokenizer_identity(tiny_model, tiny_tokenizer):
    from transformers import AutoTokenizer
    other_load = AutoTokenizer.from_pretrained(tiny_model)
    assert tokenizer_identity(other_load) == tokenizer_identity(tiny_tokenizer)
    # what evaluation's generator does to its tokenizer does not change how it counts
    other_load.padding_side = "left"
    other_load(["a", "bb"], padding=True, truncation=True, max_length=8)
    assert tokenizer_identity(other_load) == tokenizer_identity(tiny_tokenizer)
    other_load.add_tokens(["見出し"])
    assert tokenizer_identity(other_load) != tokenizer_identity(tiny_tokenizer)


@pytest.mark.parametrize("limit", [None, 1, 7, 30])
def test_eval_prompts_first_n_equal_fitting_the_first_n(data, tiny_tokenizer, limit):
    """`just eval --limit N` took the split's first N rows and fitted them; it now reads the cached fit
    of the whole split: the same rows and counts."""
    spec = RunSpec.parse("tiny", "xlsum", "2e-4")
    spec = replace(spec, model=replace(spec.model, infer_len=INFER_LEN))  # short enough to cut and drop
    whole = eval_prompts(spec, tiny_tokenizer)
    assert whole.shortened and whole.dropped
    rows, shortened, dropped = whole.first(limit)
    source = first_rows(data, "xlsum", "test")[: limit or None]
    assert (rows, shortened, dropped) == reference(TASKS["xlsum"], tiny_tokenizer, source, INFER_LEN, "prompt")


# ---- just prepare, training and evaluation share the rows --------------------------------------------------

def test_just_prepare_fits_caches_and_reports(workdir):
    proc = just("prepare", "tiny", "xlsum", "--variant", "len100", cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert any(l.strip().startswith("train      training, 100 tokens: 120 rows kept, 119 shortened, 0 dropped")
               for l in lines), proc.stdout
    assert any("validation training, 100 tokens" in l for l in lines)
    assert any(l.strip().startswith("test       eval prompts, 512 tokens: 40 rows kept, 0 shortened") for l in lines)
    assert "cache hit" not in proc.stdout and "[data/xlsum/fitted/train-train100-" in proc.stdout
    again = just("prepare", "tiny", "xlsum", "--variant", "len100", cwd=workdir)
    assert again.stdout.count("(cache hit)") == 3
    bad = cli("recipes", "prepare", "tiny", "nope", cwd=workdir)
    assert bad.returncode == 2 and "unknown task 'nope'" in bad.stderr


def test_the_four_learning_rates_train_on_the_same_cached_rows(fake_axolotl, workdir, capsys):
    first = RunSpec.parse("tiny", "xlsum", "2e-4", "len100")
    fake_axolotl(first, epochs=1)
    assert "(cache hit)" not in capsys.readouterr().err
    second = RunSpec.parse("tiny", "xlsum", "5e-5", "len100")
    fake_axolotl(second, epochs=1)
    err = capsys.readouterr().err
    assert "train: 120 rows kept, 119 shortened, 0 dropped (cache hit)" in err and err.count("(cache hit)") == 2
    for split in ("train", "validation"):
        a = (workdir / "runs" / first.id / "data" / f"{split}.jsonl").read_bytes()
        assert a == (workdir / "runs" / second.id / "data" / f"{split}.jsonl").read_bytes()
    run = json.loads((workdir / "runs" / second.id / "run.json").read_text())
    assert run["rows"]["train"] == {"rows": 120, "shortened": 119, "dropped": 0}
