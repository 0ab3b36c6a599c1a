"""Synthetic proposer inputs over the built-in task's default space, for tests and benchmarks (as
``optuna.testing``): a context, a run view, and a history of random configs with random scores."""

from __future__ import annotations

from typing import Any

import numpy as np

from autopilot.experiment import presets
from autopilot.experiment.schema import ProposerSpec
from autopilot.objective import Objective
from autopilot.proposers.base import Context
from autopilot.proposers.registry import make_proposer
from autopilot.space import SearchSpace
from autopilot.workspace.records import RunRecord, RunView

SPACE = SearchSpace.from_dict(presets.default_search_space(), presets.puffer_rules())
BASELINE = presets.baseline_config("builtin", "drone_delivery", "quick")


def context(
    seed: int = 0,
    safe_mode: bool = False,
    analysis: dict[str, Any] | None = None,
    space: SearchSpace = SPACE,
    baseline: dict[str, Any] = BASELINE,
    objective: Objective | None = None,
    options: ProposerSpec | None = None,
) -> Context:
    """A proposer's context. By default Protein fits its GPs in 100 steps, not 1000: the contract tests are
    about determinism and validity, not fit quality (a benchmark passes ``ProposerSpec()``)."""
    return Context(
        space=space,
        objective=objective or Objective(),
        baseline=baseline,
        options=options or ProposerSpec(protein_gp_steps=100),
        seed=seed,
        safe_mode=safe_mode,
        last_analysis=analysis,
    )


def view(
    i: int, overrides: dict[str, Any], score: float | None, state: str = "complete", metric: str = "success_rate"
) -> RunView:
    record = RunRecord(
        id=f"2026-01-01T0000{i:02d}Z-{i:06x}", case_id=f"case{i}", state=state, created=f"2026-01-01T00:00:{i:02d}Z"
    )
    summary = None
    if state == "complete" and score is not None:
        summary = {"metrics": {metric: score, "collision_rate": 0.0}, "score": score, "feasible": True}
    return RunView(record, overrides, summary)


def random_history(k: int, seed: int = 0) -> list[RunView]:
    proposals = make_proposer("random").propose([], k, context(seed=seed + 100))
    rng = np.random.default_rng(seed)
    return [
        view(i, SPACE.validate(p.overrides, BASELINE).normalized, float(rng.uniform())) for i, p in enumerate(proposals)
    ]
