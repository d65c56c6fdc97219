"""Inputs and scoring (issue 24, items 0-5 and 14-17): hostile inputs refused in one line before the hours
of work, scoring in work linear in the text, rows fitted without losing their answer.

Nothing here times anything: where the issue measured seconds, a test counts the work (tagger calls, the
characters handed to the tokenizer); bench/ holds the timings.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import cli


def one_line_error(proc) -> str:
    """The error line of a refused command; no traceback anywhere."""
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-2000:]
    return errors[0]


def cli_with_timeout(args, cwd, timeout):
    """`cli`, stopped after `timeout` seconds: only so that a regression to quadratic work cannot hang."""
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ), timeout=timeout)


# ---- item 3: JSON that Python will not hold ------------------------------------------------------------

@pytest.mark.parametrize("line, says", [
    ('{"id": 1, "raw": "x", "references": ["x"], "deep": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ('{"id": 1, "raw": "x", "references": ["x"], "big": ' + "7" * 5000 + "}", "4300 digits"),
], ids=["deep", "long-int"])  # short ids: the test id travels in PYTEST_CURRENT_TEST, and 200 kB will not exec
def test_json_python_cannot_hold_is_a_one_line_error_naming_the_line(tmp_path, line, says):
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": 0, "raw": "positive", "references": ["positive"]}\n' + line + "\n", encoding="utf-8")
    proc = cli("eval", "score", "marc", str(f), cwd=tmp_path)
    assert proc.returncode == 2
    error = one_line_error(proc)
    assert f"{f}:2:" in error and says in error


def test_read_json_names_a_file_python_cannot_hold(tmp_path):
    from jaft.common import DataError, read_json
    f = tmp_path / "run.json"
    f.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(DataError, match="run.json: damaged"):
        read_json(f)


# ---- item 4: nothing to score is not a score of zero ---------------------------------------------------

@pytest.mark.parametrize("text", ["", "\n", "  \n\t\n\n"])
def test_an_empty_or_blank_predictions_file_is_refused(tmp_path, text):
    f = tmp_path / "p.jsonl"
    f.write_text(text, encoding="utf-8")
    proc = cli("eval", "score", "jsquad", str(f), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert str(f) in one_line_error(proc) and "empty" in one_line_error(proc)


# ---- item 5: MARC-ja, what comes before the label and what denies it -----------------------------------

@pytest.mark.parametrize("raw, want", [
    ("\u200bpositive", "positive"), ("\ufeffnegative", "negative"), ("\u200b\ufeff\u2060 positive", "positive"),
    ("> positive", "positive"), ("# negative", "negative"), ("## **positive**", "positive"),
    ("> - negative", "negative"), ("＃ positive", "positive"),
    # the label is denied right after it: no label
    ("positiveではない", ""), ("negativeではなくpositive", ""), ("positiveではありません。", ""),
    ("negativeじゃない", ""), ("positive でない", ""), ("ｐｏｓｉｔｉｖｅではない", ""),
    ("positive…not", ""), ("positive... not really", ""), ("Positive? Not at all.", ""), ("negative isn't it", ""),
    ("positive、ではなく", ""),
    # ... but not when the denial is of the other label, or later, or another word
    ("positive, not negative", "positive"), ("negative (not positive)", "negative"),
    ("positiveです", "positive"), ("positive。negativeではない", "positive"), ("positive note", "positive"),
    ("positive nothing else", "positive"), ("negativeでしょう", "negative"),
])
def test_marc_label_skips_invisible_and_markdown_and_is_denied_by_a_negation(raw, want):
    from eval.postprocess import label_first
    assert label_first(raw, ("positive", "negative")) == want


def test_marc_denied_labels_are_scored_as_unparsed(tmp_path):
    f = tmp_path / "p.jsonl"
    rows = [{"id": 1, "raw": "positiveではない", "references": ["positive"]},
            {"id": 2, "raw": "\ufeffnegative", "references": ["negative"]}]
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    proc = cli("eval", "score", "marc", str(f), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accuracy"] == 0.5
    assert "unparsed: 1 of 2" in proc.stderr


# ---- items 1, 2: JSQuAD post-processing in work linear in the answer -----------------------------------

@pytest.mark.parametrize("filler", [" ", "、", "。", " 、。\u3000"])
def test_a_long_run_of_spaces_or_punctuation_is_scored_at_once(tmp_path, filler):
    # The old end-trimming regex tried the whole run again from each of its characters: 80,000 spaces
    # took 32 s, this million-character answer hours. Linear work takes well under a second; the timeout
    # only stops a regression from hanging the suite.
    long = "東京" + filler * (1_000_000 // len(filler)) + "駅"
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"id": 1, "raw": long + "で", "references": [long, "東京"]}, ensure_ascii=False) + "\n",
                 encoding="utf-8")
    proc = cli_with_timeout(["eval", "score", "jsquad", str(f)], tmp_path, 120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["exact_match"] == 1.0


@pytest.fixture
def tagged_characters(monkeypatch):
    """Every character MeCab is given, counted: the deterministic measure of the post-processing's work."""
    from eval import mecab
    real = mecab.tagger()
    count = [0]

    def counting(text):
        count[0] += len(text)
        return real(text)

    monkeypatch.setattr(mecab, "tagger", lambda: counting)
    return count


