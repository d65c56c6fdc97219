"""reports/comparison.md: the paper's value, ours and the difference, cell by cell; each cell on today's
leaderboards' metrics beside the successor models' published scores (report/leaderboards.yaml); then what to
check before trusting a cell: each cell's diagnostics (labels not found, answers at the token cap, summaries
never closed) and rows whose learning rates gave identical predictions (in our runs) or identical numbers (in
the paper)."""
from __future__ import annotations

from pathlib import Path

import yaml

from eval.metrics import LEADERBOARD_METRICS
from eval.predictions import load_for_scoring
from jaft.common import DataError
from prompts.tasks import TASKS
from recipes.runs import DEFAULT_SEED
from report.tables import DASH, LRS, fmt, label_of, paper_values

LEADERBOARDS = Path(__file__).parent / "leaderboards.yaml"


def paper_cell(paper: dict, table, row, lr: str) -> tuple | None:
    entry = paper.get(table.name, {}).get(row.model, {}).get(row.variant or "paper", {})
    value = entry.get(lr)
    if value is None:
        return None
    return tuple(value) if isinstance(value, list) else (value,)


def paper_vs_ours(tables: list, paper: dict) -> list[str]:
    lines = []
    for table in tables:
        d = table.digits
        lines += [f"## {table.name.replace('table', 'Table ')}: {table.title}", "",
                  "| Row | lr | paper | ours | difference |", "|---|---|---:|---:|---:|"]
        for row in table.rows:
            for lr, cell in zip(LRS, row.cells):
                theirs = paper_cell(paper, table, row, lr)
                if theirs is None and cell.values is None:
                    continue
                diff = DASH
                if theirs is not None and cell.values is not None:
                    diff = "/".join(f"{o - p:+.{d}f}" for o, p in zip(cell.values, theirs))
                lines.append(f"| {label_of(row)} | {lr} | {fmt(theirs, d)} | {cell.text} | {diff} |")
        lines.append("")
    return lines


def leaderboard_values() -> dict:
    return yaml.safe_load(LEADERBOARDS.read_text(encoding="utf-8"))


def published(data: dict, model: str, task: str, metric: str) -> tuple[float, dict] | None:
    """(value, its source's entry for the task) when the leaderboard data has `model`'s `task` on `metric`."""
    entry = data["scores"].get(model) or {}
    source = data["sources"].get(entry.get("source"), {})
    how = source.get("tasks", {}).get(task, {})
    if entry.get(task) is None or how.get("metric") != metric:
        return None
    return float(entry[task]), how


def ours_on_leaderboard_metrics(tables: list, data: dict) -> list[str]:
    """Each filled cell's selected epoch on the leaderboard metrics its task has, the published value of the
    same model beside it where the data has one."""
    lines = ["| Table | Row | lr | epoch | metric | ours | published (base model, few-shot) |",
             "|---|---|---|---|---|---:|---:|"]
    found = False
    for table in tables:
        names = [m for m in TASKS[table.task].metrics if m in LEADERBOARD_METRICS]
        for row in table.rows:
            for lr, cell in zip(LRS, row.cells):
                if not cell.results:
                    continue
                epochs = ", ".join(str(r.epoch) for r in cell.results)
                for name in names:
                    values = [r.metrics.get(name) for r in cell.results]
                    ours = (f"{sum(values) / len(values):.4f}" + (f" (n={len(values)})" if len(values) > 1 else "")
                            if all(v is not None for v in values) else DASH)
                    theirs = published(data, row.model, table.task, name)
                    lines.append(f"| {table.name} | {label_of(row)} | {lr} | {epochs} | {name} | {ours} | "
                                 f"{DASH if theirs is None else f'{theirs[0]:.4f}'} |")
                    found = True
    if not found:
        lines.append(f"| {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} |")
    return lines + [""]


def published_scores(data: dict) -> list[str]:
    lines = ["| model | hub id | kind | task | metric | published | setting | tool | split | source |",
             "|---|---|---|---|---|---:|---|---|---|---|"]
    for model, entry in data["scores"].items():
        source = data["sources"][entry["source"]]
        for task, how in source["tasks"].items():
            if entry.get(task) is None:
                continue
            lines.append(f"| {model} | {entry['hub_id']} | {entry['kind']} | {task} | {how['metric']} | "
                         f"{float(entry[task]):.4f} | {how['setting']} | {how['tool']} | {how['split']} | "
                         f"[{source['name']}]({source['url']}), commit {source['commit'][:7]}, {source['date']} |")
    return lines + [""]


