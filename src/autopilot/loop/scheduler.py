"""What runs next, decided in one place (as SMAC3's intensifier owns it): from the history, the budget, the
cases already queued and the free workers, the actions of one turn of the loop: which configs get a
confirmation re-run, which a final re-run, how many new proposals, how many queued cases start now, which
running trial the early-stopping rule ends, and whether the study is done.

The orchestrator carries the actions out and decides nothing of its own; the tests and the benchmarks drive
the same orchestrator, so every figure measures this rule and not a copy of it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopilot.analysis.early_stopping import SuccessiveHalvingPruner
from autopilot.analysis.guardrails import evaluate
from autopilot.analysis.promotion import Promotion, best_estimates, decide
from autopilot.config import to_dotted
from autopilot.experiment.loader import Loaded
from autopilot.workspace.atomic import read_curve
from autopilot.workspace.budget import Budget, usage
from autopilot.workspace.records import Case, RunView, read_config
from autopilot.workspace.run_folder import RunFolder

RESERVE_FRACTION = 0.1  # of a study's trial budget, kept for re-running the top configs on new seeds
FINAL_TOP = 3  # the final re-runs go to the best estimates among this many configs


@dataclass(frozen=True)
class Room:
    """A budget in trials: ``left`` trials may still start, of ``total`` the whole budget holds (a step or a
    time budget counted in trials of the baseline's length)."""

    left: int
    total: int


@dataclass(frozen=True)
class Actions:
    """One turn of the loop, in the order the orchestrator carries it out."""

    confirmations: tuple[str, ...] = ()  # configs (root run ids) whose lead rests on fewer seeds: a re-run each
    final_reruns: tuple[str, ...] = ()  # configs re-run on new seeds with the budget's last trials
    proposals: int = 0  # new proposals to ask for
    run_at_most: int | None = None  # of the queued cases, how many start this turn (the rest wait); None: all


def reserve_trials(trials: int, top: int = FINAL_TOP) -> int:
    """How many of a ``trials`` budget's last trials re-run the top configs (about 10%, 1 to ``top``)."""
    return min(top, max(1, round(RESERVE_FRACTION * trials)))


def confirmed_roots(history: Sequence[RunView], pending: Sequence[Case] = ()) -> set[str]:
    """Configs (root run ids) that already have a re-run, finished or queued."""
    done = {v.record.parent_ids[0] for v in history if "confirm" in v.record.tags and v.record.parent_ids}
    return done | {c.parent_ids[0] for c in pending if "confirm" in c.tags and c.parent_ids}


def confirmations_due(history: list[RunView], promotion: Promotion, pending: Sequence[Case] = ()) -> list[str]:
    """A re-run for each config whose better estimate waits on fewer seeds than the champion and has no
    re-run yet (run ids, in time order)."""
    confirmed = confirmed_roots(history, pending)
    return [run_id for run_id in promotion.awaiting_confirmation if run_id not in confirmed]


def final_reruns(promotion: Promotion, slots: int, history: Sequence[RunView] = (), top: int = FINAL_TOP) -> list[str]:
    """The configs to re-run on new training seeds with the last ``slots`` trials of a budgeted study: of the
    ``top`` best estimates, those with the fewest seeds first, each at most once (a config re-run already is
    skipped: its re-run would repeat the same seed)."""
    confirmed = confirmed_roots(history)
    ranked = [item for item in best_estimates(promotion, top) if item[0] not in confirmed]
    ranked.sort(key=lambda item: item[1][1])  # fewest seeds first; stable: the better estimate first among ties
    return [run_id for run_id, _ in ranked[:slots]]


def proposals_room(room: Room | None, batch: int) -> int:
    """How many new proposals a turn asks for: a batch, less the budget's reserve for final re-runs (all that
    is left once only the reserve is)."""
    if room is None:
        return batch
    reserve = reserve_trials(room.total)
    return max(1, min(batch, room.left - reserve if room.left > reserve else room.left))


def time_room(remaining_s: float, total_s: float, walls: list[float], workers: int) -> Room | None:
    """A time budget in trials: how many still start in ``remaining_s`` and how many ``total_s`` holds, at the
    median wall time of the study's full-length trials (``walls``), ``workers`` at a time; None before one has
    finished."""
    if not walls:
        return None
    per_trial = sorted(walls)[len(walls) // 2]
    left = max(1, math.ceil(remaining_s / per_trial)) * workers
    total = max(1, round(total_s / per_trial)) * workers
    return Room(left, total)


def baseline_steps(baseline: dict[str, Any]) -> int | None:
    """The environment steps of one baseline-length trial, when the baseline says (``train.total_timesteps``)."""
    steps = to_dotted(baseline).get("train.total_timesteps")
    if not isinstance(steps, int | float) or isinstance(steps, bool) or steps <= 0:
        return None
    return int(steps)


def trial_equivalent(trials: int | None, budget_steps: int | None, baseline: dict[str, Any]) -> int | None:
    """The trial budget that sizes a proposer's start-up: ``--trials``, else a step budget in baseline trials."""
    if trials is not None:
        return trials
    steps = baseline_steps(baseline)
    if budget_steps is None or steps is None:
        return None
    return max(1, budget_steps // steps)


def batch_size(asked: int, workers: int | None, sequential: bool) -> int:
    """A batch: the proposer's batch size, or one per free worker for a proposer that learns from each result."""
    return min(asked, workers) if sequential and workers else asked


@dataclass
class Scheduler:
    loaded: Loaded
    budget_trials: int | None  # the trials a --trials or --budget-steps budget holds (it sizes the reserve)
    budgeted: bool  # run under --trials / --budget-steps / --budget-minutes: early stopping's ``auto`` turns on
    window_start: Callable[[], str | None]
    early_stopping: bool = True  # the proposer lets the rule end its trials (Proposer.early_stopping)

    @property
    def runs_dir(self) -> Path:
        return self.loaded.workspace.runs

    def room(
        self,
        history: list[RunView],
        budget: Budget | None,
        time_left_s: float | None,
        budget_minutes: float | None,
        walls: list[float],
        workers: int,
    ) -> tuple[Room | None, str | None]:
        """The study's budget in trials (None: unbounded) and, once a budget is used up, why the study is done.
        ``budget``: of trials and/or steps; ``time_left_s`` of ``budget_minutes``; ``walls``: the wall times of
        the study's finished full-length trials (a time budget counts in trials of their median)."""
        if time_left_s is not None and time_left_s <= 0:
            return None, f"time budget used ({budget_minutes:g} min)"
        if budget is not None:
            used = usage(self.loaded.workspace, history, budget)
            if used.exhausted(budget):
                return None, f"budget used ({used.describe(budget)})"
            left = used.trials_left(budget, baseline_steps(self.loaded.baseline))
            if left is not None and self.budget_trials is not None:
                return Room(left, self.budget_trials), None
        if time_left_s is None or budget_minutes is None:
            return None, None
        return time_room(time_left_s, 60 * budget_minutes, [w for w in walls if w > 0], workers), None

    def next_actions(self, history: list[RunView], pending: list[Case], room: Room | None, batch: int) -> Actions:
        """The actions of one turn. ``room``: the budget in trials (None: unbounded); ``batch``: the proposals
        a turn holds."""
        run_at_most = None if room is None else room.left
        promotion = decide(history, self.loaded.experiment.objective, self.runs_dir)
        confirm = confirmations_due(history, promotion, pending)
        if pending or confirm:
            return Actions(confirmations=tuple(confirm), run_at_most=run_at_most)
        if room is not None and room.left <= reserve_trials(room.total):
            final = final_reruns(promotion, room.left, history)
            if final:
                return Actions(final_reruns=tuple(final), run_at_most=run_at_most)
        return Actions(proposals=proposals_room(room, batch), run_at_most=run_at_most)

    def on_trial_end(self, history: list[RunView], pending: list[Case]) -> Actions:
        """The actions due the moment a trial ends, while others may still run: a confirmation re-run for each
        lead that rests on fewer seeds than the champion (queued now, so it runs before anything new)."""
        confirm = confirmations_due(history, decide(history, self.loaded.experiment.objective, self.runs_dir), pending)
        return Actions(confirmations=tuple(confirm))

    def stopper(self, run_dir: Path, tags: list[str], history: list[RunView]) -> Callable[[], str | None] | None:
        """The early-stopping check for one running trial, asked every few seconds while it runs: a reason to
        end it, or None. None when early stopping is off, for a proposer that stops trials its own way, in safe
        mode, for a confirmation (evidence the pick asked for would be wasted unread) and for the trials the rule
        exempts."""
        exp = self.loaded.experiment
        opts = exp.early_stopping
        total = to_dotted(read_config(run_dir) or {}).get("train.total_timesteps")
        if not self.early_stopping or "confirm" in tags or not opts.active(self.budgeted, exp.trainer.kind):
            return None
        if not isinstance(total, int):
            return None
        if evaluate(history, exp.guardrails, self.window_start()).safe_mode:
            return None
        pruner = SuccessiveHalvingPruner(
            exp.objective.metric,
            tuple(opts.rungs),
            opts.keep_fraction,
            opts.min_trials,
            opts.min_delta,
            opts.smoothing,
            exp.objective.maximize,
            opts.min_se,
            opts.exempt_every,
            signal=tuple(sorted(opts.signal.items())),
        )
        if pruner.exempt(1 + sum(v.id != run_dir.name for v in history)):  # its place in the study
            return None
        peers = [
            read_curve(RunFolder(self.runs_dir / v.id).metrics)
            for v in history
            if v.state in ("complete", "pruned") and _total_steps(self.runs_dir / v.id) == total
        ]
        metrics = RunFolder(run_dir).metrics
        lock = threading.Lock()

        def check() -> str | None:
            with lock:
                return pruner.prune(read_curve(metrics), total, peers)

        return check


def _total_steps(run_dir: Path) -> Any:
    return to_dotted(read_config(run_dir) or {}).get("train.total_timesteps")
