"""A simulated backend for the product's own loop (as syne-tune's simulator backend): an executor that
"trains" each trial in process from a model of the task, writing the files a trainer writes (metrics.jsonl
line by line, eval_episodes.jsonl, trainer_summary.json) on a virtual clock. The loop, the scheduler, the
early-stopping rule, the pick and the budgets are the product's, unchanged: a figure measured here is a
figure of what ``autopilot run`` does.

    study = simulated_study(model, proposer="auto", seed=3, trials=32, workers=1, work=Path("/tmp/s"))
"""

from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from autopilot.analysis.promotion import decide
from autopilot.config import to_dotted
from autopilot.executors.base import Job, OnFinish, OnStart, TrialOutcome, TrialSpec
from autopilot.experiment.loader import load
from autopilot.experiment.scaffold import scaffold
from autopilot.loop.orchestrator import Loop, RunOptions
from autopilot.loop.progress import Progress
from autopilot.workspace.atomic import atomic_write_json
from autopilot.workspace.budget import steps_used
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records, read_config
from autopilot.workspace.run_folder import RunFolder


@dataclass
class Training:
    """One simulated training, as its trainer would have logged it."""

    lines: list[dict[str, Any]]  # metrics.jsonl lines: {"step", "metrics": {...}} (wall_s and sps are added)
    episodes: list[dict[str, Any]]  # eval_episodes.jsonl lines: per-episode flags ({"success": bool, ...})
    steps: int
    sps: float  # environment steps per virtual second


class Model(Protocol):
    """What a landscape offers the simulated backend: a training of a config, and its true quality."""

    def train(self, overrides: dict[str, Any], steps: int, episodes: int, rng: np.random.Generator) -> Training: ...

    def true_quality(self, overrides: dict[str, Any]) -> float: ...


class VirtualClock:
    """Seconds that pass only when the simulated backend says so (the loop's ``--budget-minutes`` reads it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(order=True)
class _Event:
    time: float
    order: int
    slot: int = field(compare=False)


@dataclass
class _Running:
    spec: TrialSpec
    training: Training
    started: float
    next_line: int = 0


class SimulatedExecutor:
    """The executor protocol on a simulated backend: up to ``workers`` trials at once, each writing one metrics
    line per event on the virtual clock; the early-stopping check is asked after every line (the local executor
    asks every 2 s, about a line of a real 2.5M-step trial). A simulated trial never hangs, so the wall-clock and
    stall limits are not simulated."""

    def __init__(self, model: Model, clock: VirtualClock, workers: int, seed: int) -> None:
        self.model, self.clock, self.workers, self.seed = model, clock, max(1, workers), seed
        self.trained = 0

    def run(self, jobs: list[Job], on_start: OnStart, on_finish: OnFinish, stop: threading.Event) -> None:
        todo = list(jobs)
        running: dict[int, _Running] = {}
        events: list[_Event] = []
        order = 0

        def start(slot: int) -> None:
            nonlocal order
            while todo and not stop.is_set():
                spec = todo.pop(0)()
                if spec is None:
                    continue
                trial = _Running(spec, self._train(spec), self.clock.now)
                running[slot] = trial
                on_start(spec, None)
                order += 1
                heapq.heappush(events, _Event(self._line_time(trial), order, slot))
                return

        for slot in range(min(self.workers, len(todo))):
            start(slot)
        while events:
            event = heapq.heappop(events)
            self.clock.now = max(self.clock.now, event.time)
            trial = running[event.slot]
            outcome = self._advance(trial, stop)
            if outcome is None:
                order += 1
                heapq.heappush(events, _Event(self._line_time(trial), order, event.slot))
                continue
            del running[event.slot]
            on_finish(trial.spec, outcome)
            start(event.slot)

    def _train(self, spec: TrialSpec) -> Training:
        config = to_dotted(json.loads(RunFolder(spec.run_dir).config.read_text()))
        steps = int(config["train.total_timesteps"])
        episodes = int(config["autopilot.evaluation.episodes"])  # the objective's, as the driver reads them
        self.trained += 1
        rng = np.random.default_rng([self.seed, self.trained, int(config.get("train.seed") or 0)])
        return self.model.train(model_keys(config), steps, episodes, rng)

    @staticmethod
    def _line_time(trial: _Running) -> float:
        line = trial.training.lines[trial.next_line]
        return trial.started + int(line["step"]) / trial.training.sps

    def _advance(self, trial: _Running, stop: threading.Event) -> TrialOutcome | None:
        """Write the trial's next line; its outcome once it is stopped, pruned or done, else None."""
        spec, training = trial.spec, trial.training
        folder = RunFolder(spec.run_dir)
        wall = round(self.clock.now - trial.started, 3)
        line = {**training.lines[trial.next_line], "wall_s": wall, "sps": training.sps}
        with folder.metrics.open("a") as f:
            f.write(json.dumps(line) + "\n")
        trial.next_line += 1
        if stop.is_set():
            return TrialOutcome(spec.run_id, wall_s=wall, stopped_by="stop", detail="stopped by the loop")
        if trial.next_line < len(training.lines):
            why = spec.should_stop() if spec.should_stop is not None else None
            if why:
                return TrialOutcome(spec.run_id, wall_s=wall, stopped_by="pruned", detail=why)
            return None
        folder.eval_episodes.write_text("".join(json.dumps(e) + "\n" for e in training.episodes))
        metrics = {
            name: float(np.mean([bool(e[flag]) for e in training.episodes]))
            for flag, name in (("success", "success_rate"), ("grip", "grip_rate"), ("carry", "carry_rate"))
            if training.episodes and flag in training.episodes[0]
        }
        atomic_write_json(
            folder.trainer_summary,
            {
                "metrics": metrics,
                "eval": {"episodes": len(training.episodes)},
                "steps": training.steps,
                "wall_s": wall,
                "seed": None,
            },
        )
        return TrialOutcome(spec.run_id, exit_code=0, wall_s=wall)


