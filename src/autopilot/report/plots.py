"""The report's plots: matplotlib figures rendered to inline PNG data URIs (no pyplot, no display)."""

from __future__ import annotations

import base64
import io
import sys
import warnings
from collections import Counter
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from autopilot.space import SearchSpace
from autopilot.workspace.records import RunView

FUNNEL = [
    ("hover_rate", "hover"),
    ("grip_rate", "grip"),
    ("carry_rate", "carry"),
    ("success_rate", "deliver"),
    ("collision_rate", "collision"),
    ("oob_rate", "out of bounds"),
]


def to_data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def close_all() -> None:
    """Figures optuna drew through pyplot stay registered there until closed."""
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close("all")


def champion_so_far(
    history: list[RunView], steps_of: dict[str, int], timeline: list[tuple[str, str]], metric: str
) -> Figure:
    """The champion's score (the run the promotion rule picks, as the report's text names it) against
    cumulative environment steps and cumulative trainer wall time."""
    fig = Figure(figsize=(10, 3.4))
    ax_steps, ax_wall = fig.subplots(1, 2)
    champion_after = dict(timeline)
    score_of = {v.id: v.score for v in history}
    steps = wall = 0.0
    current: float | None = None
    xs_steps, xs_wall, ys = [], [], []
    for view in history:
        steps += steps_of.get(view.id, 0)
        wall += view.record.wall_s or 0.0
        if view.id in champion_after:
            current = score_of.get(champion_after[view.id])
        if current is not None:
            xs_steps.append(steps)
            xs_wall.append(wall / 60)
            ys.append(current)
    # Every run's own score beneath the line: a flat champion line still shows what else was tried.
    steps = wall = 0.0
    dots_steps, dots_wall, dots = [], [], []
    for view in history:
        steps += steps_of.get(view.id, 0)
        wall += view.record.wall_s or 0.0
        if view.score is not None:
            dots_steps.append(steps)
            dots_wall.append(wall / 60)
            dots.append(view.score)
    ax_steps.scatter(dots_steps, dots, s=10, color="grey", alpha=0.6, label="each run")
    ax_wall.scatter(dots_wall, dots, s=10, color="grey", alpha=0.6, label="each run")
    ax_steps.step(xs_steps, ys, where="post", marker="o", markersize=3, label="champion")
    ax_steps.set_xlabel("cumulative environment steps")
    ax_steps.legend(fontsize=7)
    ax_wall.step(xs_wall, ys, where="post", color="tab:orange", marker="o", markersize=3)
    ax_wall.set_xlabel("cumulative trainer wall time (min)")
    for ax in (ax_steps, ax_wall):
        ax.set_ylabel(f"champion's score ({metric})")
        ax.grid(alpha=0.3)
    fig.suptitle("champion so far (the promotion rule's pick)")
    return fig


def learning_curves(curves: dict[str, list[dict[str, Any]]], metric: str) -> Figure:
    fig = Figure(figsize=(10, 3.6))
    ax = fig.subplots()
    for run_id, lines in curves.items():
        points = [
            (line["step"], line["metrics"].get(metric))
            for line in lines
            if isinstance(line.get("metrics"), dict) and isinstance(line["metrics"].get(metric), int | float)
        ]
        if points:  # markers: a one-point curve is a dot, not nothing
            ax.plot([p[0] for p in points], [p[1] for p in points], label=run_id, marker="o", markersize=3)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"{metric} (training)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # runs without a curve draw nothing to name
        ax.legend(fontsize=7)
    ax.set_title("learning curves of the top runs")
    return fig


