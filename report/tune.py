"""`reports/tune.md` and `reports/tune_<study>.png`: every `just tune` study under the runs folder.

Per study: each trial (learning rate, rank, epochs reached, tuning score, state, GPU-hours), read from the
study's Optuna journal with Optuna's own API and from the trials' run.json; the tuning score against the
learning rate with the grid's rates marked; the study's GPU-hours against what the grid (one run per rate of
recipes/grid.yaml, or JAFT_GRID) costs for the same model and task; the tuned model's score on the scored
split beside the grid's best, with the paired bootstrap test between them (report.significance).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jaft.common import DataError
from prompts.tasks import TASKS
from recipes import DEFAULT_SEED, read_manifest
from recipes.models import LEARNING_RATES
from report.tables import DASH

JOURNAL = "study.journal"


@dataclass
class Trial:
    number: int
    run_id: str | None
    lr: float | None
    rank: int | None
    epochs: int
    score: float | None       # complete: the trial's value; pruned / failed: its best epoch so far
    state: str                # complete, pruned, failed, killed, interrupted, running, waiting
    gpu_hours: float | None
    wall_s: float | None


@dataclass
class StudyView:
    name: str
    model: str
    task: str
    settings: dict
    trials: list[Trial]
    tuned: object = None                                 # report.collect.Result of the study, if scored
    grid: dict = field(default_factory=dict)             # lr -> report.collect.Result (default seed)
    test: tuple | None = None                            # (diff, low, high, p, n) tuned − grid's best
    plot: str | None = None


def find_studies(runs_root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(runs_root).glob(f"*/{JOURNAL}"))


def state_of(t) -> str:
    """Optuna's state in the words of tune.md: a FAIL is `killed` or `interrupted` when jaft marked it so."""
    name = t.state.name.lower()
    if name == "fail":
        marks = [m for m in ("killed", "interrupted") if t.user_attrs.get(m)]
        return marks[0] if marks else "failed"
    return name


def read_trials(study_dir: Path) -> tuple[dict, list[Trial]]:
    """(the study's settings, its trials) from its journal, read with Optuna's API."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    study = optuna.load_study(study_name=study_dir.name,
                              storage=JournalStorage(JournalFileBackend(str(study_dir / JOURNAL))))
    trials = []
    for t in study.trials:
        run_id = t.user_attrs.get("run_id")
        cost = {}
        if run_id:
            try:
                cost = read_manifest(study_dir / run_id).get("cost") or {}
            except DataError:
                cost = {}
        inter = t.intermediate_values
        score = t.value if t.value is not None else (max(inter.values()) if inter else None)
        lr = t.user_attrs.get("lr_trained") or t.params.get("lr")
        trials.append(Trial(t.number, run_id, float(lr) if lr is not None else None,
                            t.user_attrs.get("rank_trained", t.params.get("rank")), len(inter), score, state_of(t),
                            cost.get("gpu_hours"), cost.get("wall_s")))
    return study.user_attrs.get("settings", {}), trials


def hours(trials_or_results, gpu: bool) -> float:
    return sum((x.gpu_hours or 0.0) if gpu else (x.wall_s or 0.0) / 3600 for x in trials_or_results)


def grid_cost(view: StudyView, gpu: bool) -> tuple[float | None, str]:
    """(hours, how it was found): the grid runs' recorded cost (one per rate of the grid) when all are under
    runs/, else an estimate: the grid's rates × the study's epochs × the trials' mean cost per trained epoch."""
    runs = [view.grid.get(lr) for lr in LEARNING_RATES]
    if all(r is not None and r.cost for r in runs):
        total = sum(r.cost.get("gpu_hours", 0.0) if gpu else r.cost.get("wall_s", 0.0) / 3600 for r in runs)
        return total, f"measured: the {len(runs)} grid runs' run.json"
    trained = [t for t in view.trials if t.epochs and (t.gpu_hours is not None or t.wall_s is not None)]
    if not trained:
        return None, "no trial has a recorded cost yet"
    per_epoch = hours(trained, gpu) / sum(t.epochs for t in trained)
    epochs = int(view.settings.get("epochs") or 10)
    return per_epoch * epochs * len(LEARNING_RATES), (f"estimated: {len(LEARNING_RATES)} rates × {epochs} epochs × "
                                                      f"the trials' mean cost per trained epoch")


