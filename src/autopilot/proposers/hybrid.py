"""``hybrid`` (the default): model-based sampling (TPE) plus exploitation around the best runs so far.

A batch of n:
- the baseline itself, once, while it has no record (every later result needs a reference);
- when the comparable runs carry information (some score differs from the rest), half of the remaining
  slots (rounded up) are GA children of the best runs, mutated inside the tune ranges; the last run's
  behavioural analysis is a prior on which keys those children move (its next_focus's ``tune`` list), never a
  change of a trial's step budget;
- the rest are TPE samples, its random start-up sized to the study's trial budget.
Runs trained with a step budget other than the baseline's are left out of the evidence (they answer another
question). Each part has a seed of its own, so the TPE slots never repeat what the tpe proposer would draw.
Every part is deterministic given the seed and the history.
"""

from __future__ import annotations

import math
from typing import Any

from autopilot.analysis.ranking import ranked
from autopilot.proposers.base import (
    Context,
    Proposal,
    Proposer,
    at_baseline_budget,
    baseline_slot,
    credited_to,
    history_for_proposers,
)
from autopilot.proposers.ga import GAProposer
from autopilot.proposers.optuna_samplers import TPEProposer
from autopilot.workspace.records import RunView


class HybridProposer(Proposer):
    name = "hybrid"

    def __init__(self) -> None:
        self.tpe = TPEProposer()  # kept across batches: its replayed trials are cached

    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        history = history_for_proposers(history)
        comparable = at_baseline_budget(history, context)
        batch = baseline_slot(history, context)
        scores = {v.score for v in ranked(comparable)}
        if len(scores) > 1 and len(batch) < n:
            n_exploit = math.ceil((n - len(batch)) / 2)
            ga = GAProposer(exploit_fraction=1.0, keys=_prior_keys(context))
            batch += ga.propose(comparable, n_exploit, context.derive("ga"))
        if len(batch) < n:
            batch += self.tpe.propose(comparable, n - len(batch), context.derive("tpe"))
        return credited_to(batch[:n], self.name)


def _prior_keys(context: Context) -> set[str] | None:
    """The keys the last analysis points at (its next_focus's ``tune`` list in proposer.behavior)."""
    focus = (context.last_analysis or {}).get("next_focus")
    action: dict[str, Any] = context.options.behavior.get(str(focus), {}) if focus else {}
    keys = action.get("tune")
    return set(keys) if isinstance(keys, list) else None
