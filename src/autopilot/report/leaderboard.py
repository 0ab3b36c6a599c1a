"""``leaderboard.json``: derived from runs/ at any time (``analysis/ranking.py`` ranks): ``configs``, the
leaderboard of configs with their runs beneath, and ``runs``, every ranked run."""

from __future__ import annotations

from typing import Any

from autopilot.analysis.promotion import Promotion
from autopilot.analysis.ranking import config_rows, leaderboard_rows
from autopilot.objective import Objective
from autopilot.workspace.atomic import atomic_write_json, read_json
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import RunView


def read_champion(ws: Workspace) -> str | None:
    """The champion leaderboard.json names (None when there is none, or no readable file)."""
    try:
        best = read_json(ws.leaderboard).get("best")
    except (OSError, ValueError, AttributeError):
        return None
    return best if isinstance(best, str) else None


def write_leaderboard(
    ws: Workspace, history: list[RunView], objective: Objective, promotion: Promotion | None = None
) -> list[dict[str, Any]]:
    rows = leaderboard_rows(history, objective, promotion)
    atomic_write_json(
        ws.leaderboard,
        {
            "objective": {"metric": objective.metric, "mode": objective.mode},
            "best": promotion.champion.id if promotion and promotion.champion else None,
            "configs": config_rows(history, objective, promotion) if promotion else [],
            "runs": rows,
        },
    )
    return rows
