"""``pbt``: population-based training (Jaderberg et al., 2017), as runs the loop records like any other.

First the baseline itself, at its own length (the claim's reference). Then a population of
``proposer.pbt.population`` members trains in segments of ``segment_fraction`` of the
baseline's ``train.total_timesteps``. Generation 0 is the baseline and a scrambled Sobol start-up over the tune
ranges, each trained from scratch. At each boundary (every member of a generation finished) the members are
ranked by their segment's held-out objective: each member of the bottom ``quantile`` (and each that failed)
continues from the checkpoint of a member of the top ``quantile`` with that member's hyperparameters perturbed
(explore: each numeric key moved by ``perturb`` of its tune range, on its own scale, up or down; any key
re-drawn from its tune range with ``resample``); the others continue their own checkpoint with their own
hyperparameters. Every segment is a run: its parent is the run whose checkpoint it continues, so the lineage of
any policy is the chain of parents (``lineage``), and its schedule the configs along it.

The proposer keeps no state: a generation and a member are tags of the runs (``generation:G``, ``member:K``),
so a restarted loop goes on where the history stops, and a member never runs twice in one generation. Its
segments are validated as every proposal is; the loop's early-stopping rule leaves them alone (the exploit step
is this proposer's own stopping rule).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autopilot.analysis.lineage import TAG, Member, generations, hyperparameters
from autopilot.config import to_dotted
from autopilot.proposers.base import (
    Context,
    Proposal,
    Proposer,
    baseline_slot,
    credited_to,
    history_for_proposers,
)
from autopilot.proposers.sampling import from_unit, sobol_overrides, to_unit
from autopilot.workspace.records import RunView

SAFE_MODE_FACTOR = 0.5  # in safe mode a perturbation moves half as far and nothing is re-drawn


class PopulationProposer(Proposer):
    name = "pbt"
    fills_batches = False  # at a generation's end it proposes nothing until every member has finished
    early_stopping = False

    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        options = context.options.pbt
        history = history_for_proposers(history)
        steps = self.segment_steps(context)
        gens = generations(history)
        current = max(gens) if gens else 0
        members = gens.get(current, {})
        if gens and len(members) == options.population:
            if any(m.view.state in ("pending", "running") for m in members.values()):
                return []  # the generation is still training: the next one needs all of it
            current, members = current + 1, {}
        # The shipped config at its own length, once: the claim's reference.
        batch = credited_to(baseline_slot(history, context), self.name)
        todo = [k for k in range(options.population) if k not in members][: n - len(batch)]
        if current == 0:
            return batch + [self._first(context, k, steps) for k in todo]
        return batch + [self._next(context, gens[current - 1], current, k, steps) for k in todo]

    @staticmethod
    def segment_steps(context: Context) -> int | None:
        total = to_dotted(context.baseline).get("train.total_timesteps")
        if not isinstance(total, int | float) or isinstance(total, bool) or total <= 0:
            return None
        return max(1, int(total * context.options.pbt.segment_fraction))

    def _segment(self, context: Context, generation: int, k: int, steps: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {"autopilot.save_strategy": "all"}  # a later generation may continue any member
        if steps is not None:
            out["train.total_timesteps"] = steps
        seed = context.space.params.get("train.seed")
        if seed is not None and seed.high is not None:  # each member and generation trains on seeds of its own
            out["train.seed"] = (context.seed * 1_000_003 + generation * 7919 + k * 104_729) % int(seed.high)
        return out

    def _first(self, context: Context, k: int, steps: int | None) -> Proposal:
        tags = [TAG, "generation:0", f"member:{k}"]
        if k == 0:
            overrides: dict[str, Any] = {}
            why = "generation 0: the baseline"
        else:
            overrides = sobol_overrides(context.space, context.seed, k - 1)
            why = "generation 0: a space-filling start"
        return Proposal({**overrides, **self._segment(context, 0, k, steps)}, [], tags, self.name, why)

    def _next(
        self, context: Context, previous: dict[int, Member], generation: int, k: int, steps: int | None
    ) -> Proposal:
        options = context.options.pbt
        ranked = sorted(previous.values(), key=lambda m: (m.score is not None, m.score or 0.0, -m.index))
        cut = max(1, math.ceil(options.quantile * len(ranked)))
        bottom = {m.index for m in ranked[:cut]} | {m.index for m in ranked if m.score is None}
        top = [m for m in ranked[-cut:] if m.score is not None and m.index not in bottom]
        tags = [TAG, f"generation:{generation}", f"member:{k}"]
        own = previous.get(k)
        if own is not None and k not in bottom:
            overrides = hyperparameters(own.view, context.space)
            segment = self._segment(context, generation, k, steps)
            segment.update({"autopilot.resume_mode": "continue", "autopilot.resume_from": own.view.id})
            why = f"generation {generation}: member {k} continues its own policy ({_score(own)})"
            return Proposal({**overrides, **segment}, [own.view.id], [*tags, "continue"], self.name, why)
        rng = np.random.default_rng([context.seed, generation, k, 31])
        if not top:  # every member failed: start this one afresh
            return self._restart(context, generation, k, steps)
        donor = top[int(rng.integers(0, len(top)))]
        overrides, moved = perturb(hyperparameters(donor.view, context.space), context, rng)
        segment = self._segment(context, generation, k, steps)
        segment.update({"autopilot.resume_mode": "continue", "autopilot.resume_from": donor.view.id})
        why = (
            f"generation {generation}: member {k} ({_score(own) if own else 'missing'}) takes member "
            f"{donor.index}'s policy ({_score(donor)}) with {', '.join(moved) or 'its hyperparameters'} perturbed"
        )
        return Proposal({**overrides, **segment}, [donor.view.id], [*tags, "exploit"], self.name, why)

    def _restart(self, context: Context, generation: int, k: int, steps: int | None) -> Proposal:
        overrides = sobol_overrides(context.space, context.seed, generation * context.options.pbt.population + k)
        tags = [TAG, f"generation:{generation}", f"member:{k}", "restart"]
        why = f"generation {generation}: no member of the last generation has a score; member {k} starts afresh"
        return Proposal({**overrides, **self._segment(context, generation, k, steps)}, [], tags, self.name, why)


def _score(member: Member) -> str:
    return "failed" if member.score is None else f"score {member.score:.4g}"


def perturb(values: dict[str, Any], context: Context, rng: np.random.Generator) -> tuple[dict[str, Any], list[str]]:
    """PBT's explore step: each tunable key re-drawn from its tune range with probability ``resample``, else a
    numeric key moved ``perturb`` of its tune range up or down (on its own scale); in safe mode no re-draws and
    half the move. The keys that moved."""
    options = context.options.pbt
    base = to_dotted(context.baseline)
    out: dict[str, Any] = {}
    moved: list[str] = []
    for name, p in sorted(context.space.params.items()):
        if not p.tunable:
            continue
        value = values.get(name, base.get(name))
        draw, step = rng.random(), options.perturb * (SAFE_MODE_FACTOR if context.safe_mode else 1.0)
        if value is None or (draw < options.resample and not context.safe_mode):
            new = from_unit(p, float(rng.random()))
        elif p.is_numeric:
            new = from_unit(p, to_unit(p, value) + (step if rng.random() < 0.5 else -step))
        else:
            new = value
        out[name] = new
        if new != value:
            moved.append(name)
    return out, moved
