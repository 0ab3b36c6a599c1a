"""Sampling from the search space's tune ranges (the GA's exploration)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autopilot.space import Parameter, SearchSpace


def sample_value(param: Parameter, rng: np.random.Generator) -> Any:
    """One value from ``param``'s tune range: log-uniform where log-scaled, uniform otherwise."""
    if param.type == "bool":
        return bool(rng.integers(0, 2))
    if param.type == "categorical":
        return param.choices[int(rng.integers(0, len(param.choices)))]
    low, high = param.tune_bounds()
    if param.type == "pow2":
        exponents = range(max(0, math.ceil(math.log2(max(low, 1)))), math.floor(math.log2(high)) + 1)
        return 2 ** int(rng.choice(list(exponents)))
    if param.scale == "log" and low > 0:
        value = float(math.exp(rng.uniform(math.log(low), math.log(high))))
    else:
        value = float(rng.uniform(low, high))
    if param.type == "int":
        return int(min(max(round(value), math.ceil(low)), math.floor(high)))
    return min(max(value, low), high)


def sample_overrides(space: SearchSpace, rng: np.random.Generator) -> dict[str, Any]:
    return {name: sample_value(p, rng) for name, p in sorted(space.params.items()) if p.tunable}
