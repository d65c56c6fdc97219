"""Tables 3, 5 and 6 in the paper's layout, as data first, then Markdown and LaTeX (booktabs).

Bold follows the paper: Table 6 bolds the best value of each block of rows (as the study prints it);
Tables 3 and 5, which the study prints without marks, bold the best value of each row (Table 5 by F1).
Comparisons use the displayed precision, so ties are all bold.

A cell trained with several seeds shows the mean over its seeds, the sample standard deviation and the count
(`96.80±0.42 (n=3)`); bold compares the means.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from prompts.tasks import TASKS
from recipes.models import LEARNING_RATES, MODELS, PAPER_MODELS
from report.collect import by_cell

HERE = Path(__file__).parent
LRS = tuple(LEARNING_RATES)
DASH = "–"
FAILED = "✗"    # the run failed (README.md lists its error)
DAMAGED = "†"   # the number is from scores.json, but its predictions file is damaged
RULE_TEXT = {"task-metric": "best epoch by the task metric on the scored split (the paper's rule)",
             "val-loss": "best epoch by validation loss"}


@dataclass
class Cell:
    values: tuple | None          # displayed numbers: mean over seeds, scaled and rounded; None when no run
    text: str
    results: list = field(default_factory=list)  # report.collect.Result of each seed that fed the cell
    bold: bool = False
    sd: tuple | None = None       # sample standard deviation over seeds (two or more), scaled and rounded

    @property
    def n(self) -> int:
        """Seeds in the cell."""
        return len(self.results)


@dataclass
class Row:
    model: str
    variant: str | None
    head: list                    # leading columns: model name (+ lengths for Table 6)
    cells: list = field(default_factory=list)
    block: int = 0
    tuned: Cell | None = None     # the `just tune` result of this model (a column after the grid's), if any


@dataclass
class Table:
    name: str
    task: str
    title: str
    header: list
    rows: list
    bold_by: str                  # "row" or "block"
    digits: int
    scale: float
    metrics: tuple                # metric names shown in each cell, in order; the last decides bold
    lengths: bool = False         # train/inference length columns (Table 6)


def specs() -> dict[str, dict]:
    """table name -> its spec, from each task's `table` entry in prompts/tasks.yaml (tasks without one have
    no table: their runs are listed as outside the paper's layout)."""
    out = {}
    for task in TASKS.values():
        t = task.table
        if not t:
            continue
        out[t["name"]] = dict(task=task.name, title=t["title"], metrics=tuple(t["metrics"]),
                              digits=int(t["digits"]), scale=float(t["scale"]), bold_by=t.get("bold", "row"),
                              lengths=bool(t.get("lengths")))
    return out


def paper_values() -> dict:
    return yaml.safe_load((HERE / "paper.yaml").read_text(encoding="utf-8"))


def _extra_models(results: dict, task: str) -> list[str]:
    """Models outside the paper (the successors, `tiny` in the demo) that have runs of this task: rows after
    the paper's, in models.yaml order (a name the registry no longer knows last, alphabetically)."""
    found = {k[0] for k in results if k[1] == task and k[0] not in PAPER_MODELS and k[3] is None}
    return [m for m in MODELS if m in found] + sorted(found - set(MODELS))


def _layout(spec: dict, results: dict) -> list[Row]:
    """Rows from the model registry: the paper's models (and their paper variants for this task) in
    models.yaml order, then models outside the paper that have results. With `lengths` (Table 6) rows carry
    their train/inference lengths and sit in blocks of the same size and train length."""
    task = spec["task"]
    entries = [(m, v) for m in PAPER_MODELS for v in [None, *MODELS[m].paper_variants.get(task, [])]]
    extra = [(m, None) for m in _extra_models(results, task)]
    if not spec["lengths"]:
        return [Row(m, None, [MODELS[m].display]) for m, _ in entries + extra]
    blocks: dict = {}
    for model, variant in entries:
        m = MODELS[model]
        train_len = int(variant[3:]) if variant else m.train_len
        blocks.setdefault((m.size, train_len), []).append((model, variant, train_len))
    if extra:
        blocks["outside the paper"] = [(model, None, MODELS[model].train_len) for model, _ in extra]
    rows = []
    for b, members in enumerate(blocks.values()):
        for model, variant, train_len in members:
            m = MODELS[model]
            rows.append(Row(model, variant, [m.display, f"{train_len:,}", f"{m.infer_len:,}"], block=b))
    return rows


