"""Multi-fidelity early stopping: an asynchronous successive-halving rule over learning curves.

At each rung (a fraction of the trial's step budget) a running trial's objective, smoothed over its last few
metric lines, is compared with what earlier trials of the same budget had at the same step. A trial below the
``1 - keep_fraction`` quantile of at least ``min_trials`` peers, by more than ``min_delta`` and by more than
``min_se`` standard errors of its own value, is stopped and recorded as ``pruned``. The standard error is the
binomial one of a rate given the episodes behind the smoothed lines (``episodes_metric``), else the spread of
those lines. A rung where the quantile is no better than the worst peer (every curve still at zero) prunes
nothing: there is no ranking yet. Off in safe mode, and for every ``exempt_every``-th trial (the loop's choice:
Hyperband's hedge against a rule that is wrong about late starters).
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


def curve_points(
    lines: list[dict[str, Any]], metric: str, signal: tuple[tuple[str, float], ...] = ()
) -> list[tuple[int, float]]:
    """(step, value) of ``metric`` in each line, or of the weighted sum ``signal`` where one is given (a line
    lacking one of its metrics is skipped)."""
    weights = signal or ((metric, 1.0),)
    out = []
    for line in lines:
        metrics = line.get("metrics") or {}
        values: list[Any] = [metrics.get(name) for name, _ in weights]
        if isinstance(line.get("step"), int) and all(_number(v) for v in values):
            total = 0.0
            for (_, weight), value in zip(weights, values, strict=True):
                total += weight * float(value)
            out.append((int(line["step"]), total))
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value_at(points: list[tuple[int, float]], step: int, smoothing: int) -> float | None:
    """Mean of the last ``smoothing`` values logged at or before ``step``; None before the first log."""
    before = [v for s, v in points if s <= step]
    if not before:
        return None
    return float(np.mean(before[-smoothing:]))


def standard_error(
    points: list[tuple[int, float]], episodes: list[tuple[int, float]], step: int, smoothing: int, at: float
) -> float:
    """The standard error of ``value_at``: binomial, at the rate ``at``, over the episodes behind the smoothed
    lines when they are known and the values are rates; else the spread of the smoothed lines."""
    values = [v for s, v in points if s <= step][-smoothing:]
    behind = [e for s, e in episodes if s <= step][-smoothing:]
    counted = float(sum(behind))
    if counted > 0 and all(0.0 <= v <= 1.0 for v in values):
        q = min(max(at, 1.0 / counted), 1.0 - 1.0 / counted)
        return float(np.sqrt(q * (1.0 - q) / counted))
    if len(values) < 2:
        return 0.0
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))


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
    min_se: float = 0.0,
    episodes: list[tuple[int, float]] | None = None,
) -> str | None:
    """Why to stop this trial now, or None. ``peers`` are the curves of finished trials with the same budget;
    ``episodes``: the episodes behind each of this trial's lines (for its standard error)."""
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
        signed = np.asarray(theirs) * sign
        threshold = float(np.quantile(signed, 1.0 - keep_fraction))
        if threshold <= float(signed.min()):
            return None  # the quantile sits on the worst peer (all still at zero, say): no ranking yet
        margin = max(min_delta, min_se * standard_error(points, episodes or [], step, smoothing, threshold * sign))
        if mine * sign < threshold - margin:
            return (
                f"at {fraction:.0%} of its budget ({step:,} steps) its objective {mine:.4g} is below the "
                f"{1 - keep_fraction:.0%} quantile {threshold * sign:.4g} of {len(theirs)} earlier trials "
                f"by more than {margin:.3g}"
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
    min_se: float = 0.0
    exempt_every: int = 0
    episodes_metric: str = "environment/episodes"
    signal: tuple[tuple[str, float], ...] = ()  # rank by this weighted sum of metrics instead of ``metric``

    def exempt(self, trial_number: int) -> bool:
        """Whether the ``trial_number``-th trial of a study (from 1) runs to its end whatever its curve says."""
        return self.exempt_every > 0 and trial_number % self.exempt_every == 0

    def prune(self, lines: list[dict[str, Any]], total: int, peers: list[list[dict[str, Any]]]) -> str | None:
        """Why to stop a trial whose metrics lines are ``lines`` (budget ``total`` steps), or None.
        ``peers``: the metrics lines of finished trials with the same budget."""
        return prune_decision(
            curve_points(lines, self.metric, self.signal),
            total,
            [curve_points(p, self.metric, self.signal) for p in peers],
            list(self.rungs),
            self.keep_fraction,
            self.min_trials,
            self.min_delta,
            self.smoothing,
            self.maximize,
            self.min_se,
            # binomial error for a rate measured on known episodes; a weighted signal is judged by its spread
            [] if self.signal else curve_points(lines, self.episodes_metric),
        )