@pytest.mark.parametrize("pairs", [4_000, 50_000])
def test_a_long_chain_of_particles_is_cut_in_linear_work(tagged_characters, pairs):
    from eval.mecab import CHUNK
    from eval.postprocess import EXACT_CUTS, gold_answers, strip_trailing_particles
    text = "東京" + "での" * pairs
    assert strip_trailing_particles(text) == "東京"
    # Before: one reading of up to 10,000 characters per particle cut (8,000 characters: 40 million read).
    assert tagged_characters[0] <= EXACT_CUTS * CHUNK + 3 * len(text)
    tagged_characters[0] = 0
    assert gold_answers("jsquad", [text + "。"]) == ["東京"]          # the gold answers go the same way
    assert tagged_characters[0] <= EXACT_CUTS * CHUNK + 3 * len(text)


@pytest.mark.parametrize("raw, want", [
    ("東京都での", "東京都"), ("1917年に、", "1917年"), ("東京 で の 。", "東京"), ("東京の大学", "東京の大学"),
    ("東京" + "での" * 20 + "、", "東京"), ("東京の" + "大学の" * 30, "東京の" + "大学の" * 29 + "大学"),
    ("の" * 50, "の"), ("6歳から15歳まで" + "には" * 12, "6歳から15歳まで"),
])
def test_long_chains_end_where_a_re_reading_finds_nothing_to_cut(raw, want):
    from eval.postprocess import strip_trailing_particles
    assert strip_trailing_particles(raw) == want


# ---- item 14: --set checked when the recipe is rendered --------------------------------------------------

@pytest.mark.parametrize("item, says", [
    ("foo_bar=1", "--set foo_bar: not a key Axolotl knows"),
    ("micro_batchsize=2", "did you mean 'micro_batch_size'?"),
    ("lora_dropuot=0.1", "did you mean 'lora_dropout'?"),
    ("micro_batch_size=0", "micro_batch_size=0 is impossible: it must be at least 1"),
    ("micro_batch_size=-3", "micro_batch_size=-3 is impossible"),
    ("lora_r=0", "lora_r=0 is impossible"),
    ("lora_r=-8", "lora_r=-8 is impossible"),
    ("lora_dropout=2", "lora_dropout=2 is impossible: it must be in [0, 1)"),
    ("lora_dropout=1", "lora_dropout=1 is impossible"),
    ("lora_dropout=-0.1", "lora_dropout=-0.1 is impossible"),
    ("gradient_accumulation_steps=0", "gradient_accumulation_steps=0 is impossible"),
    ("sequence_len=-1", "sequence_len=-1 is impossible"),
    ("sequence_len=.nan", "sequence_len=nan is impossible"),
])
def test_unknown_keys_and_impossible_values_are_refused_at_render(tmp_path, item, says):
    proc = cli("recipes", "render", "tiny", "marc", "2e-4", "--set", item, cwd=tmp_path)
    assert proc.returncode == 2
    assert says in one_line_error(proc)
    assert not (tmp_path / "runs").exists()