def score_spec(task: str) -> tuple[str, float, int]:
    table = TASKS[task].table
    if table:
        return table["metrics"][-1], float(table["scale"]), int(table["digits"])
    return TASKS[task].metrics[0], 1.0, 4


def _num(value, digits: int) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def to_markdown(views: list[StudyView]) -> str:
    lines = ["# Learning-rate search (`just tune`)", "",
             "Each study searched the learning rate (and LoRA rank, if asked) with Optuna (seeded TPE, median "
             "pruner from the first epoch). Every trial is a real jaft run trained on train minus the tuning "
             "rows and scored after each epoch on the tuning rows only: the split the tables report never "
             "chose anything. A pruned trial stopped training after the epoch shown. Tuning score: the "
             "trial's best epoch on the tuning split (selecting metric). GPU-hours: the trial's run.json cost "
             "(training, with the waits while its epochs were scored); CPU runs: wall-clock hours.", ""]
    if not views:
        lines.append("No study yet (`just tune MODEL TASK`).")
    for v in views:
        metric, scale, digits = score_spec(v.task)
        s = v.settings
        gpu = any(t.gpu_hours for t in v.trials)
        unit = "GPU-hours" if gpu else "wall-clock hours (CPU)"
        lines += [f"## {v.name}: {v.model} on {TASKS[v.task].title}", "",
                  f"lr in [{s.get('lr_min', '?')}, {s.get('lr_max', '?')}] (log-uniform), ranks "
                  f"{s.get('ranks') or 'the recipe’s 16'}, {s.get('epochs', '?')} epochs per trial, tuning split "
                  f"{s.get('tune_rows', '?')} rows (seed {s.get('seed', '?')}).", "",
                  f"| trial | run | lr | rank | epochs | tuning score | state | {unit} |",
                  "|---:|---|---:|---:|---:|---:|---|---:|"]
        for t in v.trials:
            cost = t.gpu_hours if gpu else (t.wall_s / 3600 if t.wall_s is not None else None)
            lines.append(f"| {t.number} | {t.run_id or DASH} | {f'{t.lr:.3g}' if t.lr else DASH} | "
                         f"{t.rank or DASH} | {t.epochs} | {_num(t.score, 4)} | {t.state} | {_num(cost, 4)} |")
        if v.plot:
            lines += ["", f"![tuning score against learning rate]({v.plot})"]
        spent = hours(v.trials, gpu)
        grid, how = grid_cost(v, gpu)
        lines += ["", "**Cost.** " + f"This study: {spent:.4f} {unit} over {len(v.trials)} trials "
                  f"({sum(t.epochs for t in v.trials)} epochs trained). The {len(LEARNING_RATES)}-rate grid: "
                  + (f"{grid:.4f} {unit} ({how})" if grid is not None else how)
                  + (f"; the study cost {spent / grid:.0%} of it." if grid else "."), ""]
        lines += comparison_lines(v, metric, scale, digits)
    return "\n".join(lines) + "\n"


def comparison_lines(v: StudyView, metric: str, scale: float, digits: int) -> list[str]:
    if v.tuned is None:
        return ["**Tuned vs grid.** The best trial is not scored on the eval split yet.", ""]
    split = v.tuned.scores.get("split", "eval")
    tuned = v.tuned.metrics[metric] * scale
    lines = [f"**Tuned vs grid** ({metric} on the {split} split, n={v.tuned.best.get('n')}): tuned (lr "
             f"{v.tuned.tuned_lr}, epoch {v.tuned.epoch}, chosen on the tuning split) {tuned:.{digits}f}"]
    grid = [r for r in v.grid.values() if metric in r.metrics]
    if not grid:
        return [lines[0] + "; no grid run of this model and task is scored yet.", ""]
    best = max(grid, key=lambda r: r.metrics[metric])
    lines[0] += (f"; the grid's best (lr {best.lr}, epoch {best.epoch}, chosen on this same split, as the paper "
                 f"does) {best.metrics[metric] * scale:.{digits}f}.")
    if v.test:
        diff, low, high, p, n = v.test
        lines[0] += (f" Paired bootstrap over {n} shared examples: tuned − grid = {diff * scale:+.{digits}f} "
                     f"[{low * scale:+.{digits}f}, {high * scale:+.{digits}f}], p = {p:.4f}.")
    return [lines[0], ""]