def label_of(row: Row) -> str:
    """A row's name in notes: the model, plus the train length in Table 6."""
    return " ".join(row.head[:2]) if len(row.head) > 1 else row.head[0]


def fmt(values: tuple | None, digits: int) -> str:
    return DASH if values is None else "/".join(f"{v:.{digits}f}" for v in values)


def fmt_seeds(values: tuple | None, sd: tuple | None, n: int, digits: int) -> str:
    """One seed: as `fmt`; several: each metric's mean±sd, then the number of seeds."""
    if values is None or sd is None:
        return fmt(values, digits)
    return "/".join(f"{v:.{digits}f}±{s:.{digits}f}" for v, s in zip(values, sd)) + f" (n={n})"


def aggregate(results: list, metrics: tuple, scale: float, digits: int) -> tuple[tuple | None, tuple | None]:
    """(mean, sample sd) of each metric over the seeds' selected epochs, scaled and rounded; sd is None for
    fewer than two seeds."""
    if not results:
        return None, None
    per_seed = np.array([[r.metrics[m] * scale for m in metrics] for r in results], dtype=float)
    mean = tuple(round(float(v), digits) for v in per_seed.mean(axis=0))
    if len(results) < 2:
        return mean, None
    return mean, tuple(round(float(v), digits) for v in per_seed.std(axis=0, ddof=1))


def build(name: str, results: dict, failed: dict | None = None, tuned: dict | None = None) -> Table:
    """The table from scored results (report.collect: one per run, every seed) and failed runs
    (collect.failures), both keyed by (model, task, lr, variant, seed); a cell holds its seeds' results.
    `tuned`: `just tune` results (lr `tuned`, same keys), shown in a `tuned` column after the grid's."""
    spec = specs()[name]
    header = ["Model"] + (["train_max_len", "infer_input_max_len"] if spec["lengths"] else [])
    header += [f"lr={lr}" for lr in LRS]
    table = Table(name=name, header=header, rows=_layout(spec, {**(failed or {}), **(tuned or {}), **results}),
                  **spec)
    add_tuned(table, tuned or {})
    runs_of = by_cell(results)
    failed_cells = {key[:4] for key in (failed or {})}
    for row in table.rows:
        for lr in LRS:
            members = runs_of.get((row.model, table.task, lr, row.variant), [])
            values, sd = aggregate(members, table.metrics, table.scale, table.digits)
            text = fmt_seeds(values, sd, len(members), table.digits)
            if any(r.limit for r in members):
                text += "*"  # scored on the first N rows only (`just eval --limit N`)
            if any(r.problem for r in members):
                text += DAMAGED
            if not members and (row.model, table.task, lr, row.variant) in failed_cells:
                text = FAILED
            row.cells.append(Cell(values, text, members, sd=sd))
    groups = {}
    for row in table.rows:
        groups.setdefault(row.block if table.bold_by == "block" else id(row), []).extend(row.cells)
    for cells in groups.values():
        filled = [c for c in cells if c.values is not None]
        if filled:
            best = max(c.values[::-1] for c in filled)  # last metric first (F1 before EM)
            for c in filled:
                c.bold = c.values[::-1] == best
    return table


def add_tuned(table: Table, tuned: dict) -> None:
    """Each row's `tuned` cell: the tuned model's score on the scored split, with the learning rate found
    (not bolded: bold compares the grid's cells, as the paper does)."""
    runs_of = by_cell(tuned)
    for row in table.rows:
        members = runs_of.get((row.model, table.task, "tuned", row.variant), [])
        if not members:
            continue
        values, sd = aggregate(members, table.metrics, table.scale, table.digits)
        lrs = ", ".join(dict.fromkeys(str(r.tuned_lr) for r in members))
        text = fmt_seeds(values, sd, len(members), table.digits) + f" (lr {lrs})"
        if any(r.limit for r in members):
            text += "*"
        row.tuned = Cell(values, text, members, sd=sd)


