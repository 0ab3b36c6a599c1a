"""Synthetic landscapes of other shapes than the built-in task's surrogate, for the simulated backend
(benchmarks/simulated.py): a default tuned on one landscape is judged on these, which it was not tuned on.

- ``floor``: most of the space scores at a noise floor (success about 0.02, per-episode intervals overlapping);
  a narrow region, about 6% of random draws, rises to 0.85. The funnel's earlier stages (grip, carry) rise over
  a wider region: a dense signal where success is flat.
- ``crossing``: a broad landscape whose learning curves cross: the configs that end best start slowest, so at a
  third of a trial a mediocre fast starter leads a good late starter.

Both are over the built-in task's tune space (keys scaled to [0, 1], log keys on a log scale), with seed noise in
logit space and binomial episode noise, and write the funnel's rates the shipped early-stopping signal reads.

    model = LANDSCAPES["floor"]()
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autopilot.experiment import presets
from benchmarks.simulated import Training
from benchmarks.surrogate import coordinates, tuned_keys

BASELINE = presets.baseline_config("builtin", "drone_delivery", "quick")
POINTS = 12  # metrics lines a trial logs
EPISODES_PER_POINT = 200.0  # the episodes behind each logged rate


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class _Landscape:
    sps = 120_000.0  # about the built-in task's speed on 2 cores: only the virtual clock reads it
    seed_sd = 0.35  # a training seed's spread, in logit space

    def __init__(self) -> None:
        keys = tuned_keys()
        self.relevant = [keys.index(k) for k in ("train.learning_rate", "train.ent_coef", "train.gamma")]

    def unit(self, overrides: dict[str, Any]) -> np.ndarray:
        return coordinates(overrides, BASELINE)[self.relevant]

    def stages(self, overrides: dict[str, Any]) -> tuple[float, float, float]:
        """(grip, carry, success) a config reaches on an average seed."""
        raise NotImplementedError

    def speed(self, overrides: dict[str, Any]) -> float:
        """The fraction of a trial at which the curve is half way up (an S-shaped rise)."""
        return 0.25

    def true_quality(self, overrides: dict[str, Any]) -> float:
        return self.stages(overrides)[2]

    def train(self, overrides: dict[str, Any], steps: int, episodes: int, rng: np.random.Generator) -> Training:
        shift = float(rng.normal(0.0, self.seed_sd))  # this seed's luck, the same for every stage
        grip, carry, success = (_sigmoid(_logit(p) + shift) for p in self.stages(overrides))
        middle = self.speed(overrides)
        lines = []
        for k in range(1, POINTS + 1):
            f = k / POINTS
            rise = _sigmoid((f - middle) / 0.07) / _sigmoid((1.0 - middle) / 0.07)  # 1 at the end
            rates = {
                name: float(rng.binomial(int(EPISODES_PER_POINT), min(1.0, value * rise))) / EPISODES_PER_POINT
                for name, value in (("success_rate", success), ("carry_rate", carry), ("grip_rate", grip))
            }
            lines.append({"step": int(f * steps), "metrics": {**rates, "environment/episodes": EPISODES_PER_POINT}})
        s = rng.random(episodes) < success
        c = s | (rng.random(episodes) < max(0.0, carry - success))
        g = c | (rng.random(episodes) < max(0.0, grip - carry))
        rows = [{"success": bool(a), "carry": bool(b), "grip": bool(d)} for a, b, d in zip(s, c, g, strict=True)]
        return Training(lines, rows, steps, self.sps)


class Floor(_Landscape):
    """A narrow region above a noise floor; the funnel's earlier stages rise over wider regions around it."""

    centre = np.array([0.72, 0.35, 0.78])
    width = 0.12
    floor = 0.02

    def stages(self, overrides: dict[str, Any]) -> tuple[float, float, float]:
        r2 = float(np.sum(((self.unit(overrides) - self.centre) / self.width) ** 2))
        success = self.floor + (0.85 - self.floor) * math.exp(-r2 / 2)
        carry = 0.05 + (0.9 - 0.05) * math.exp(-r2 / (2 * 2.25))  # 1.5 times as wide
        grip = 0.1 + (0.95 - 0.1) * math.exp(-r2 / (2 * 4.0))  # twice as wide
        return max(grip, carry, success), max(carry, success), success


class Crossing(_Landscape):
    """A broad bowl; the better a config ends, the later it starts learning."""

    centre = np.array([0.55, 0.5, 0.6])

    def stages(self, overrides: dict[str, Any]) -> tuple[float, float, float]:
        r2 = float(np.sum(((self.unit(overrides) - self.centre) / 0.35) ** 2))
        success = 0.1 + 0.75 * math.exp(-r2 / 2)
        return min(1.0, success + 0.1), min(1.0, success + 0.05), success

    def speed(self, overrides: dict[str, Any]) -> float:
        quality = (self.true_quality(overrides) - 0.1) / 0.75
        return 0.1 + 0.5 * quality**2  # the best configs take off past half of the trial


LANDSCAPES: dict[str, type[_Landscape]] = {"floor": Floor, "crossing": Crossing}
