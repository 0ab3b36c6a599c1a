"""``autopilot eval``: re-evaluate a run's checkpoint on new held-out seeds, launched like any trial (its own
process group, the experiment's time limit, killed for real when it runs past it)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopilot.analysis.failures import last_log_line
from autopilot.analysis.stats import Interval, bootstrap_mean
from autopilot.analysis.summary import episode_values
from autopilot.executors.base import TrialOutcome, TrialSpec
from autopilot.executors.local import LocalExecutor
from autopilot.executors.trainer_command import trainer_argv, trainer_env
from autopilot.experiment.schema import Experiment
from autopilot.workspace.atomic import read_jsonl
from autopilot.workspace.checkpoints import final_checkpoint
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import RunView
from autopilot.workspace.run_folder import RunFolder


class ReevaluationError(RuntimeError):
    """The re-evaluation could not run or failed; the message says why."""


@dataclass
class Reevaluation:
    episodes: list[dict[str, Any]]
    out: Path
    # The trainer's figures over the evaluation (its last output line): for a PufferLib env, its own logged stats,
    # the only measure of an env that ends episodes without flagging them (no per-episode records then).
    metrics: dict[str, Any] = field(default_factory=dict)

    def intervals(self, metric: str) -> dict[str, Interval]:
        """The objective's metric and the headline rates, each with its 95% bootstrap interval."""
        out = {}
        for name in dict.fromkeys((metric, "success_rate", "collision_rate", "mean_reward")):
            values = episode_values(self.episodes, name)
            if values is not None and len(values):
                out[name] = bootstrap_mean(values)
        return out


def reevaluate(ws: Workspace, exp: Experiment, view: RunView, episodes: int, seed: int) -> Reevaluation:
    if exp.trainer.kind == "command":
        raise ReevaluationError("re-evaluation needs a PufferLib trainer (builtin or puffer)")
    checkpoint = final_checkpoint(ws, view)
    if checkpoint is None:
        raise ReevaluationError(f"run {view.id} has no checkpoint (not complete, or removed by save_strategy)")
    folder = RunFolder(ws.runs / view.id)
    folder.evals.mkdir(exist_ok=True)
    out = folder.evals / f"seed-{seed}.jsonl"
    argv = [*trainer_argv(exp.trainer, folder.path)]
    argv += ["--eval-only", str(checkpoint), "--episodes", str(episodes), "--seed", str(seed), "--out", str(out)]
    spec = TrialSpec(
        run_id=view.id,
        argv=argv,
        run_dir=folder.evals,
        env=trainer_env(exp.trainer, folder.path),
        timeout_s=exp.resources.timeout_minutes * 60,
        stall_s=exp.resources.stall_seconds,
        log_name=f"seed-{seed}.log",
    )
    outcomes: list[TrialOutcome] = []
    LocalExecutor(1).run([lambda: spec], lambda *_: None, lambda _s, o: outcomes.append(o), threading.Event())
    outcome = outcomes[0]
    if outcome.stopped_by is not None:
        raise ReevaluationError(f"{outcome.stopped_by}: {outcome.detail}")
    if outcome.exit_code != 0:
        raise ReevaluationError(last_log_line(folder.evals / spec.log_name) or f"exit code {outcome.exit_code}")
    try:
        printed = json.loads(last_log_line(folder.evals / spec.log_name))
    except ValueError:
        printed = {}
    metrics = printed.get("metrics") if isinstance(printed, dict) else None
    return Reevaluation(read_jsonl(out), out, metrics if isinstance(metrics, dict) else {})
