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


def to_unit(param: Parameter, value: Any) -> float:
    """Where ``value`` sits in ``param``'s tune range, in [0, 1] (log-scaled keys on a log scale; a choice by
    its index)."""
    if param.type in ("bool", "categorical"):
        choices = [False, True] if param.type == "bool" else list(param.choices)
        return choices.index(value) / max(1, len(choices) - 1) if value in choices else 0.5
    low, high = param.tune_bounds()
    v = min(max(float(value), low), high)
    if (param.scale == "log" or param.type == "pow2") and low > 0:
        return (math.log(v) - math.log(low)) / (math.log(high) - math.log(low)) if high > low else 0.5
    return (v - low) / (high - low) if high > low else 0.5


def from_unit(param: Parameter, u: float) -> Any:
    """The value at ``u`` in [0, 1] of ``param``'s tune range (the inverse of ``to_unit``)."""
    u = min(max(float(u), 0.0), 1.0)
    if param.type in ("bool", "categorical"):
        choices = [False, True] if param.type == "bool" else list(param.choices)
        return choices[min(len(choices) - 1, int(u * len(choices)))]
    low, high = param.tune_bounds()
    if param.type == "pow2":
        exponents = list(range(max(0, math.ceil(math.log2(max(low, 1)))), math.floor(math.log2(high)) + 1))
        return 2 ** exponents[min(len(exponents) - 1, int(u * len(exponents)))]
    if (param.scale == "log") and low > 0:
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        value = low + u * (high - low)
    if param.type == "int":
        return int(min(max(round(value), math.ceil(low)), math.floor(high)))
    return min(max(value, low), high)


def sobol_overrides(space: SearchSpace, seed: int, index: int) -> dict[str, Any]:
    """The ``index``-th point of a scrambled Sobol sequence (seeded by ``seed``) over the tune ranges of the
    tunable keys: a space-filling start where random draws clump."""
    from scipy.stats import qmc

    keys = [name for name, p in sorted(space.params.items()) if p.tunable]
    if not keys:
        return {}
    m = max(1, math.ceil(math.log2(index + 1)))  # Sobol's balance holds for powers of two
    points = qmc.Sobol(len(keys), scramble=True, seed=seed).random_base2(m)
    return {name: from_unit(space.params[name], float(u)) for name, u in zip(keys, points[index], strict=True)}