def population(history: list[RunView], champion_id: str | None, metric: str) -> Figure | None:
    """A population's segments (``pbt``): each member's score by generation, a line from the segment whose
    policy it continued (dashed where it took another member's), the champion's lineage in bold. None when
    the study trained no population."""
    from autopilot.analysis.lineage import generations, lineage, tag_value

    gens = generations(history)
    if not gens:
        return None
    fig = Figure(figsize=(10, 3.6))
    ax = fig.subplots()
    by_id = {v.id: v for v in history}
    for generation, members in sorted(gens.items()):
        for member in members.values():
            view = member.view
            if member.score is None:
                ax.plot([generation], [0.0], marker="x", color="grey")
                continue
            parent = by_id.get(view.record.parent_ids[0]) if view.record.parent_ids else None
            if parent is not None and parent.score is not None:
                took = tag_value(parent, "member") != member.index
                ax.plot(
                    [generation - 1, generation],
                    [float(parent.score), member.score],
                    color="tab:orange" if took else "tab:blue",
                    linestyle="--" if took else "-",
                    linewidth=0.8,
                    alpha=0.7,
                )
            ax.plot([generation], [member.score], marker="o", markersize=3, color="tab:blue")
    chain = [
        (g, float(v.score) if v.score is not None else 0.0)
        for v in (lineage(history, champion_id) if champion_id else [])
        if (g := tag_value(v, "generation")) is not None
    ]
    if chain:
        ax.plot(
            [g for g, _ in chain],
            [score for _, score in chain],
            color="tab:red",
            linewidth=2.2,
            label="the champion's lineage",
        )
        ax.legend(fontsize=7)
    ax.set_xlabel("generation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"{metric} (held-out, signed: higher is better)")
    ax.grid(alpha=0.3)
    ax.set_title("population: each member's segments (dashed: continued another member's policy, perturbed)")
    return fig


def funnel(views: list[RunView]) -> Figure | None:
    """The built-in task's funnel; None for runs that report none of its rates (another trainer)."""
    if not any(view.metrics.get(key) is not None for view in views for key, _ in FUNNEL[:3]):
        return None
    fig = Figure(figsize=(10, 3.6))
    ax = fig.subplots()
    width = 0.8 / max(len(views), 1)
    for i, view in enumerate(views):
        values = [view.metrics.get(key) for key, _ in FUNNEL]
        xs = [j + i * width for j in range(len(FUNNEL))]
        ax.bar(xs, [v if v is not None else 0.0 for v in values], width=width, label=view.id, hatch=None)
        for x, v in zip(xs, values, strict=True):
            if v is None:
                ax.text(x, 0.01, "?", ha="center", fontsize=7)  # unknown, not zero
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(FUNNEL))], [label for _, label in FUNNEL])
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of evaluation episodes")
    ax.set_title("grip -> carry -> deliver funnel, and failures")
    if views:
        ax.legend(fontsize=7)
    return fig


def objective_vs_parameters(history: list[RunView], space: SearchSpace, baseline: dict[str, Any]) -> Figure | None:
    from autopilot.config import to_dotted

    base = to_dotted(baseline)
    complete = [v for v in history if v.state == "complete" and v.score is not None]
    searched = sorted(  # searched: tuned keys only (a seed is not a parameter to read a trend from)
        {
            k
            for v in complete
            for k in to_dotted(v.overrides)
            if k in space.params and space.params[k].is_numeric and space.params[k].tunable
        }
    )
    if not searched:
        return None
    cols = min(3, len(searched))
    rows = (len(searched) + cols - 1) // cols
    fig = Figure(figsize=(10, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, key in zip(axes.flat, searched, strict=False):
        xs = [to_dotted(v.overrides).get(key, base.get(key)) for v in complete]
        ax.scatter(xs, [v.score for v in complete], s=14)
        if space.params[key].scale == "log":
            ax.set_xscale("log")
        ax.set_title(key, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(searched) :]:
        ax.set_visible(False)
    fig.suptitle("objective score against each searched parameter")
    fig.tight_layout()
    return fig


def failures_over_time(history: list[RunView]) -> Figure | None:
    classes = sorted({v.record.failure_class for v in history if v.record.failure_class})
    if not classes:
        return None  # the report says "no failures" in words
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    counts: Counter[str] = Counter()
    series: dict[str, list[int]] = {c: [] for c in classes}
    for view in history:
        if view.record.failure_class:
            counts[view.record.failure_class] += 1
        for c in classes:
            series[c].append(counts[c])
    for c in classes:
        ax.step(range(1, len(history) + 1), series[c], where="post", label=c)
    ax.set_xlabel("run number")
    ax.set_ylabel("cumulative failures")
    ax.set_title("failures by class over time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def optuna_views(ws: Any, exp: Any) -> list[Any]:
    """Parameter importance (fANOVA) and parallel coordinates, drawn by optuna.visualization.matplotlib on the
    workspace exported as an in-memory Optuna study; none while fewer than 4 runs completed."""
    import matplotlib

    matplotlib.use("Agg")  # optuna draws through pyplot: never a display
    import optuna
    from optuna.visualization import matplotlib as ovm

    from autopilot.report.export import to_optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = to_optuna(ws, exp, None, "report")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 4 or not any(t.params for t in complete):
        return []
    figures = []
    for draw in (ovm.plot_param_importances, ovm.plot_parallel_coordinate):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                figures.append(draw(study).figure)
        except (ValueError, RuntimeError, ZeroDivisionError):  # e.g. every run at the same value
            continue
    return figures