def test_impossible_epochs_and_learning_rate_are_refused():
    from jaft.common import UsageError
    from recipes.axolotl_keys import check_values
    for cfg in ({"num_epochs": 0}, {"num_epochs": -1.5}, {"learning_rate": 0.0}, {"learning_rate": -2e-4}):
        with pytest.raises(UsageError, match="is impossible"):
            check_values(cfg)
    check_values({"num_epochs": 0.5, "learning_rate": 2e-4, "lora_dropout": 0.0, "lora_r": "abc"})  # abc: Axolotl's


def test_known_keys_pass_without_importing_axolotl(tmp_path):
    code = ("import sys; from recipes.axolotl_keys import check_key; "
            "[check_key(k) for k in ('lora_r', 'max_steps', 'vram_cap_mb', 'liger_rope', 'model_config')]; "
            "assert 'axolotl' not in sys.modules, 'imported axolotl'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr


def test_every_key_of_the_rendered_recipes_is_known():
    from prompts.tasks import TASKS
    from recipes.axolotl_keys import valid_keys
    from recipes.models import MODELS
    from recipes.render import recipe_dict
    from recipes.runs import RunSpec
    for model in MODELS:
        for task in TASKS:
            spec = RunSpec.parse(model, task, "2e-4")
            assert set(recipe_dict(spec, base_model="x")) <= valid_keys(), (model, task)


def test_the_key_list_is_what_the_installed_axolotl_knows():
    # Regenerated from Axolotl's own schema: after an upgrade this fails until `python -m recipes.axolotl_keys`.
    from recipes.axolotl_keys import KEYS_FILE, generate, valid_keys
    keys, _ = generate()
    assert set(keys) == set(valid_keys()), f"{KEYS_FILE} is stale: run `python -m recipes.axolotl_keys`"


def test_plan_refuses_a_cap_that_is_not_positive(tmp_path):
    for cap in ("-5", "0"):
        proc = cli("recipes", "plan", "--cap-mb", cap, cwd=tmp_path)
        assert proc.returncode == 2 and f"--cap-mb must be at least 1, got {cap}" in one_line_error(proc)


# ---- item 0: a base model the hub will not give is one line, before any fitting ------------------------

@contextmanager
def hub_answering(status: int, error_code: str):
    """A loopback stand-in for the hub answering every request as it does for a gated or missing repo."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self):
            requests.append(self.path)
            body = json.dumps({"error": f"{error_code} (loopback)"}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", error_code)
            self.send_header("X-Error-Message", f"{error_code} (loopback)")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def model_load_env(tmp_path, **extra) -> dict:
    """An empty HF_HOME and no token; HF_HUB_CACHE and the like left to follow HF_HOME."""
    return {"HF_HOME": str(tmp_path / "empty-hf-home"), "HF_TOKEN": "", **extra}


def refused_before_fitting(proc, tmp_path, model: str, *says: str) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    error = one_line_error(proc)
    assert model in error and all(s in error for s in says), error
    # nothing else but jaft's own progress: no library chatter (torchao, bitsandbytes, torch's notes when
    # train imports Axolotl) and no huggingface_hub "Retrying in 1s" lines before the one that explains
    others = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("[jaft]")]
    assert others == [f"error: {error}"] or others == [error], proc.stderr[-3000:]
    assert not (tmp_path / "data" / "marc" / "fitted").exists()      # nothing fitted
    assert not (tmp_path / "runs").exists()                           # nothing written


@pytest.mark.parametrize("verb", [("train", "llama2-7b", "marc", "2e-4"), ("prepare", "calm2", "marc")])
def test_offline_without_the_model_in_the_cache(workdir, verb):
    env = model_load_env(workdir, HF_HUB_OFFLINE="1")
    proc = cli("recipes", *verb, cwd=workdir, env=env)
    refused_before_fitting(proc, workdir, verb[1], "offline (HF_HUB_OFFLINE=1)", "HF_HOME", "empty-hf-home")


@pytest.mark.parametrize("verb, status, code, says", [
    ("train", 401, "GatedRepo", ("gated", "hf auth login", "/meta-llama/Llama-2-7b-hf, then")),
    ("prepare", 403, "GatedRepo", ("gated", "hf auth login")),
    ("prepare", 404, "RepoNotFound", ("not found on the hub", "check the hub id in recipes/models.yaml")),
    ("prepare", 401, "RepoNotFound", ("not found on the hub",)),
])
def test_gated_or_missing_model_on_the_hub(workdir, verb, status, code, says):
    args = ("train", "llama2-7b", "marc", "2e-4") if verb == "train" else ("prepare", "llama2-7b", "marc")
    with hub_answering(status, code) as (endpoint, requests):
        env = model_load_env(workdir, HF_HUB_OFFLINE="0", HF_ENDPOINT=endpoint)
        proc = cli("recipes", *args, cwd=workdir, env=env)
    assert any("meta-llama/Llama-2-7b-hf" in r for r in requests)       # it asked the stand-in hub
    refused_before_fitting(proc, workdir, "llama2-7b (meta-llama/Llama-2-7b-hf)", *says)


def test_an_unreachable_hub(workdir):
    with hub_answering(500, "x") as (endpoint, _):
        pass  # the port is closed again: nothing answers there
    env = model_load_env(workdir, HF_HUB_OFFLINE="0", HF_ENDPOINT=endpoint)
    proc = cli("recipes", "prepare", "calm2", "marc", cwd=workdir, env=env)
    refused_before_fitting(proc, workdir, "calm2 (cyberagent/calm2-7b)", "cannot be reached", "HF_HOME")


# ---- item 15: a JSQuAD answer that is not in its context -------------------------------------------------

def jsquad_source(tmp_path, bad_answer: str = "徳川家康"):
    """JGLUE-nested JSQuAD files whose second validation question answers with text its context lacks."""
    from tests.conftest import FIXTURES
    src = tmp_path / "jsquad-src"
    src.mkdir()
    for name in ("train-v1.3.json", "valid-v1.3.json"):
        data = json.loads((FIXTURES / "jsquad_jglue" / name).read_text(encoding="utf-8"))
        if name.startswith("valid"):
            data["data"][0]["paragraphs"][0]["qas"][1]["answers"] = [{"text": bad_answer, "answer_start": 0}]
        (src / name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return src


def test_data_refuses_a_jsquad_row_whose_answer_is_not_in_its_context(tmp_path):
    src = jsquad_source(tmp_path)
    proc = cli("prompts", "data", "jsquad", "--from", str(src), "--version", "v1.3", "--out", "d", cwd=tmp_path)
    assert proc.returncode == 2
    error = one_line_error(proc)
    assert f"{src / 'valid-v1.3.json'}:data[0].paragraphs[0].qas[1]" in error
    assert "'徳川家康' is not in the row's context" in error and "--drop-missing-answers" in error
    assert not (tmp_path / "d").exists()


def test_data_drops_and_counts_them_when_asked(tmp_path):
    src = jsquad_source(tmp_path)
    proc = cli("prompts", "data", "jsquad", "--from", str(src), "--version", "v1.3", "--out", "d",
               "--drop-missing-answers", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "validation.jsonl: 1 rows (1 dropped: answer not in the context, first at " in proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "d" / "validation.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a1000001-0000-0000"]
    source = json.loads((tmp_path / "d" / "source.json").read_text(encoding="utf-8"))
    assert source["files"]["validation"]["answer_not_in_context"] == 1
    assert source["files"]["validation"]["rows"] == 2 and source["files"]["train"]["answer_not_in_context"] == 0


# ---- item 16: a JSQuAD answer stays in the fitted window ------------------------------------------------

FILLER = "大阪城は豊臣秀吉が築いた城である。現在の天守は1931年に再建された。"


def long_context_row(ident: str, chars: int, answer: str = "徳川家康", at_end: bool = True) -> dict:
    body = (FILLER * (chars // len(FILLER) + 1))[:chars]
    context = f"大阪城 [SEP] {body}江戸幕府を開いたのは{answer}である。" if at_end else \
              f"大阪城 [SEP] 江戸幕府を開いたのは{answer}である。{body}"
    return {"id": ident, "title": "大阪城", "context": context, "question": "江戸幕府を開いたのは誰か？",
            "answers": {"text": [answer], "answer_start": [context.index(answer)]}, "is_impossible": False}


@pytest.fixture
def long_jsquad(tmp_path, tiny_model):
    """A project whose JSQuAD data holds the samples plus a 20,000-character context answered at its end,
    one answered at its start, and one whose answer alone is longer than the model's 512 tokens."""
    from prompts.data import prepare
    from prompts.tasks import TASKS
    from tests.conftest import SAMPLES
    src = tmp_path / "src"
    src.mkdir()
    extra = [long_context_row("long-end", 20_000), long_context_row("long-start", 20_000, at_end=False),
             long_context_row("huge-answer", 3_000, answer="将軍" * 2_000)]
    for split in ("train", "validation"):
        text = (SAMPLES / "jsquad" / f"{split}.jsonl").read_text(encoding="utf-8")
        text += "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in extra)
        (src / f"{split}.jsonl").write_text(text, encoding="utf-8")
    prepare(TASKS["jsquad"], src, tmp_path / "data" / "jsquad")
    return tmp_path


def test_fitting_keeps_the_answer_in_the_window_and_counts_it(long_jsquad, tiny_tokenizer):
    from prompts.data import load_split
    from prompts.fit import fit_rows, train_length
    from prompts.tasks import TASKS
    os.environ["JAFT_DATA"] = str(long_jsquad / "data")
    try:
        rows = load_split("jsquad", "train")
    finally:
        del os.environ["JAFT_DATA"]
    got = fit_rows(TASKS["jsquad"], tiny_tokenizer, rows, 512, "train", progress=False)
    by_id = {r["id"]: r for r in got.rows}
    end, start = by_id["long-end"], by_id["long-start"]
    assert "徳川家康" in end["meta"]["fields"]["context"] and end["meta"]["cut_from"] > 15_000
    assert train_length(tiny_tokenizer, end["prompt"], end["response"]) <= 512
    assert end["response"].startswith("徳川家康")
    assert "cut_from" not in start["meta"] and start["meta"]["fields"]["context"].startswith("大阪城 [SEP] 江戸幕府")
    assert "huge-answer" not in by_id and [rows[i]["id"] for i in got.dropped_at] == ["huge-answer"]
    assert got.around_answer == 1 and got.answer_lost == 0
    # every other row is what it was: the samples fit whole
    assert [r for r in got.rows if r["id"] not in ("long-end", "long-start")] == rows[:-3]


def test_just_prepare_counts_rows_cut_around_their_answer_and_shows_a_row(long_jsquad, monkeypatch):
    proc = cli("recipes", "prepare", "tiny", "jsquad", "--show", "long-end", cwd=long_jsquad,
               env={"JAFT_DATA": str(long_jsquad / "data")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "train      training, 512 tokens: 202 rows kept, 2 shortened, 1 dropped, 1 cut around their answer" in out
    assert "eval prompts, 512 tokens: 63 rows kept, 3 shortened, 0 dropped, 2 lost their answer" in out
    shown = out[out.index("--- train row long-end"):]
    assert "(training, context cut by " in shown and "(around the answer)" in shown
    assert "[prompt]\n### Instruction:\nContext: " in shown and "Question: 江戸幕府を開いたのは誰か？" in shown
    assert "[response]\n徳川家康" in shown and "江戸幕府を開いたのは徳川家康である。" in shown
    # the same command in this process (the rows are cached now): a dropped row, an id no split has
    from jaft.common import UsageError
    from recipes.rows import prepare
    from recipes.runs import RunSpec
    monkeypatch.setenv("JAFT_DATA", str(long_jsquad / "data"))
    spec = RunSpec.parse("tiny", "jsquad", "2e-4")
    lines, shown = prepare(spec, show="huge-answer")
    assert all("(cache hit)" in line for line in lines[:3])
    assert "--- train row huge-answer (training): dropped by fitting (it cannot fit, or its answer cannot)" in shown
    with pytest.raises(UsageError, match="no row with id 'nope' in jsquad's train, validation splits"):
        prepare(spec, show="nope")


def test_the_fitting_rule_version_changed():
    from prompts.fit_cache import FIT_RULE
    assert FIT_RULE == 2      # rows cut by rule 1 may have lost their answer: cached entries are rebuilt


# ---- item 17: bounded work per row ---------------------------------------------------------------------

@pytest.fixture
def tokenized_lengths(monkeypatch):
    """The longest text handed to the tokenizer while fitting: the deterministic measure of a row's work."""
    from prompts import fit
    longest = [0]
    for name in ("token_counts", "token_offsets"):
        real = getattr(fit, name)

        def spy(tokenizer, texts, *args, _real=real, **kwargs):
            longest[0] = max([longest[0], *map(len, texts)])
            return _real(tokenizer, texts, *args, **kwargs)
        monkeypatch.setattr(fit, name, spy)
    return longest


def test_a_huge_row_is_read_as_a_bounded_stretch(tiny_tokenizer, tokenized_lengths):
    from prompts.data import convert
    from prompts.fit import PRECUT_CHARS, fit_rows
    from prompts.tasks import TASKS
    limit = 512
    review = "この商品はとても良かったです。" * 200_000                           # 3 million characters
    marc, _ = convert(TASKS["marc"], [("x:1", {"review_id": "big", "sentence": review, "label": 0})])
    jsquad, _ = convert(TASKS["jsquad"], [("x:2", long_context_row("big", 3_000_000))])
    bound = 2 * (PRECUT_CHARS * limit + 1024) + 200       # a stretch around the answer, and the template
    got_marc = fit_rows(TASKS["marc"], tiny_tokenizer, marc, limit, "train", progress=False)
    got_jsquad = fit_rows(TASKS["jsquad"], tiny_tokenizer, jsquad, limit, "train", progress=False)
    assert tokenized_lengths[0] <= bound, tokenized_lengths[0]   # before: the whole 3,000,000 characters
    assert got_marc.shortened == 1 and got_marc.rows[0]["meta"]["cut_chars"] > 2_990_000
    assert "徳川家康" in got_jsquad.rows[0]["meta"]["fields"]["context"]


def test_a_stretch_gives_the_row_reading_the_whole_field_gives(tiny_tokenizer):
    # The precut changes how much is read, not the row: the same cut as the rule without it.
    import sys as _sys
    _sys.path.insert(0, os.path.dirname(__file__))
    from prompts.data import convert
    from prompts.fit import fit_rows
    from prompts.tasks import TASKS
    from tests.test_fit import ref_shorten
    rows, _ = convert(TASKS["marc"], [(f"x:{i}", {"review_id": f"r{i}", "sentence": "とても良い商品でした。" * n,
                                                   "label": i % 2}) for i, n in enumerate((1_000, 3_000, 9_000))])
    for limit in (60, 200):
        got = fit_rows(TASKS["marc"], tiny_tokenizer, rows, limit, "train", progress=False)
        assert got.rows == [ref_shorten(TASKS["marc"], tiny_tokenizer, r, limit)[0] for r in rows]
