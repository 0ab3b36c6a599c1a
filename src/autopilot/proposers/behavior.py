"""``behavior``: choose the kind of experiment from the last run's behavioural analysis.

The table ``proposer.behavior`` in autopilot.yaml maps each ``next_focus`` to a budget range, parameter scalings
and the keys the GA may move; values are chosen by GA mutation around the best parent within that narrowed
space. Without an analysis it behaves exactly like ``ga``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from autopilot.analysis.ranking import best_run
from autopilot.config import to_dotted
from autopilot.proposers.base import Context, Proposal, Proposer, batch_index, history_for_proposers
from autopilot.proposers.ga import GAProposer, clamp, mutate, parent_values
from autopilot.space import SearchSpace
from autopilot.workspace.records import RunView


def narrowed(space: SearchSpace, tune: Any) -> SearchSpace:
    """The space with only ``tune``'s keys tunable (``"all"`` keeps every tunable key)."""
    if tune == "all" or tune is None:
        return space
    keep = set(tune)
    params = {k: (p if k in keep else replace(p, tune=False)) for k, p in space.params.items()}
    return SearchSpace(params=params, rules=space.rules)


class BehaviorProposer(Proposer):
    name = "behavior"

    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        history = history_for_proposers(history)
        focus = (context.last_analysis or {}).get("next_focus")
        action = context.options.behavior.get(str(focus)) if focus else None
        if action is None:
            proposals = GAProposer().propose(history, n, context)
            for p in proposals:
                p.reasoning = f"no behavioural analysis to act on; GA: {p.reasoning}"
            return proposals
        rng = np.random.default_rng([context.seed, batch_index(history), 2])
        space = narrowed(context.space, action.get("tune", "all"))
        parent = best_run(history)
        base = to_dotted(context.baseline)
        start = parent_values(parent, context.space, context.baseline) if parent else {}
        sigma = context.options.ga.sigma * (0.5 if context.safe_mode else 1.0)
        out = []
        for _ in range(n):
            child, changed = mutate(
                start,
                space,
                context.baseline,
                rng,
                sigma,
                0.0 if context.safe_mode else context.options.ga.structural_mutation_prob,
            )
            for key, factor in (action.get("scale") or {}).items():
                param = context.space.params.get(key)
                current = child.get(key, base.get(key))
                if param is not None and isinstance(current, int | float) and not isinstance(current, bool):
                    child[key] = clamp(param, current * factor)
                    changed.append(f"{key}x{factor}")
            budget = action.get("timesteps")
            steps_param = context.space.params.get("train.total_timesteps")
            if budget and steps_param is not None:
                low, high = float(budget[0]), float(budget[1])
                child["train.total_timesteps"] = clamp(
                    steps_param, round(math.exp(rng.uniform(math.log(low), math.log(high))))
                )
                changed.append("train.total_timesteps")
            reasoning = (
                f"next_focus {focus} ({action.get('doc', '')}); from "
                f"{parent.id if parent else 'the baseline'}: {', '.join(changed)}"
            )
            out.append(Proposal(child, [parent.id] if parent else [], ["behavior", str(focus)], self.name, reasoning))
        return out