def leaderboards(tables: list) -> list[str]:
    data = leaderboard_values()
    lines = ["## Beside today's leaderboards", "",
             "Our fine-tuned cells on the metrics today's Japanese leaderboards report, each computed as its "
             "source does (docs/leaderboard-metrics.md): " + "; ".join(f"`{k}`: {v}" for k, v in
                                                                     LEADERBOARD_METRICS.items()) + ".", "",
             "**Not like-for-like.** A published number is a *base* model prompted with a few solved examples "
             "(JSQuAD 4-shot, XL-Sum 1-shot) in the leaderboard's own prompt; ours is that model fine-tuned "
             "with LoRA on the task, answering in the paper's prompt. JSQuAD: both on JGLUE's dev split "
             "(4,442 questions). XL-Sum: the leaderboard scores mkshing/xlsum_ja's test split, jaft "
             "csebuetnlp/xlsum's Japanese test split, and the leaderboard reports a bootstrap median where "
             "jaft reports the plain mean. A model not in the data has no published value (–).", "",
             "### Ours, each cell's selected epoch", ""]
    lines += ours_on_leaderboard_metrics(tables, data)
    lines += ["### Published (report/leaderboards.yaml)", ""]
    lines += published_scores(data)
    return lines


def diagnostics(tables: list) -> list[str]:
    """Each filled cell's diagnostics, from its selected epoch's entry in scores.json."""
    lines = ["## Diagnostics of each cell's epoch", "",
             "Counted by `just eval` over the scored outputs (`diagnostics` in scores.json); "
             f"{DASH} where the run was scored before jaft counted them.", "",
             "| Table | Row | lr | epoch | diagnostic | count | share |", "|---|---|---|---:|---|---:|---:|"]
    found = False
    for table in tables:
        for row in table.rows:
            for lr, cell in zip(LRS, row.cells):
                for result in cell.results:  # each seed's run of the cell
                    found = True
                    at = lr + (f" (seed {result.seed})" if cell.n > 1 else "")
                    diags = result.best.get("diagnostics") or {}
                    if not diags:
                        lines.append(f"| {table.name} | {label_of(row)} | {at} | {result.epoch} | {DASH} | "
                                     f"{DASH} | {DASH} |")
                    for name, d in diags.items():
                        share = DASH if d.get("share") is None else f"{100 * d['share']:.2f}%"
                        count = DASH if d.get("count") is None else str(d["count"])
                        lines.append(f"| {table.name} | {label_of(row)} | {at} | {result.epoch} | "
                                     f"{name}: {d.get('what', '')} | {count} | {share} |")
    if not found:
        lines.append(f"| {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} |")
    return lines + [""]


def _scored_outputs(table, result) -> tuple[tuple, tuple] | str:
    """(sorted (id, prediction) pairs, sorted (id, raw) pairs) of a cell's epoch, or why they cannot be read."""
    path = result.predictions
    if not path.is_file():
        return f"{path}: no predictions file"
    try:
        rows = load_for_scoring(table.task, path)
    except DataError as e:
        return str(e)
    return (tuple(sorted((str(r.get("id")), r["prediction"]) for r in rows)),
            tuple(sorted((str(r.get("id")), r["raw"]) for r in rows)))


def identical_rows(tables: list, paper: dict) -> list[str]:
    """Rows of one model and task where two or more learning rates gave the very same predictions (ours) or
    the very same numbers at every learning rate (the paper): a learning rate that changed nothing is more
    likely a run that evaluated the wrong weights than a real finding."""
    ours, theirs, unread = [], [], []
    for table in tables:
        for row in table.rows:
            values = [paper_cell(paper, table, row, lr) for lr in LRS]
            if all(v is not None for v in values) and len(set(values)) == 1:
                theirs.append(f"- {table.name.replace('table', 'Table ')}, {label_of(row)}: "
                              f"{fmt(values[0], table.digits)} at all {len(LRS)} learning rates.")
            groups: dict = {}
            for lr, cell in zip(LRS, row.cells):
                for result in cell.results:  # runs of the same seed are compared across learning rates
                    outputs = _scored_outputs(table, result)
                    if isinstance(outputs, str):
                        unread.append(f"- {table.name}, {label_of(row)}, lr={lr}, seed {result.seed}: {outputs}")
                        continue
                    groups.setdefault((result.seed, outputs[0]), []).append((lr, outputs[1]))
            for (seed, _), members in groups.items():
                if len(members) > 1:
                    raw_too = len({raw for _, raw in members}) == 1
                    lrs = ", ".join(lr for lr, _ in members)
                    ours.append(f"- {table.name.replace('table', 'Table ')}, {label_of(row)}: identical "
                                f"predictions at lr {lrs}" + (f" (seed {seed})" if seed != DEFAULT_SEED else "")
                                + (" (the raw model text too)" if raw_too else "") + ".")
    lines = ["## Identical across learning rates", "",
             "A learning rate that changes nothing at all is a warning sign: check that each run evaluated "
             "its own adapter.", "", "In the paper:", ""]
    lines += theirs or ["- none."]
    lines += ["", "In our runs (the scored predictions of each cell's epoch):", ""]
    lines += ours or ["- none."]
    if unread:
        lines += ["", "Not compared (no readable predictions):", ""] + unread
    return lines + [""]


def to_markdown(tables: list) -> str:
    paper = paper_values()
    lines = ["# The paper beside ours", "",
             "Difference = ours − paper, in each table's unit (percentage points for Tables 3 and 5, "
             "ROUGE-1 for Table 6). Rows outside the paper have no paper value.", ""]
    lines += paper_vs_ours(tables, paper)
    lines += leaderboards(tables)
    lines += diagnostics(tables)
    lines += identical_rows(tables, paper)
    return "\n".join(lines)
