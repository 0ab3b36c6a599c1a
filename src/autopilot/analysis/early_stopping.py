"""Multi-fidelity early stopping: an asynchronous successive-halving rule over learning curves.

At each rung (a fraction of the trial's step budget) a running trial's objective, smoothed over its last few
metric lines, is compared with what earlier trials of the same budget had at the same step. A trial below the
``1 - keep_fraction`` quantile of at least ``min_trials`` peers, by more than ``min_delta``, is stopped and
recorded as ``pruned``. Off in safe mode (the loop's choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Rung:
    fraction: float
    value: float
    peers: int
    threshold: float


def curve_points(lines: list[dict[str, Any]], metric: str) -> list[tuple[int, float]]:
    out = []
    for line in lines:
        value = (line.get("metrics") or {}).get(metric)
        if isinstance(line.get("step"), int) and isinstance(value, int | float) and not isinstance(value, bool):
            out.append((int(line["step"]), float(value)))
    return out


def value_at(points: list[tuple[int, float]], step: int, smoothing: int) -> float | None:
    """Mean of the last ``smoothing`` values logged at or before ``step``; None before the first log."""
    before = [v for s, v in points if s <= step]
    if not before:
        return None
    return float(np.mean(before[-smoothing:]))


def prune_decision(
    points: list[tuple[int, float]],
    total: int,
    peers: list[list[tuple[int, float]]],
    rungs: list[float],
    keep_fraction: float,
    min_trials: int,
    min_delta: float,
    smoothing: int,
    maximize: bool = True,
) -> str | None:
    """Why to stop this trial now, or None. ``peers`` are the curves of finished trials with the same budget."""
    if not points:
        return None
    current = max(step for step, _ in points)
    sign = 1.0 if maximize else -1.0
    for fraction in sorted(rungs, reverse=True):
        step = int(fraction * total)
        if current < step:
            continue
        mine = value_at(points, step, smoothing)
        theirs = [
            v for p in peers if p and max(s for s, _ in p) >= step and (v := value_at(p, step, smoothing)) is not None
        ]
        if mine is None or len(theirs) < min_trials:
            return None
        threshold = float(np.quantile(np.asarray(theirs) * sign, 1.0 - keep_fraction))
        if mine * sign < threshold - min_delta:
            return (
                f"at {fraction:.0%} of its budget ({step:,} steps) its objective {mine:.4g} is below the "
                f"{1 - keep_fraction:.0%} quantile {threshold * sign:.4g} of {len(theirs)} earlier trials"
            )
        return None  # judged at the latest rung it has reached
    return None


@dataclass(frozen=True)
class SuccessiveHalvingPruner:
    """The rule above as an object with one question, like Optuna's ``BasePruner.prune``: stop this trial?"""

    metric: str
    rungs: tuple[float, ...] = (0.5, 0.75)
    keep_fraction: float = 0.5
    min_trials: int = 4
    min_delta: float = 0.05
    smoothing: int = 3
    maximize: bool = True

    def prune(self, lines: list[dict[str, Any]], total: int, peers: list[list[dict[str, Any]]]) -> str | None:
        """Why to stop a trial whose metrics lines are ``lines`` (budget ``total`` steps), or None.
        ``peers``: the metrics lines of finished trials with the same budget."""
        return prune_decision(
            curve_points(lines, self.metric),
            total,
            [curve_points(p, self.metric) for p in peers],
            list(self.rungs),
            self.keep_fraction,
            self.min_trials,
            self.min_delta,
            self.smoothing,
            self.maximize,
        )
