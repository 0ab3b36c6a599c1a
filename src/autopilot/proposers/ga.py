"""The deterministic genetic algorithm, on any search space.

A batch is split by ``exploit_fraction``: exploit mutates a parent drawn from the ``top_k`` ranked runs
(feasible first); explore samples the tune ranges. Every value is clamped to the safe range, and a novelty
check rejects a candidate whose config matches a recent run or another case of the batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autopilot.analysis.ranking import ranked
from autopilot.config import config_hash, deep_merge, to_dotted
from autopilot.proposers.base import Context, Proposal, Proposer, batch_index, history_for_proposers
from autopilot.proposers.sampling import sample_overrides
from autopilot.space import Parameter, SearchSpace
from autopilot.workspace.records import RunView

MAX_TRIES_PER_SLOT = 50
SAFE_MODE_SIGMA_FACTOR = 0.5


def clamp(param: Parameter, value: Any) -> Any:
    """Into the tune range of a tuned parameter, else the safe range (integers stay integers): children stay
    where the model-based proposers can learn from them."""
    if not param.is_numeric:
        return value
    low, high = param.tune_bounds() if param.tunable else (param.low, param.high)
    assert low is not None and high is not None
    if param.type in ("int", "pow2"):
        return int(min(max(int(value), math.ceil(low)), math.floor(high)))
    return float(min(max(float(value), low), high))


def parent_values(view: RunView, space: SearchSpace, baseline: dict[str, Any]) -> dict[str, Any]:
    """The parent's override without derived keys (the rules derive them again for the child)."""
    derived = space.derived_keys
    return {k: v for k, v in to_dotted(view.overrides).items() if k not in derived}


def mutate(
    parent: dict[str, Any],
    space: SearchSpace,
    baseline: dict[str, Any],
    rng: np.random.Generator,
    sigma: float,
    structural_prob: float,
    keys: set[str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Jitter continuous parameters; move discrete ones to an adjacent value with ``structural_prob``.
    ``keys``: only these may move (a behaviour prior), when any of them is tunable."""
    base = to_dotted(baseline)
    child = dict(parent)
    changed: list[str] = []
    tunable = [p for _, p in sorted(space.params.items()) if p.tunable]
    if keys and any(p.name in keys for p in tunable):
        tunable = [p for p in tunable if p.name in keys]
    continuous = [p for p in tunable if p.type == "float"]
    discrete = [p for p in tunable if p.type != "float"]
    # Each continuous parameter moves with probability 1/2 (at least one moves), so children stay near parents.
    moves = [p for p in continuous if rng.random() < 0.5] or (
        [continuous[int(rng.integers(len(continuous)))]] if continuous else []
    )
    for p in moves:
        current = child.get(p.name, base.get(p.name))
        if not isinstance(current, int | float) or isinstance(current, bool):
            current = float(np.mean(p.tune_bounds()))
        # sigma is a fraction of the tune range: multiplicative (log-normal) for log-scaled parameters.
        low, high = p.tune_bounds()
        if p.scale == "log" and current > 0 and low > 0:
            value = current * math.exp(sigma * 0.5 * math.log(high / low) * rng.standard_normal())
        else:
            value = current + sigma * (high - low) * 0.5 * rng.standard_normal()
        child[p.name] = clamp(p, value)
        changed.append(p.name)
    for p in discrete:
        if structural_prob <= 0 or rng.random() >= structural_prob:
            continue
        current = child.get(p.name, base.get(p.name))
        value = adjacent(p, current, rng)
        if value is not None and value != current:
            child[p.name] = value
            changed.append(p.name)
    return child, changed


def adjacent(p: Parameter, current: Any, rng: np.random.Generator) -> Any:
    """A neighbouring value: +-1 (ints; x/÷2 for log-scaled ints and powers of two), the next choice, a flip."""
    up = bool(rng.integers(0, 2))
    if p.type == "bool":
        return not bool(current)
    if p.type == "categorical":
        if current not in p.choices:
            return p.choices[0]
        i = p.choices.index(current)
        j = min(max(i + (1 if up else -1), 0), len(p.choices) - 1)
        return p.choices[j if j != i else (i - 1 if up else i + 1) % len(p.choices)]
    if not isinstance(current, int) or isinstance(current, bool):
        return None
    if p.type == "pow2" or p.scale == "log":
        return clamp(p, current * 2 if up else max(current // 2, 1))
    return clamp(p, current + (1 if up else -1))


class GAProposer(Proposer):
    name = "ga"

    def __init__(self, exploit_fraction: float | None = None, keys: set[str] | None = None) -> None:
        """``exploit_fraction``: overrides the experiment's; ``keys``: the only keys children may move."""
        self.exploit_fraction = exploit_fraction
        self.keys = keys

    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        history = history_for_proposers(history)
        opts = context.options.ga
        rng = np.random.default_rng([context.seed, batch_index(history), 1])
        space = context.space
        parents = ranked(history)[: opts.top_k]
        sigma = opts.sigma * (SAFE_MODE_SIGMA_FACTOR if context.safe_mode else 1.0)
        structural = 0.0 if context.safe_mode else opts.structural_mutation_prob
        fraction = opts.exploit_fraction if self.exploit_fraction is None else self.exploit_fraction
        n_exploit = round(n * fraction) if parents else 0
        if context.safe_mode and parents:
            n_exploit = n  # safe mode: known-good parents only, no blind exploration
        seen = (
            {self._hash(v.overrides, context) for v in history[-opts.novelty_window :]}
            if opts.novelty_window
            else set()
        )
        out: list[Proposal] = []
        for slot in range(n):
            exploit = slot < n_exploit
            for _ in range(MAX_TRIES_PER_SLOT):
                if exploit:
                    # Rank-weighted choice: better parents are picked more often.
                    weights = np.array([1.0 / (i + 1) for i in range(len(parents))])
                    parent = parents[int(rng.choice(len(parents), p=weights / weights.sum()))]
                    child, changed = mutate(
                        parent_values(parent, space, context.baseline),
                        space,
                        context.baseline,
                        rng,
                        sigma,
                        structural,
                        self.keys,
                    )
                    proposal = Proposal(
                        child,
                        [parent.id],
                        ["exploit"],
                        self.name,
                        f"mutate {parent.id} (score {parent.score:.4g}): {', '.join(changed)}",
                    )
                else:
                    proposal = Proposal(
                        sample_overrides(space, rng), [], ["explore"], self.name, "sample of the tune ranges"
                    )
                key = self._hash(proposal.overrides, context)
                if key not in seen:
                    seen.add(key)
                    out.append(proposal)
                    break
        return out

    @staticmethod
    def _hash(overrides: dict[str, Any], context: Context) -> str:
        derived = context.space.derived_keys
        core = {k: v for k, v in to_dotted(overrides).items() if k not in derived}
        return config_hash(deep_merge(context.baseline, core), context.space.is_float)
