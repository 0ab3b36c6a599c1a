"""Ranking runs: feasible first, then by objective score. ``leaderboard.json`` is derived from runs/."""

from __future__ import annotations

from typing import Any

from autopilot.analysis.promotion import Promotion
from autopilot.experiment import Experiment
from autopilot.records import RunView
from autopilot.workspace import Workspace, atomic_write_json

KEY_METRICS = ("success_rate", "grip_rate", "carry_rate", "collision_rate", "mean_reward", "episode_length")


def rank_key(view: RunView) -> tuple[int, float]:
    score = view.score
    return (1 if view.feasible else 0, score if score is not None else float("-inf"))


def ranked(history: list[RunView]) -> list[RunView]:
    scored = [v for v in history if v.state == "complete" and v.score is not None]
    return sorted(scored, key=rank_key, reverse=True)


def best_run(history: list[RunView]) -> RunView | None:
    order = ranked(history)
    return order[0] if order else None


def leaderboard_rows(
    history: list[RunView], exp: Experiment, promotion: Promotion | None = None
) -> list[dict[str, Any]]:
    rows = []
    champion = promotion.champion.id if promotion and promotion.champion else None
    evidence = promotion.evidence if promotion else {}
    for rank, view in enumerate(ranked(history), start=1):
        summary = view.summary or {}
        rows.append(
            {
                "rank": rank,
                "run_id": view.id,
                "score": view.score,
                "feasible": summary.get("feasible"),
                "objective": {exp.objective.metric: view.metrics.get(exp.objective.metric)},
                "metrics": {k: view.metrics.get(k) for k in KEY_METRICS if k in view.metrics},
                "interval": summary.get("intervals", {}).get(exp.objective.metric),
                "best": view.id == champion,
                "evidence": evidence.get(view.id),
                "proposer": view.record.proposer,
                "tags": view.record.tags,
                "overrides": view.overrides,
            }
        )
    return rows


def write_leaderboard(
    ws: Workspace, history: list[RunView], exp: Experiment, promotion: Promotion | None = None
) -> list[dict[str, Any]]:
    rows = leaderboard_rows(history, exp, promotion)
    atomic_write_json(
        ws.leaderboard,
        {
            "objective": {"metric": exp.objective.metric, "mode": exp.objective.mode},
            "best": promotion.champion.id if promotion and promotion.champion else None,
            "runs": rows,
        },
    )
    return rows
