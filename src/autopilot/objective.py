"""What a run is judged by: the objective metric and direction, its constraints, and how evaluation runs.

Evaluation is part of the objective: the loop writes it into every run's config (``autopilot.evaluation``)
and no proposer can change it, so a run cannot make its own exam easier (fewer episodes, fewer drones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EVAL_SEED_OFFSET = 1_000_003  # held-out evaluation seeds never overlap the training env seeds


@dataclass
class Constraint:
    metric: str
    max: float | None = None
    min: float | None = None


@dataclass
class Evaluation:
    """Held-out evaluation of every run's policy, owned by the loop."""

    episodes: int = 512  # episodes per evaluated checkpoint
    seed_offset: int = EVAL_SEED_OFFSET  # evaluation seed = train.seed + seed_offset (mod 2**31)
    env: dict[str, Any] = field(default_factory=dict)  # evaluation env settings over the baseline's env section


@dataclass
class Objective:
    metric: str = "success_rate"
    mode: str = "max"
    constraints: list[Constraint] = field(default_factory=list)
    evaluation: Evaluation = field(default_factory=Evaluation)
    # Promotion: a challenger replaces the champion only when the pooled evidence clears it at this level.
    confidence: float = 0.99

    @property
    def maximize(self) -> bool:
        return self.mode == "max"


def eval_seed(train_seed: int, evaluation: Evaluation) -> int:
    return (train_seed + evaluation.seed_offset) % 2**31
