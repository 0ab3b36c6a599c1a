"""A study's budget: a number of trials and/or environment steps, counted from the records.

Every trial counts (proposals, confirmations, re-runs, failures), and a trial counts by the steps it used
(a pruned or failed one by its last logged step). The budget is stored in the workspace (``budget.json``),
so ``autopilot status`` shows how much is used and a restarted loop stops where the killed one would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autopilot.ids import utc_now
from autopilot.workspace.atomic import atomic_write_json, read_curve, read_json
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import RunView
from autopilot.workspace.run_folder import RunFolder

BUDGET_FILE = "budget.json"


@dataclass(frozen=True)
class Budget:
    trials: int | None
    steps: int | None
    since: str  # runs created at or after this time count

    def to_dict(self) -> dict[str, Any]:
        return {"trials": self.trials, "steps": self.steps, "since": self.since}


@dataclass(frozen=True)
class Usage:
    trials: int
    steps: int

    def left(self, budget: Budget) -> tuple[int | None, int | None]:
        trials = None if budget.trials is None else max(0, budget.trials - self.trials)
        steps = None if budget.steps is None else max(0, budget.steps - self.steps)
        return trials, steps

    def trials_left(self, budget: Budget, trial_steps: int | None) -> int | None:
        """Trials left; a step budget counts in trials of ``trial_steps`` (the baseline's), rounded up: a trial
        that starts with any steps left runs to its end, as a trial of Optuna's study loop does."""
        trials, steps = self.left(budget)
        by_steps = None if steps is None or trial_steps is None else -(-steps // trial_steps)
        known = [n for n in (trials, by_steps) if n is not None]
        return min(known) if known else None

    def exhausted(self, budget: Budget) -> bool:
        trials, steps = self.left(budget)
        return trials == 0 or steps == 0

    def describe(self, budget: Budget) -> str:
        parts = []
        if budget.trials is not None:
            parts.append(f"{self.trials}/{budget.trials} trials")
        if budget.steps is not None:
            parts.append(f"{self.steps:,}/{budget.steps:,} steps")
        return ", ".join(parts)


def start_budget(ws: Workspace, trials: int | None, steps: int | None, history: list[RunView]) -> tuple[Budget, bool]:
    """The study's budget: the workspace's unfinished study when it has the same budget (a re-run of
    ``autopilot run --trials N`` finishes it), else a new one from now on. Returns it and whether it resumed."""
    earlier = read_budget(ws)
    if (
        earlier is not None
        and (earlier.trials, earlier.steps) == (trials, steps)
        and not usage(ws, history, earlier).exhausted(earlier)
    ):
        return earlier, True
    budget = Budget(trials, steps, utc_now())
    atomic_write_json(ws.root / BUDGET_FILE, budget.to_dict())
    return budget, False


def read_budget(ws: Workspace) -> Budget | None:
    try:
        data = read_json(ws.root / BUDGET_FILE)
        return Budget(data.get("trials"), data.get("steps"), str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def steps_used(ws: Workspace, view: RunView) -> int:
    steps = (view.summary or {}).get("steps")
    if isinstance(steps, int) and not isinstance(steps, bool):
        return steps
    lines = read_curve(RunFolder(ws.runs / view.id).metrics)
    logged = [int(line["step"]) for line in lines if isinstance(line.get("step"), int)]
    return max(logged, default=0)


def usage(ws: Workspace, history: list[RunView], budget: Budget) -> Usage:
    counted = [v for v in history if v.record.created >= budget.since and v.state not in ("pending",)]
    counted = [v for v in counted if v.record.failure_class != "invalid_config"]
    return Usage(len(counted), sum(steps_used(ws, v) for v in counted))
