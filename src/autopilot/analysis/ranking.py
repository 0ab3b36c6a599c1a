"""Ranking runs: feasible first, then by objective score."""

from __future__ import annotations

from collections import Counter
from typing import Any

from autopilot.analysis.promotion import Promotion, configs
from autopilot.objective import Objective
from autopilot.workspace.records import RunView

KEY_METRICS = ("success_rate", "grip_rate", "carry_rate", "collision_rate", "mean_reward", "episode_length")


def why_empty(history: list[RunView]) -> str:
    """Why no run is ranked: nothing ran yet, or what the runs that ended failed with (the last reason)."""
    ended = [v for v in history if v.state not in ("pending", "running")]
    if not ended:
        return "no completed runs yet"
    failed = [v for v in ended if v.record.failure]
    counts = Counter(v.record.failure_class for v in failed)
    text = f"no ranked runs: {len(ended)} ended, none complete with a score"
    if counts:
        text += " (" + ", ".join(f"{n} {name}" for name, n in counts.most_common()) + ")"
        last = failed[-1].record.failure or {}
        text += f"; last: {last.get('class')}: {str(last.get('reason'))[:300]}"
    return text


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
    history: list[RunView], objective: Objective, promotion: Promotion | None = None
) -> list[dict[str, Any]]:
    """The champion (by the promotion rule) first, then the other runs by score: every view of the
    workspace (status, leaderboard, report) names the same best run."""
    rows = []
    champion = promotion.champion.id if promotion and promotion.champion else None
    evidence = promotion.evidence if promotion else {}
    order = ranked(history)
    order = [v for v in order if v.id == champion] + [v for v in order if v.id != champion]
    for rank, view in enumerate(order, start=1):
        summary = view.summary or {}
        rows.append(
            {
                "rank": rank,
                "run_id": view.id,
                "score": view.score,
                "feasible": summary.get("feasible"),
                "objective": {objective.metric: view.metrics.get(objective.metric)},
                "metrics": {k: view.metrics.get(k) for k in KEY_METRICS if k in view.metrics},
                "interval": summary.get("intervals", {}).get(objective.metric),
                "best": view.id == champion,
                "evidence": evidence.get(view.id),
                "estimate": shown_estimate(promotion, view.id, objective),
                "seeds": promotion.estimates[view.id][1] if promotion and view.id in promotion.estimates else None,
                "proposer": view.record.proposer,
                "tags": view.record.tags,
                "overrides": view.overrides,
            }
        )
    return rows


def shown_estimate(promotion: Promotion | None, run_id: str, objective: Objective) -> float | None:
    """A config's estimate in the objective's own units (the promotion keeps it higher-is-better)."""
    if promotion is None or run_id not in promotion.estimates:
        return None
    estimate = promotion.estimates[run_id][0]
    return estimate if objective.maximize else -estimate


def config_rows(history: list[RunView], objective: Objective, promotion: Promotion) -> list[dict[str, Any]]:
    """The leaderboard of configs (a run and its re-runs on other seeds), as the pick ranks them: the champion
    first, then feasible configs, then by estimate (the seeds' mean shrunk toward all configs'); each with its
    runs beneath, in time order. Values in the objective's own units."""
    champion = promotion.champion.id if promotion.champion else None
    groups = configs(history, objective)
    groups.sort(key=lambda c: (c.root.id != champion, not c.feasible, -c.estimate))
    rows = []
    for rank, group in enumerate(groups, start=1):
        rows.append(
            {
                "rank": rank,
                "config_id": group.root.id,
                "best": group.root.id == champion,
                "estimate": shown_estimate(promotion, group.root.id, objective),
                "mean": group.mean if objective.maximize else -group.mean,
                "seeds": group.seeds,
                "feasible": group.feasible,
                "proposer": group.root.record.proposer,
                "evidence": promotion.evidence.get(group.root.id),
                "overrides": group.root.overrides,
                "runs": [
                    {
                        "run_id": v.id,
                        "value": v.metrics.get(objective.metric),
                        "interval": (v.summary or {}).get("intervals", {}).get(objective.metric),
                        "seed": v.record.seed,
                        "rerun": "confirm" in v.record.tags,
                    }
                    for v in group.runs
                ],
            }
        )
    return rows
