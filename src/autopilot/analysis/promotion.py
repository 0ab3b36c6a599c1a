"""The pick and the claim (docs/promotion.md).

**The pick** (``Promotion.champion``) is the config the loop hands its user: the best estimate. A config is a
run pooled with its re-runs on other training seeds (cases tagged ``confirm``); its estimate is the mean of
their scores, shrunk toward the mean of all configs by empirical Bayes when configs have different numbers of
seeds (one lucky seed is trusted less than a mean over three). Walking the configs in time order, a challenger
replaces the incumbent when it is feasible and the incumbent is not, or when its estimate is better and it has
at least as many seeds (SMAC's intensification rule); a better estimate on fewer seeds waits for a re-run
(``awaiting_confirmation``). Picking by a significance test instead kept poor early champions: when configs
differ, the better estimate is the better bet; when they do not, any pick has zero regret.

**The claim** (``Promotion.claim``) is a test: is the champion better than the baseline (the first completed
config)? The bootstrap interval of the difference of their pooled per-episode evidence, at level
``1 - (1 - confidence) / k`` for the k-th config judged, must clear zero, so a loop of identical configs makes
the claim in at most about ``1 - confidence`` of loops (A/A). Without per-episode evidence no claim is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.analysis.stats import normal_difference
from autopilot.analysis.summary import episode_values, read_episodes
from autopilot.objective import Objective
from autopilot.workspace.records import RunView


@dataclass
class Config:
    """A run and its re-runs on other seeds: the unit the pick judges."""

    root: RunView
    runs: list[RunView]
    mean: float  # in the objective's direction (higher is better)
    estimate: float = 0.0  # the mean shrunk toward the mean of all configs

    @property
    def seeds(self) -> int:
        return len(self.runs)

    @property
    def feasible(self) -> bool:
        return all(v.feasible for v in self.runs)


@dataclass
class Claim:
    """The champion against the baseline, on pooled per-episode evidence."""

    baseline_id: str
    difference: float | None = None  # champion minus baseline, in the objective's units
    low: float | None = None
    high: float | None = None
    level: float | None = None
    better: bool | None = None  # None: no per-episode evidence, no claim

    def describe(self, metric: str) -> str:
        if self.better is None:
            return f"no claim against the baseline {self.baseline_id} (no per-episode evaluation)"
        if self.difference is None or self.low is None or self.high is None:
            return f"the champion is the baseline {self.baseline_id}"
        span = f"{self.difference:+.4g} [{self.low:+.4g}, {self.high:+.4g}] ({self.level:.2%} interval)"
        if self.better:
            return f"better than the baseline {self.baseline_id}: {metric} {span}"
        return f"not shown to beat the baseline {self.baseline_id}: {metric} {span}"


@dataclass
class Promotion:
    champion: RunView | None
    evidence: dict[str, str]  # run id -> why it was (or was not yet) picked
    awaiting_confirmation: list[str]  # better estimates on fewer seeds than the champion
    # (config run id, the champion once it was judged), in time order: the champion's history for plots.
    timeline: list[tuple[str, str]] = field(default_factory=list)
    # root run id -> (estimate, seeds); the estimate in the objective's direction (higher is better)
    estimates: dict[str, tuple[float, int]] = field(default_factory=dict)
    claim: Claim | None = None


def configs(history: list[RunView], objective: Objective) -> list[Config]:
    """Completed runs grouped into configs (a run and its confirmations), in time order, with estimates."""
    complete = [v for v in history if v.state == "complete" and v.score is not None]
    roots = {v.id: Config(v, [v], 0.0) for v in complete if "confirm" not in v.record.tags}
    for v in complete:
        if "confirm" in v.record.tags and v.record.parent_ids and v.record.parent_ids[0] in roots:
            roots[v.record.parent_ids[0]].runs.append(v)
    out = list(roots.values())
    for c in out:
        c.mean = float(np.mean([float(v.score or 0.0) for v in c.runs]))  # score: signed, higher is better
    _shrink(out)
    return out


def _shrink(groups: list[Config]) -> None:
    """Empirical Bayes: estimate = precision-weighted mix of the config's mean (n seeds of noise s2) and the
    mean of all configs (spread t2). Only configs with several seeds tell s2 apart from t2; without any, or
    when all configs have the same number of seeds (the order would not change), estimates are the means."""
    for c in groups:
        c.estimate = c.mean
    if len({c.seeds for c in groups}) < 2:
        return
    within = [
        float(np.var([float(v.score or 0.0) for v in c.runs], ddof=1)) * (c.seeds - 1) for c in groups if c.seeds > 1
    ]
    dof = sum(c.seeds - 1 for c in groups if c.seeds > 1)
    s2 = sum(within) / dof if dof else 0.0
    means = np.array([c.mean for c in groups])
    t2 = max(float(np.var(means, ddof=1)) - float(np.mean([s2 / c.seeds for c in groups])), 1e-12)
    centre = float(means.mean())
    if s2 <= 0.0:
        return
    for c in groups:
        weight = (c.seeds / s2) / (c.seeds / s2 + 1.0 / t2)
        c.estimate = weight * c.mean + (1.0 - weight) * centre


def decide(history: list[RunView], objective: Objective, runs_dir: Path) -> Promotion:
    groups = configs(history, objective)
    champion: Config | None = None
    evidence: dict[str, str] = {}
    timeline: list[tuple[str, str]] = []
    shown = 1.0 if objective.maximize else -1.0
    for c in groups:
        if champion is None:
            champion, evidence[c.root.id] = c, "first completed config"
        elif c.feasible and not champion.feasible:
            evidence[c.root.id] = f"feasible, replacing infeasible {champion.root.id}"
            champion = c
        elif c.estimate > champion.estimate and c.seeds >= champion.seeds and (c.feasible or not champion.feasible):
            evidence[c.root.id] = (
                f"best estimate: {objective.metric} {shown * c.estimate:.4g} over {c.seeds} seed(s), against "
                f"{shown * champion.estimate:.4g} over {champion.seeds} for {champion.root.id}"
            )
            champion = c
        timeline.append((c.root.id, champion.root.id))
    waiting = []
    if champion is not None:
        for c in groups:
            if c is not champion and c.estimate > champion.estimate and c.seeds < champion.seeds and c.feasible:
                waiting.append(c.root.id)
                evidence[c.root.id] = (
                    f"better estimate than {champion.root.id} on fewer seeds ({c.seeds} < {champion.seeds}): "
                    "awaiting a re-run"
                )
    claim = _claim(groups, champion, objective, runs_dir) if champion is not None else None
    return Promotion(
        champion.root if champion else None,
        evidence,
        waiting,
        timeline,
        {c.root.id: (c.estimate, c.seeds) for c in groups},
        claim,
    )


def _claim(groups: list[Config], champion: Config, objective: Objective, runs_dir: Path) -> Claim:
    baseline = groups[0]
    claim = Claim(baseline.root.id)
    if champion is baseline:
        return Claim(baseline.root.id, better=False)
    mine, theirs = _pooled(champion, objective, runs_dir), _pooled(baseline, objective, runs_dir)
    if mine is None or theirs is None:
        return claim
    level = 1.0 - (1.0 - objective.confidence) / max(1, len(groups) - 1)
    diff = normal_difference(mine, theirs, level)
    sign = 1.0 if objective.maximize else -1.0
    low, high = (diff.low, diff.high) if objective.maximize else (-diff.high, -diff.low)
    return Claim(baseline.root.id, sign * diff.mean, low, high, level, diff.low > 0)


def _pooled(c: Config, objective: Objective, runs_dir: Path) -> Any:
    arrays = []
    for view in c.runs:
        values = episode_values(read_episodes(runs_dir / view.id), objective.metric)
        if values is None or len(values) == 0:
            return None
        arrays.append(values if objective.maximize else -values)
    return np.concatenate(arrays)


def best_estimates(promotion: Promotion, top: int) -> list[tuple[str, tuple[float, int]]]:
    """The ``top`` configs by estimate, best first: (root run id, (estimate, seeds))."""
    return sorted(promotion.estimates.items(), key=lambda item: -item[1][0])[:top]


def contenders(history: list[RunView], promotion: Promotion, top: int = 5) -> list[RunView]:
    """The runs the pick may still land on: the champion and the ``top`` best estimates (root runs). A re-run
    on a new seed can lift any of them to champion, so their checkpoints must outlive the current pick."""
    ids = {run_id for run_id, _ in best_estimates(promotion, top)}
    if promotion.champion is not None:
        ids.add(promotion.champion.id)
    return [v for v in history if v.id in ids]
