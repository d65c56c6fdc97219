"""The layout is the pipeline: prompts -> recipes -> eval -> report -> pipeline; a stage imports only
earlier ones (and jaft.common), later stages use recipes through its public face, and no module cycle."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

ORDER = ["jaft", "prompts", "recipes", "eval", "report", "pipeline"]
# What eval, report and pipeline may import from recipes besides its package (the public face).
RECIPES_PUBLIC = {"recipes", "recipes.models", "recipes.runs", "recipes.manifest"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] in ORDER}


def modules() -> dict[str, set[str]]:
    out = {}
    for package in ORDER:
        for path in sorted((REPO / package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            out[name] = imports(path)
    return out


def test_a_stage_imports_only_earlier_stages():
    bad = []
    for module, deps in modules().items():
        stage = ORDER.index(module.split(".")[0])
        for dep in deps:
            if ORDER.index(dep.split(".")[0]) > stage and module != "jaft.cli":  # the CLI dispatches to all
                bad.append(f"{module} imports {dep}")
    assert bad == []


def test_later_stages_use_recipes_through_its_public_face():
    bad = [f"{m} imports {d}" for m, deps in modules().items() if m.split(".")[0] in ("eval", "report", "pipeline")
           for d in deps if d.startswith("recipes") and d not in RECIPES_PUBLIC]
    assert bad == []


def test_no_import_cycle_between_modules():
    found = modules()  # parsed once: every module's imports
    graph = {m: {d for d in deps if d in found} for m, deps in found.items()}
    seen, stack = set(), []

    def visit(node):
        if node in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(node):] + [node]))
        if node in seen:
            return
        stack.append(node)
        for dep in graph.get(node, ()):
            if dep != node.rsplit(".", 1)[0]:  # a module importing its own package's __init__ is not a cycle
                visit(dep)
        stack.pop()
        seen.add(node)

    for module in graph:
        visit(module)
