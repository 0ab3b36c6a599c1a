"""``hybrid`` (the default): TPE explores, the GA exploits the best parents, and a behaviour-driven move
joins the batch when the last run's analysis flags a failure mode.

Mix of a batch of n: the very first batch starts with the baseline itself (a reference for every later
result); with no completed run yet, TPE (which samples at random until it has data).
Then one behaviour slot when the last analysis has severity critical or warning, a third of the rest (at
least one) GA exploitation of the top parents, the remainder TPE: on noisy test functions TPE made the most
of a small budget, and GA children of the best parents refine what it found. Every part is deterministic
given the seed and the history.
"""

from __future__ import annotations

from autopilot.leaderboard import ranked
from autopilot.proposers.base import Context, Proposal, Proposer, history_for_proposers
from autopilot.proposers.behavior import BehaviorProposer
from autopilot.proposers.ga import GAProposer
from autopilot.proposers.optuna_samplers import TPEProposer
from autopilot.records import RunView


class HybridProposer(Proposer):
    name = "hybrid"

    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        history = history_for_proposers(history)
        if not history:
            # The very first batch carries the baseline itself: every later result has a reference.
            reference = Proposal({}, [], ["baseline"], "baseline", "the baseline config, as a reference")
            return self._tag([reference, *TPEProposer().propose(history, n - 1, context)])
        if not ranked(history):
            return self._tag(TPEProposer().propose(history, n, context))
        analysis = context.last_analysis or {}
        n_behavior = 1 if analysis.get("severity") in ("critical", "warning") and n > 1 else 0
        n_ga = max(1, (n - n_behavior) // 3)
        n_tpe = n - n_behavior - n_ga
        batch = BehaviorProposer().propose(history, n_behavior, context) if n_behavior else []
        ga = GAProposer().propose(history, n + n_ga, context)  # extra candidates: some are explore slots
        batch += [p for p in ga if "exploit" in p.tags][:n_ga]
        batch += TPEProposer().propose(history, n - len(batch), context) if n_tpe or len(batch) < n else []
        return self._tag(batch[:n])

    def _tag(self, proposals: list[Proposal]) -> list[Proposal]:
        for p in proposals:
            p.tags = [*p.tags, f"via:{p.proposer}"]
            p.proposer = self.name
        return proposals
