"""Who is the best run: a new best is crowned only when the evidence says so (DESIGN.md §8).

Walking the completed runs in time order, a challenger with a better point score replaces the champion when
(1) it is feasible and the champion is not, or
(2) the interval of the difference on the objective (bootstrap over both runs' evaluation episodes) lies
    entirely above zero: its interval clears the champion's, or
(3) a confirmation re-run of it on a fresh seed (a case tagged ``confirm``) also beats the champion's score.
Otherwise the challenger waits for its confirmation; the loop schedules one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopilot.analysis.summary import compare, read_episodes
from autopilot.experiment import Experiment
from autopilot.records import RunView


@dataclass
class Promotion:
    champion: RunView | None
    evidence: dict[str, str]  # run id -> why it was (or was not yet) crowned
    awaiting_confirmation: list[str]  # better point estimates without enough evidence yet


def _better(a: RunView, b: RunView) -> bool:
    return a.score is not None and b.score is not None and a.score > b.score


def decide(history: list[RunView], exp: Experiment, runs_dir: Path) -> Promotion:
    complete = [v for v in history if v.state == "complete" and v.score is not None]
    confirms: dict[str, list[RunView]] = {}
    for v in complete:
        if "confirm" in v.record.tags and v.record.parent_ids:
            confirms.setdefault(v.record.parent_ids[0], []).append(v)
    champion: RunView | None = None
    evidence: dict[str, str] = {}
    waiting: list[str] = []
    episodes: dict[str, list[dict[str, Any]]] = {}

    def eps(view: RunView) -> list[dict[str, Any]]:
        if view.id not in episodes:
            episodes[view.id] = read_episodes(runs_dir / view.id)
        return episodes[view.id]

    maximize = exp.objective.mode == "max"
    for run in complete:
        if "confirm" in run.record.tags:
            continue  # a confirmation is evidence for its parent, not a contender of its own
        if champion is None:
            champion, evidence[run.id] = run, "first completed run"
            continue
        if run.feasible and not champion.feasible:
            evidence[run.id] = f"feasible, replacing infeasible {champion.id}"
            champion = run
            continue
        if not _better(run, champion) or (champion.feasible and not run.feasible):
            continue
        result = compare(eps(run), eps(champion), exp.objective.metric, maximize)
        if result is not None and result["verdict"] == "improved":
            diff = result["difference"]
            evidence[run.id] = (
                f"{exp.objective.metric} +{diff['mean']:.4g} over {champion.id}, 97.5% interval "
                f"[{diff['low']:.4g}, {diff['high']:.4g}] clears zero"
            )
            champion = run
            continue
        agreeing = [c for c in confirms.get(run.id, []) if _better(c, champion)]
        if agreeing:
            evidence[run.id] = (
                f"confirmation {agreeing[0].id} on seed {agreeing[0].record.seed} also beats "
                f"{champion.id} ({agreeing[0].score:.4g} > {champion.score:.4g})"
            )
            champion = run
        elif confirms.get(run.id):
            evidence[run.id] = f"not promoted: its confirmation did not beat {champion.id}"
        else:
            waiting.append(run.id)
            evidence[run.id] = f"better point estimate than {champion.id} but inconclusive: awaiting confirmation"
    return Promotion(champion, evidence, [w for w in waiting if champion is None or w != champion.id])
