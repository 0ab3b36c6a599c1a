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
from autopilot.records import RunView

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
            # Smaller candidate pools than Protein's defaults (1024 / 256): same method, CPU-sized.
            protein = Protein(config, random_suggestions=256, suggestions_per_pareto=64)
        keys = set(to_dotted({k: v for k, v in config.items() if isinstance(v, dict)}))
        numeric = sorted({k.rsplit(".", 1)[0] for k in keys})
        base = to_dotted(context.baseline)
        for view in history:
            if view.state != "complete" or view.metrics.get(context.objective.metric) is None:
                continue
            values = {k: to_dotted(view.overrides).get(k, base.get(k)) for k in numeric}
            cost = float((view.summary or {}).get("steps") or 1)
            protein.observe(to_nested(values), float(view.metrics[context.objective.metric]), cost)
        out = []
        for _ in range(n):
            with contextlib.redirect_stdout(io.StringIO()):  # and its predictions
                hypers, _info = protein.suggest(None)
            flat = to_dotted(hypers)
            overrides: dict[str, Any] = {}
            for key in numeric:
                param = context.space.params[key]
                low, high = param.tune_bounds()
                value = min(max(float(flat[key]), low), high)
                overrides[key] = round(value) if param.type in ("int", "pow2") else value
            out.append(Proposal(overrides, [], ["protein"], self.name, "PufferLib Protein suggestion"))
        return out
