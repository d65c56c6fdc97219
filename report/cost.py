"""What each result cost: reports/cost.md (a table per task) and reports/cost_<task>.png (best score against
GPU-hours, one point per run, the Pareto front drawn), from run.json's `cost` (recipes/cost.py)."""
from __future__ import annotations

from pathlib import Path

from prompts.tasks import TASKS
from report.tables import DASH

CPU_AXIS = "wall-clock hours (CPU runs: no GPU-hours)"


def score_spec(task: str) -> tuple[str, float, int]:
    """(metric, scale, digits) a task's score is shown with: its table's deciding metric, else the selecting one."""
    table = TASKS[task].table
    if table:
        return table["metrics"][-1], float(table["scale"]), int(table["digits"])
    return TASKS[task].selection_metric, 1.0, 4


def hours(result, gpu_axis: bool) -> float:
    """The x of the cost plot: GPU-hours (0 for a CPU run), or wall-clock hours when no run had a GPU."""
    return result.cost["gpu_hours"] if gpu_axis else result.cost["wall_s"] / 3600


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats (cost no higher and score no lower, one strictly), by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def memory_text(result) -> str:
    cost = result.cost
    peak = cost.get("peak_mem_mib")
    if peak is None:
        return DASH
    if not cost.get("gpus"):
        return f"{peak:,.0f} MiB RSS (CPU, no cap)"
    cap = result.run.get("vram_cap_mb")
    return f"{peak:,.0f} / {cap:,} MiB ({peak / cap:.0%})" if cap else f"{peak:,.0f} MiB"


def to_markdown(results: dict, select: str) -> str:
    lines = ["# What each result cost", "",
             "One row per run (each seed is a run). GPU-hours: wall-clock of the training process × GPUs it "
             "held, every session of the run summed (model loading, training, per-epoch validation loss, "
             "checkpoints; not row fitting before it, nor evaluation, whose time is in results.csv). Peak "
             "memory: the highest `torch.cuda.max_memory_reserved` over ranks, against the run's VRAM cap "
             "(on a CPU, the trainer's peak resident memory). Tokens: non-padding tokens trained, counted by "
             f"the trainer. Best score: the selected epoch ({select}).", ""]
    tasks = sorted({r.task for r in results.values()}, key=list(TASKS).index)
    for task in tasks:
        metric, scale, digits = score_spec(task)
        lines += [f"## {TASKS[task].title}", "",
                  f"| run | device | GPU-hours | wall | peak memory | tokens | tokens/s | {metric} |",
                  "|---|---|---:|---:|---|---:|---:|---:|"]
        for r in sorted((r for r in results.values() if r.task == task), key=lambda r: r.run_id):
            c = r.cost
            score = f"{r.metrics[metric] * scale:.{digits}f}"
            if not c:
                lines.append(f"| {r.run_id} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {score} |")
                continue
            tokens = f"{c['tokens']:,}" if c.get("tokens") else DASH
            rate = f"{c['tokens_per_s']:,.0f}" if c.get("tokens_per_s") else DASH
            device = f"{c.get('device', DASH)} × {c['gpus']}" if c.get("gpus") else c.get("device", DASH)
            lines.append(f"| {r.run_id} | {device} | {c['gpu_hours']:.3f} | "
                         f"{c['wall_s']:,.0f} s | {memory_text(r)} | {tokens} | {rate} | {score} |")
        lines.append("")
    if not tasks:
        lines.append("No scored runs yet.")
    return "\n".join(lines) + "\n"


def plot(results: dict, task: str, out: Path) -> Path | None:
    """Best score against GPU-hours (wall-clock hours when no run of the task had a GPU), the Pareto front
    (nothing cheaper scores higher) as a step line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric, scale, _ = score_spec(task)
    runs = [r for r in results.values() if r.task == task and r.cost]
    if not runs:
        return None
    gpu = any(r.cost.get("gpus") for r in runs)
    points = [(hours(r, gpu), r.metrics[metric] * scale) for r in runs]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(*zip(*points), color="tab:blue", zorder=3)
    for r, (x, y) in zip(runs, points):
        ax.annotate(r.run_id, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    front = [points[i] for i in pareto_front(points)]
    ax.step(*zip(*front), where="post", color="tab:red", label="Pareto front", zorder=2)
    ax.set_xlabel("GPU-hours" if gpu else CPU_AXIS)
    ax.set_ylabel(metric + (" (%)" if scale == 100 else ""))
    ax.set_title(f"{TASKS[task].title}: best score against cost")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