def has_tuned(table: Table) -> bool:
    return any(row.tuned for row in table.rows)


def tuned_texts(table: Table) -> list[str]:
    """The `tuned` column's cells, when the table has one."""
    return [row.tuned.text if row.tuned else DASH for row in table.rows] if has_tuned(table) else [""] * len(table.rows)


def caption(table: Table, select: str) -> str:
    text = f"{table.title}; {RULE_TEXT[select]}. Bold: best of each {table.bold_by}. {DASH}: not run yet."
    if any(c.n > 1 for r in table.rows for c in r.cells):
        text += " mean±sd (n=seeds): mean and sample standard deviation over the seeds; bold by the mean."
    limits = sorted({res.limit for r in table.rows for c in r.cells for res in c.results if res.limit})
    if limits:
        text += f" *: scored on the first {', '.join(map(str, limits))} rows only, not the whole split."
    texts = [c.text for r in table.rows for c in r.cells]
    if FAILED in texts:
        text += f" {FAILED}: the run failed (its error is listed in README.md)."
    if any(t.endswith(DAMAGED) for t in texts):
        text += f" {DAMAGED}: its predictions file is damaged (see README.md); the number is unchecked."
    if has_tuned(table):
        text += (" tuned: the learning rate `just tune` found on a tuning split carved from train (tune.md), "
                 "its best epoch there scored once on this split; not bolded.")
    return text


def to_markdown(table: Table, select: str) -> str:
    number = table.name[5:] if table.name.startswith("table") else table.name
    extra = ["tuned"] if has_tuned(table) else []
    lines = [f"**Table {number}.** {caption(table, select)}", "",
             "| " + " | ".join(table.header + extra) + " |",
             "|" + "|".join(["---"] * (len(table.header) - len(LRS)) + ["---:"] * (len(LRS) + len(extra))) + "|"]
    for row, tuned in zip(table.rows, tuned_texts(table)):
        cells = [f"**{c.text}**" if c.bold else c.text for c in row.cells] + ([tuned] if extra else [])
        lines.append("| " + " | ".join(row.head + cells) + " |")
    return "\n".join(lines) + "\n"


TEX_ESCAPES = {"\\": r"\textbackslash{}", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "_": r"\_",
               "{": r"\{", "}": r"\}", DASH: "--", FAILED: r"$\times$", DAMAGED: r"\textdagger{}",
               "±": r"$\pm$"}


def _tex(text: str) -> str:
    """Plain text -> LaTeX: special characters escaped (a bare % would comment out the rest of the line)."""
    return "".join(TEX_ESCAPES.get(c, c) for c in text)


def to_latex(table: Table, select: str) -> str:
    """A booktabs `table` environment; wrap it in a document with \\usepackage{booktabs} to compile."""
    lead = len(table.header) - len(LRS)
    extra = ["tuned"] if has_tuned(table) else []
    lines = [r"\begin{table}[t]", r"\centering",
             rf"\caption{{{_tex(caption(table, select))}}}", rf"\label{{tab:{table.name}}}",
             r"\begin{tabular}{" + "l" * lead + "r" * (len(LRS) + len(extra)) + "}", r"\toprule",
             " & ".join(_tex(h) for h in table.header + extra) + r" \\", r"\midrule"]
    for i, (row, tuned) in enumerate(zip(table.rows, tuned_texts(table))):
        if i and row.block != table.rows[i - 1].block:
            lines.append(r"\midrule")
        cells = [rf"\textbf{{{_tex(c.text)}}}" if c.bold else _tex(c.text) for c in row.cells]
        cells += [_tex(tuned)] if extra else []
        lines.append(" & ".join([_tex(h) for h in row.head] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
