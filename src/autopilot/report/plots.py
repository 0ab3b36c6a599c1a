"""The report's plots: matplotlib figures rendered to inline PNG data URIs (no pyplot, no display)."""

from __future__ import annotations

import base64
import io
from collections import Counter
from typing import Any

from matplotlib.figure import Figure

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
    ax_steps.step(xs_steps, ys, where="post")
    ax_steps.set_xlabel("cumulative environment steps")
    ax_wall.step(xs_wall, ys, where="post", color="tab:orange")
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
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], label=run_id)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"{metric} (training)")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=7)
    ax.set_title("learning curves of the top runs")
    return fig


def funnel(views: list[RunView]) -> Figure:
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
    searched = sorted(
        {k for v in complete for k in to_dotted(v.overrides) if k in space.params and space.params[k].is_numeric}
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


def failures_over_time(history: list[RunView]) -> Figure:
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    classes = sorted({v.record.failure_class for v in history if v.record.failure_class})
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
    ax.set_title("failures by class over time" + ("" if classes else ": none"))
    ax.grid(alpha=0.3)
    if classes:
        ax.legend(fontsize=7)
    return fig
