"""``protein``: PufferLib 3.0's own Protein sweep (a GP over score and cost), driven through its
suggest/observe API over the numeric keys of the same search space (it has no categorical support: those stay
at the baseline). Needs PufferLib (and its pyro dependency); the history is replayed into a fresh Protein on
every call, seeded, so the proposer stays deterministic.
"""

from __future__ import annotations

import contextlib
import io
import random
from typing import Any

import numpy as np

from autopilot.config import to_dotted, to_nested
from autopilot.proposers.base import Context, Proposal, Proposer, batch_index, history_for_proposers
from autopilot.workspace.records import RunView

DISTRIBUTION = {
    ("float", "linear"): "uniform",
    ("float", "log"): "log_normal",
    ("int", "linear"): "int_uniform",
    ("int", "log"): "int_uniform",
    ("pow2", "linear"): "uniform_pow2",
    ("pow2", "log"): "uniform_pow2",
}


def sweep_config(context: Context) -> dict[str, Any]:
    base = to_dotted(context.baseline)
    flat: dict[str, Any] = {}
    for name, p in sorted(context.space.params.items()):
        if not p.tunable or not p.is_numeric:
            continue
        low, high = p.tune_bounds()
        center = base.get(name)
        if not isinstance(center, int | float) or isinstance(center, bool):
            center = (low + high) / 2
        center = min(max(center, low), high)
        flat[name] = {
            "distribution": DISTRIBUTION[(p.type, p.scale)],
            "min": low,
            "max": high,
            "mean": center,
            "scale": "auto",
        }
    return {
        "method": "Protein",
        "metric": context.objective.metric,
        "goal": "maximize" if context.objective.mode == "max" else "minimize",
        **to_nested(flat),
    }


MAX_OBSERVATIONS = 200  # the GP refits on every call: the best 100 and the latest 100 runs bound its cost


class ProteinProposer(Proposer):
    name = "protein"

    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        import torch
        from pufferlib.sweep import Protein

        history = history_for_proposers(history)
        seed = (context.seed * 1_000_003 + batch_index(history)) % 2**31
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        config = sweep_config(context)
        with contextlib.redirect_stdout(io.StringIO()):  # Protein prints its sample ranges
            # Cost is wall seconds, as pufferl passes it, with no cap (the loop enforces time limits); smaller
            # candidate pools than Protein's defaults (1024 / 256): same method, CPU-sized.
            protein = Protein(
                config, max_suggestion_cost=float("inf"), random_suggestions=256, suggestions_per_pareto=64
            )
        keys = set(to_dotted({k: v for k, v in config.items() if isinstance(v, dict)}))
        numeric = sorted({k.rsplit(".", 1)[0] for k in keys})
        base = to_dotted(context.baseline)
        observed = 0
        for view in _observations(history, context.objective.metric):
            values = {k: to_dotted(view.overrides).get(k, base.get(k)) for k in numeric}
            cost = max(float(view.record.wall_s or (view.summary or {}).get("wall_s") or 1.0), 1e-3)
            protein.observe(to_nested(values), float(view.metrics[context.objective.metric]), cost)
            observed += 1
        space = protein.hyperparameters
        out = []
        with _fit_once_per_batch(context.options.protein_gp_steps):
            for i in range(n):
                out.append(self._one(protein, space, numeric, observed, i, context))
        return out

    def _one(self, protein: Any, space: Any, numeric: list[str], observed: int, i: int, context: Context) -> Proposal:
        with contextlib.redirect_stdout(io.StringIO()):  # Protein prints its predictions
            if observed == 0 and i > 0:
                # Protein's first suggestion is its search centre, every time: the rest of a first batch samples
                # around it instead of repeating it.
                hypers = space.to_dict(space.sample(1)[0], None)
                why = "PufferLib Protein: random sample around the search centre (first batch)"
            else:
                try:
                    hypers, _info = protein.suggest(None)
                    why = "PufferLib Protein suggestion"
                except ValueError:  # tied results leave Protein's Pareto front empty (np.stack of nothing)
                    best = max(protein.success_observations, key=lambda e: e["output"] * space.optimize_direction)
                    hypers = space.to_dict(space.sample(1, mu=best["input"])[0], None)
                    why = "PufferLib Protein: tied results, sample around the best observation"
        flat = to_dotted(hypers)
        overrides: dict[str, Any] = {}
        for key in numeric:
            param = context.space.params[key]
            low, high = param.tune_bounds()
            value = min(max(float(flat[key]), low), high)
            overrides[key] = round(value) if param.type in ("int", "pow2") else value
        return Proposal(overrides, [], ["protein"], self.name, why)


@contextlib.contextmanager
def _fit_once_per_batch(num_steps: int) -> Any:
    """Protein refits its two GPs (score, cost) on every ``suggest``; within one batch the data do not change,
    so the fits after the first two are skipped and every suggestion uses the same fitted GPs."""
    from pufferlib import sweep

    real_train = sweep.gp.util.train
    fits = 0

    def train_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal fits
        fits += 1
        return real_train(*args, **{**kwargs, "num_steps": num_steps}) if fits <= 2 else None

    sweep.gp.util.train = train_once
    try:
        yield
    finally:
        sweep.gp.util.train = real_train


def _observations(history: list[RunView], metric: str) -> list[RunView]:
    done = [v for v in history if v.state == "complete" and v.metrics.get(metric) is not None]
    if len(done) <= MAX_OBSERVATIONS:
        return done
    best = sorted(done, key=lambda v: v.score if v.score is not None else float("-inf"))[-MAX_OBSERVATIONS // 2 :]
    latest = done[-MAX_OBSERVATIONS // 2 :]
    return [v for v in done if v in best or v in latest]
