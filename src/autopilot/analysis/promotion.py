"""Who is the champion: a new one is crowned only when the evidence says so (docs/architecture.md).

Walking the completed runs in time order, a challenger replaces the champion when
(1) it is feasible and the champion is not, or
(2) its evidence, pooled over its own evaluation and its confirmation re-runs (cases tagged ``confirm``),
    beats the champion's pooled evidence: the interval of the difference on the objective lies entirely on
    the better side of zero. The k-th challenger of a loop is tested at level ``(1 - confidence) / k``
    (two-sided), so the chance that a loop of identical configs ever crowns a new champion stays bounded
    (about (1 - confidence) / 2 times the harmonic number of the challengers, times two looks each) however long
    it runs; a late real improvement needs correspondingly clearer evidence, which its confirmation supplies.
A challenger with a better point estimate that does not clear yet waits for a confirmation (the loop queues
one); a confirmation adds episodes to the pool and the test is made again. Without per-episode evaluation
(a ``command`` trainer that writes none) no interval exists and a challenger needs a confirmation whose score
also beats the champion's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.analysis.stats import normal_difference
from autopilot.analysis.summary import episode_values, read_episodes
from autopilot.objective import Objective
from autopilot.workspace.records import RunView


@dataclass
class Promotion:
    champion: RunView | None
    evidence: dict[str, str]  # run id -> why it was (or was not yet) crowned
    awaiting_confirmation: list[str]  # better point estimates without enough evidence yet
    # (contender run id, the champion once it was judged), in time order: the champion's history for plots.
    timeline: list[tuple[str, str]] = field(default_factory=list)


def _better(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and a > b


def decide(history: list[RunView], objective: Objective, runs_dir: Path) -> Promotion:
    complete = [v for v in history if v.state == "complete" and v.score is not None]
    confirms: dict[str, list[RunView]] = {}
    for v in complete:
        if "confirm" in v.record.tags and v.record.parent_ids:
            confirms.setdefault(v.record.parent_ids[0], []).append(v)
    cache: dict[str, list[dict[str, Any]]] = {}

    def pooled(run: RunView) -> tuple[Any, float | None]:
        """(per-episode objective values over the run and its confirmations, pooled score)."""
        group = [run, *confirms.get(run.id, [])]
        arrays: list[np.ndarray] = []
        for view in group:
            if view.id not in cache:
                cache[view.id] = read_episodes(runs_dir / view.id)
            values = episode_values(cache[view.id], objective.metric)
            if values is None or len(values) == 0:
                arrays.clear()
                break
            arrays.append(values if objective.maximize else -values)
        scores = [v.score for v in group if v.score is not None]
        if arrays:
            values = np.concatenate(arrays)
            return values, float(values.mean())
        return None, sum(scores) / len(scores) if scores else None

    champion: RunView | None = None
    evidence: dict[str, str] = {}
    waiting: list[str] = []
    timeline: list[tuple[str, str]] = []

    def challenge(run: RunView, champion: RunView, k: int) -> bool:
        """Does ``run`` take the title from ``champion``? Records why in ``evidence``."""
        if run.feasible and not champion.feasible:
            evidence[run.id] = f"feasible, replacing infeasible {champion.id}"
            return True
        if champion.feasible and not run.feasible:
            return False
        mine, my_score = pooled(run)
        theirs, their_score = pooled(champion)
        if not _better(my_score, their_score):
            return False
        n_confirm = len(confirms.get(run.id, []))
        if mine is not None and theirs is not None:
            level = 1.0 - (1.0 - objective.confidence) / k
            diff = normal_difference(mine, theirs, level)
            if diff.low > 0:
                evidence[run.id] = (
                    f"{objective.metric} better by {diff.mean:.4g} than {champion.id} (pooled over "
                    f"{1 + n_confirm} run(s)); its {level:.4%} interval (challenger {k}) "
                    f"[{diff.low:.4g}, {diff.high:.4g}] clears zero"
                )
                return True
        elif n_confirm and all(_better(c.score, champion.score) for c in confirms[run.id]):
            evidence[run.id] = f"no per-episode evaluation; its {n_confirm} confirmation(s) also beat {champion.id}"
            return True
        if n_confirm:
            evidence[run.id] = f"not promoted: pooled with {n_confirm} confirmation(s) it does not clear {champion.id}"
        else:
            waiting.append(run.id)
            evidence[run.id] = f"better point estimate than {champion.id} but inconclusive: awaiting confirmation"
        return False

    challengers = 0
    for run in complete:
        if "confirm" in run.record.tags:
            continue  # a confirmation is evidence for its parent, not a contender of its own
        if champion is None:
            champion, evidence[run.id] = run, "first completed run"
        else:
            challengers += 1
            if challenge(run, champion, challengers):
                champion = run
        timeline.append((run.id, champion.id))
    return Promotion(champion, evidence, [w for w in waiting if champion is None or w != champion.id], timeline)


def confirmations_due(history: list[RunView], promotion: Promotion) -> list[str]:
    """What runs next, before any new proposal: a confirmation re-run for each run whose lead awaits one and
    has none yet (run ids, in time order). The loop, the tests and the benchmarks all ask this function."""
    confirmed = {v.record.parent_ids[0] for v in history if "confirm" in v.record.tags and v.record.parent_ids}
    return [run_id for run_id in promotion.awaiting_confirmation if run_id not in confirmed]