def model_keys(config: dict[str, Any]) -> dict[str, Any]:
    """The keys of an effective config (dotted) a model reads: train, env, policy."""
    return {k: v for k, v in config.items() if k.startswith(("train.", "env.", "policy."))}


class _Quiet(Progress):
    """No console output: a benchmark prints its own table."""

    def begin(self) -> None:
        return None

    def end(self) -> None:
        return None

    def started(self, spec: Any) -> None:
        return None

    def finished(self, record: Any, summary: Any) -> None:
        return None

    def message(self, text: str) -> None:
        return None


def simulated_study(
    model: Model,
    proposer: str,
    seed: int,
    work: Path,
    trials: int | None = None,
    steps: int = 2_500_000,
    budget_steps: int | None = None,
    budget_minutes: float | None = None,
    workers: int = 1,
    early_stopping: Any = "auto",
    configure: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """One study of the built-in task's workspace, run by the product's loop (``autopilot run``) on the
    simulated backend: ``proposer`` with study seed ``seed``, a budget of ``trials`` trials or ``budget_steps``
    steps (each trial ``steps`` long) or ``budget_minutes`` virtual minutes. Returns what the study handed over
    (its champion, at its true quality), its exit code, trials and steps, and its anytime curve."""
    import yaml

    ws = Workspace(work / f"{proposer}-{seed}")
    scaffold(ws.root, trainer="builtin")
    exp_file = ws.experiment_file
    data = yaml.safe_load(exp_file.read_text())
    data["early_stopping"]["enabled"] = early_stopping
    if configure is not None:
        configure(data)
    exp_file.write_text(yaml.safe_dump(data, sort_keys=False))
    for mode in ("quick", "full"):
        baseline_file = ws.root / "configs" / f"baseline_{mode}.json"
        baseline = json.loads(baseline_file.read_text())
        baseline["train"]["total_timesteps"] = steps
        baseline_file.write_text(json.dumps(baseline))
    loaded = load(ws, "quick")
    clock = VirtualClock()
    executor = SimulatedExecutor(model, clock, workers, seed)
    options = RunOptions(
        iterations=None,
        proposer=proposer,
        seed=seed,
        workers=workers,
        trials=trials,
        budget_steps=budget_steps,
        budget_minutes=budget_minutes,
        report=False,  # the report decides nothing; rendering it would be most of a simulated study's time
    )
    loop = Loop(loaded, options, progress=_Quiet(loaded.workspace, "success_rate"), executor=executor, clock=clock)
    result = loop.run()
    history = Records(loaded.workspace).history()
    objective = loaded.experiment.objective
    champion = decide(history, objective, loaded.workspace.runs).champion
    runs = loaded.workspace.runs
    truth = {
        v.id: model.true_quality(model_keys(to_dotted(read_config(runs / v.id) or {})))
        for v in history
        if v.state == "complete"
    }
    curve, used = [], 0
    for k, view in enumerate(history):
        used += steps_used(loaded.workspace, view)
        best = decide(history[: k + 1], objective, loaded.workspace.runs).champion if view.state == "complete" else None
        if best is not None:
            curve.append((used, truth[best.id]))
    return {
        "proposer": proposer,
        "seed": seed,
        "exit_code": result.exit_code,
        "message": result.message,
        "trials": len(history),
        "pruned": sum(v.state == "pruned" for v in history),
        "configs": sum(v.state in ("complete", "pruned") and "confirm" not in v.record.tags for v in history),
        "steps_used": used,
        "virtual_minutes": clock.now / 60,
        "champion_true": truth[champion.id] if champion else 0.0,
        "best_true_seen": max(truth.values(), default=0.0),
        "curve": curve,
    }
