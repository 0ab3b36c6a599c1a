"""A population's structure in the records: which run is which member in which generation, and the chain of
runs (its lineage) a policy was trained through. Read by the ``pbt`` proposer, the report and the exports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autopilot.config import to_dotted
from autopilot.space import SearchSpace
from autopilot.workspace.records import RunView

TAG = "pbt"  # every segment of a population carries it, with ``generation:G`` and ``member:K``


@dataclass(frozen=True)
class Member:
    """A member's segment in one generation: its run, and its score in the objective's direction (higher is
    better; None: the segment failed or has no score)."""

    index: int
    view: RunView
    score: float | None


def tag_value(view: RunView, name: str) -> int | None:
    """The integer of a ``name:N`` tag of the run, or None."""
    for tag in view.record.tags:
        key, _, value = tag.partition(":")
        if key == name and value.isdigit():
            return int(value)
    return None


def generations(history: list[RunView]) -> dict[int, dict[int, Member]]:
    """The population's segments by generation and member (re-runs on other seeds are not segments)."""
    out: dict[int, dict[int, Member]] = {}
    for view in history:
        if TAG not in view.record.tags or "confirm" in view.record.tags:
            continue
        generation, member = tag_value(view, "generation"), tag_value(view, "member")
        if generation is None or member is None:
            continue
        score = float(view.score) if view.state == "complete" and view.score is not None else None
        out.setdefault(generation, {})[member] = Member(member, view, score)
    return out


def lineage(history: list[RunView], run_id: str) -> list[RunView]:
    """The segments a policy was trained through, first to last: the run and its parents, back to the one that
    started from scratch."""
    by_id = {v.id: v for v in history}
    chain: list[RunView] = []
    seen: set[str] = set()
    current = by_id.get(run_id)
    while current is not None and current.id not in seen:
        chain.append(current)
        seen.add(current.id)
        current = by_id.get(current.record.parent_ids[0]) if current.record.parent_ids else None
    return list(reversed(chain))


def hyperparameters(view: RunView, space: SearchSpace) -> dict[str, Any]:
    """The tunable keys a segment trained with (what a member hands on), without the segment's own keys."""
    return {k: v for k, v in sorted(to_dotted(view.overrides).items()) if k in space.params and space.params[k].tunable}


def schedule(history: list[RunView], run_id: str, space: SearchSpace) -> list[dict[str, Any]]:
    """The hyperparameter schedule behind run ``run_id``'s policy: one entry per segment of its lineage, first
    to last, with the steps it started at, its own steps and the tunable keys it trained with."""
    out: list[dict[str, Any]] = []
    start = 0
    for view in lineage(history, run_id):
        flat = to_dotted(view.overrides)
        steps = view.summary.get("steps") if view.summary else None
        if not isinstance(steps, int):
            steps = flat.get("train.total_timesteps")
        out.append(
            {
                "run_id": view.id,
                "generation": tag_value(view, "generation"),
                "member": tag_value(view, "member"),
                "from_step": start,
                "steps": steps,
                "score": view.score,
                "hyperparameters": hyperparameters(view, space),
            }
        )
        start += steps if isinstance(steps, int) else 0
    return out
