"""``auto`` (the default): the baseline, a space-filling start-up, then TPE.

A study's trials, in order:
- the baseline itself, once, while it has no record (every later result, and the claim, needs a reference);
- a start-up of max(4, budget/4) trials (8 without a trial budget) from a scrambled Sobol sequence over the tune
  ranges (space-filling where random draws clump). ``near_share`` of them may instead be drawn around the
  baseline (each numeric key moved by a normal step of 0.15 of its tune range on its own scale, a choice kept
  three times in four), as PufferLib's Protein centres its search on the shipped config; it is 0 by default:
  on the tuning benchmark it slowed studies down, because the shipped config is poor at a study's budget;
- then Optuna's TPE, multivariate and grouped (keys that are set together are modelled together), one proposal
  per free slot with the constant liar for those still running, fitted on every comparable run (pruned ones
  count as worse than any finished one).
Runs trained with a step budget other than the baseline's are left out of the evidence. Deterministic given the
seed and the history. Each part was measured on the tuning benchmark before it became the default
(benchmarks/README.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna

from autopilot.config import to_dotted
from autopilot.proposers.base import (
    Context,
    Proposal,
    Proposer,
    at_baseline_budget,
    baseline_slot,
    credited_to,
    history_for_proposers,
    is_baseline,
)
from autopilot.proposers.optuna_samplers import OptunaProposer
from autopilot.proposers.sampling import from_unit, sobol_overrides, to_unit
from autopilot.workspace.records import RunView

NEAR_SCALE = 0.15  # the step around the baseline, as a fraction of each key's tune range (its own scale)
KEEP_CHOICE = 0.75  # how often a sample around the baseline keeps the baseline's choice of a categorical key


def startup_size(context: Context, fraction: float = 0.25) -> int:
    """Start-up trials before the model proposes: ``fraction`` of a known budget (a quarter), at least 4; 8
    without a budget."""
    if fraction <= 0:
        return 0
    return 8 if context.budget_trials is None else max(4, int(context.budget_trials * fraction))


class GroupedTPEProposer(OptunaProposer):
    """TPE as the model stage of ``auto``: its start-up is ``auto``'s, so it models from the first call."""

    name = "tpe-grouped"

    def sampler(self, seed: int, context: Context) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=0
        )


class AutoProposer(Proposer):
    name = "auto"
    sequential = True

    def __init__(self, near_share: float = 0.0, startup_fraction: float = 0.25, model: Proposer | None = None) -> None:
        self.model = model or GroupedTPEProposer()  # kept across batches: its replayed trials are cached
        self.near_share = near_share  # of the start-up, sampled around the baseline; the rest Sobol
        self.startup_fraction = startup_fraction

    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        history = history_for_proposers(history)
        comparable = at_baseline_budget(history, context)
        batch = baseline_slot(history, context)
        started = sum(not is_baseline(v, context) for v in comparable)
        keys = [name for name, p in sorted(context.space.params.items()) if p.tunable]
        while len(batch) < n and started < startup_size(context, self.startup_fraction) and keys:
            near_so_far = math.floor(started * self.near_share + 0.5)
            if math.floor((started + 1) * self.near_share + 0.5) > near_so_far:
                overrides = self._near_baseline(context, started)
                batch.append(Proposal(overrides, [], ["explore", "near-baseline"], "near-baseline", "start-up"))
            else:
                overrides = sobol_overrides(context.space, context.seed, started - near_so_far)
                batch.append(Proposal(overrides, [], ["explore", "sobol"], "sobol", "start-up, space-filling"))
            started += 1
        if len(batch) < n:
            batch += self.model.propose(comparable, n - len(batch), context.derive("tpe"))
        return credited_to(batch[:n], self.name)

    def _near_baseline(self, context: Context, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([context.seed, index, 17])
        base = to_dotted(context.baseline)
        out: dict[str, Any] = {}
        for name, p in sorted(context.space.params.items()):
            if not p.tunable:
                continue
            u0 = to_unit(p, base[name]) if name in base else float(rng.random())
            if p.type in ("bool", "categorical"):
                out[name] = from_unit(p, u0) if rng.random() < KEEP_CHOICE else from_unit(p, float(rng.random()))
            else:
                out[name] = from_unit(p, u0 + rng.normal(0.0, NEAR_SCALE))
        return out
