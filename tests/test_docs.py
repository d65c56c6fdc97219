"""The docs hold together: every relative link in README.md and docs/*.md resolves to a file of the repository
(and a `#anchor` to a heading of that file), the README stays short, lists every verb of the justfile, and
gives the test command that CI runs.

Example: `.venv/bin/python -m pytest -q tests/test_docs.py`
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from jaft.cli import VERBS
from tests.conftest import REPO

README_MAX_WORDS = 1500  # issue 19: the README is the short way in; the rest lives in docs/

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where a link is a link."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        lines.append("" if fenced else re.sub(r"`[^`]*`", "", line))
    return "\n".join(lines)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (letters of any script, digits, `-` and `_`
    kept), spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file's headings, duplicates numbered as GitHub numbers them (-1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for line in prose(path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(path: Path, root: Path) -> list[str]:
    """`file: target (why)` for each relative link of `path` that does not resolve inside `root`."""
    problems = []
    for target in LINK.findall(prose(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...: not ours to check
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path.resolve()
        where = f"{path.relative_to(root)}: {target}"
        if not dest.is_relative_to(root.resolve()):
            problems.append(f"{where} (outside the repository)")
        elif not dest.exists():
            problems.append(f"{where} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where} (no heading with that anchor)")
    return problems


def test_every_relative_link_resolves():
    problems = [p for page in pages() for p in broken_links(page, REPO)]
    assert problems == []


def test_the_checker_finds_a_missing_page_and_a_missing_anchor(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Two words\n\n```\n[in code](nowhere.md)\n```\n",
                                            encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("[ok](docs/a.md#two-words) [ok too](#top) `[code](gone.md)` [web](https://example.com)\n"
                      "[gone](docs/gone.md) [bad anchor](docs/a.md#three-words) [up](../x.md)\n\n# Top\n",
                      encoding="utf-8")
    assert broken_links(readme, tmp_path) == ["README.md: docs/gone.md (no such file)",
                                              "README.md: docs/a.md#three-words (no heading with that anchor)",
                                              "README.md: ../x.md (outside the repository)"]
    assert broken_links(tmp_path / "docs" / "a.md", tmp_path) == []


@pytest.mark.parametrize("heading, anchor", [("The pipeline", "the-pipeline"),
                                             ("Memory: the cap and the planner", "memory-the-cap-and-the-planner"),
                                             ("`just demo` (CPU)", "just-demo-cpu"),
                                             ("Axolotl's defaults, pinned", "axolotls-defaults-pinned")])
def test_anchors_are_githubs(heading, anchor):
    assert slug(heading) == anchor


def test_the_readme_is_short():
    words = len((REPO / "README.md").read_text(encoding="utf-8").split())
    assert words <= README_MAX_WORDS, f"README.md has {words} words; move detail into docs/"


def test_the_readme_lists_every_verb_of_the_justfile():
    verbs = re.findall(r"^([a-z][a-z-]*)(?: \*args)?:", (REPO / "justfile").read_text(encoding="utf-8"), re.M)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "test" in verbs and "demo" in verbs
    missing = [v for v in verbs if v != "default" and f"`just {v}" not in readme]
    assert missing == []


def test_the_commands_table_lists_every_verb():
    """docs/commands.md's table of commands has a row for every verb of `jaft --help`."""
    from jaft.cli import VERBS
    text = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    table = text.split("## Every command", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `just ([a-z-]+)", table, re.M)
    assert [v for v in VERBS if v not in listed] == []


def _verb_actions(verb: str) -> list:
    """The options and positionals of a verb's parser, as `jaft VERB --help` lists them (-h aside)."""
    import argparse
    from jaft.cli import parser
    sub = next(a for a in parser(argv=[verb])._actions if isinstance(a, argparse._SubParsersAction))
    return [a for a in sub.choices[verb]._actions if not isinstance(a, argparse._HelpAction)]


def _described(verb: str) -> str:
    """What docs/commands.md says of a verb: its row of the commands table and its paragraphs of Options."""
    text = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    table = text.split("## Every command", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith(f"| `just {verb}")]
    options = text.split("## Options", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.split(r"\n(?=\*\*`just )", options)
              if b.startswith("**") and verb in re.findall(r"`just ([a-z-]+)`", b.split("**")[1])]
    return "\n".join(rows + blocks)


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_option_of_every_verb_is_described_in_commands_md(verb):
    """The README promises that `just VERB --help` lists options all described in commands.md: each long
    option a verb's parser defines appears in that verb's row or Options paragraph."""
    said = _described(verb)
    missing = [o for a in _verb_actions(verb) for o in a.option_strings
               if o.startswith("--") and not re.search(re.escape(o) + r"(?![\w-])", said)]
    assert missing == [], f"docs/commands.md does not describe `just {verb}` {', '.join(missing)}"


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_option_and_positional_of_every_verb_has_a_help(verb):
    bare = [a.option_strings[0] if a.option_strings else a.dest for a in _verb_actions(verb)
            if not (a.help or "").strip()]
    assert bare == [], f"`jaft {verb} --help` says nothing of {', '.join(bare)}"


def test_the_readme_gives_the_test_command_ci_runs():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert ".venv/bin/just test" in ci
    assert "bash setup.sh && .venv/bin/just test" in readme and "bash setup.sh && .venv/bin/just demo" in readme


def test_the_variables_table_lists_exactly_the_settings_variables():
    """docs/commands.md's table of variables and jaft.settings.VARIABLES (what jaft reads) agree."""
    from jaft.settings import VARIABLES
    text = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    section = text.split("## Folders and environment variables", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `JAFT_")]
    listed = [name for row in rows for name in re.findall(r"`(JAFT_\w+)`", row.split("|")[1])]
    assert sorted(listed) == sorted(VARIABLES) and len(listed) == len(set(listed))


def test_no_page_speaks_of_rounds_or_issues():
    """The docs are written for a user: no "this round", "before this round", "issue 24"."""
    found = [f"{page.name}:{i}" for page in pages()
             for i, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\b(this|last|next) round\b|\bissue #?\d+", line, re.I)]
    assert found == []