def paired(v: StudyView, metric: str) -> tuple | None:
    """Tuned vs the grid's best, paired by example id (report.significance.paired_bootstrap)."""
    from report.examples import run_scores
    from report.significance import paired_bootstrap
    grid = [r for r in v.grid.values() if metric in r.metrics]
    if v.tuned is None or not grid:
        return None
    best = max(grid, key=lambda r: r.metrics[metric])
    a = run_scores(v.task, v.tuned, (metric,)).get(metric, {})
    b = run_scores(v.task, best, (metric,)).get(metric, {})
    ids = sorted(set(a) & set(b))
    if not ids:
        return None
    diff, low, high, p = paired_bootstrap([a[i] for i in ids], [b[i] for i in ids])
    return diff, low, high, p, len(ids)


def views(runs_root: Path, results: dict, tuned: dict, warnings: list[str]) -> list[StudyView]:
    """One StudyView per study folder; a journal that cannot be read is a warning, not a crash."""
    out = []
    for study_dir in find_studies(runs_root):
        try:
            settings, trials = read_trials(study_dir)
        except Exception as e:  # noqa: BLE001 - Optuna raises many kinds for a damaged journal
            warnings.append(f"{study_dir / JOURNAL}: cannot be read ({type(e).__name__}: {e}); left out of tune.md")
            continue
        mine = [r for r in tuned.values() if r.run_dir == study_dir]
        head = mine[0] if mine else None
        model, task = (head.model, head.task) if head else _name_parts(study_dir.name)
        if model is None:
            warnings.append(f"{study_dir}: not a study name (<model>-<task>-tune[-s<seed>]); left out of tune.md")
            continue
        grid = {r.lr: r for r in results.values() if (r.model, r.task, r.variant) == (model, task, None)
                and r.seed == DEFAULT_SEED and r.lr in LEARNING_RATES}
        v = StudyView(study_dir.name, model, task, settings, trials, head, grid)
        v.test = paired(v, score_spec(task)[0])
        out.append(v)
    return out


def _name_parts(name: str) -> tuple[str | None, str | None]:
    from recipes.runs import parse_run_id
    m = parse_run_id(name.replace("-tune", "-tune-0", 1))
    return (m["model"], m["task"]) if m else (None, None)


def plot(v: StudyView, out: Path) -> Path | None:
    """Tuning score against learning rate (log axis), one marker per state; the grid's rates as lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [t for t in v.trials if t.lr and t.score is not None]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for state, marker in (("complete", "o"), ("pruned", "x")):
        xs = [t.lr for t in points if t.state == state]
        ax.scatter(xs, [t.score for t in points if t.state == state], marker=marker, label=state, zorder=3)
    others = [t for t in points if t.state not in ("complete", "pruned")]
    if others:
        ax.scatter([t.lr for t in others], [t.score for t in others], marker="^", label="other", zorder=3)
    for name, lr in LEARNING_RATES.items():
        ax.axvline(lr, color="grey", linestyle="--", linewidth=0.8)
        ax.annotate(name, (lr, 1), xycoords=("data", "axes fraction"), fontsize=7, rotation=90, va="top",
                    ha="right")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (dashed: the grid's rates)")
    ax.set_ylabel(f"{TASKS[v.task].metrics[0]} on the tuning split")
    ax.set_title(f"{v.name}: tuning score against learning rate")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
