"""What is checked before the first trial of a study, so a study that cannot work fails in one line instead of
spending its budget: the trainer command exists, an Optuna sampler accepts its keyword arguments, and the
tracking tools asked for are installed."""

from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
from pathlib import Path

from autopilot.executors.trainer_command import trainer_argv
from autopilot.experiment.loader import Loaded
from autopilot.experiment.proposer_names import OPTUNA_PREFIX


def preflight_problems(loaded: Loaded, proposer_name: str) -> list[str]:
    """One ``key: reason`` line per problem found before any trial runs; empty when the study can start."""
    problems = []
    trainer = loaded.experiment.trainer
    program = trainer_argv(trainer, loaded.workspace.runs / "preflight")[0]
    if not _runnable(program):
        key = "trainer.command[0]" if trainer.kind == "command" else "trainer.python"
        problems.append(f"{key}: {program!r} is not an executable file or a program on PATH")
    if proposer_name.startswith(OPTUNA_PREFIX):
        problems += _sampler_problems(proposer_name[len(OPTUNA_PREFIX) :], loaded.experiment.proposer.optuna)
    return problems + _tracking_problems(loaded)


# The module each tracking tool needs in the loop's own interpreter (the ``tracking`` extra installs them).
# The loop itself uses Neptune only for a command trainer's trials: the
# PufferLib driver logs to it from the trainer's interpreter (trainer.python), which the trial checks.
TRACKING_MODULES = {"tensorboard": "tensorboardX", "wandb": "wandb", "neptune": "neptune"}


def _tracking_problems(loaded: Loaded) -> list[str]:
    tracking = loaded.experiment.tracking
    used = [tool for tool in TRACKING_MODULES if getattr(tracking, tool)]
    if loaded.experiment.trainer.kind != "command" and "neptune" in used:
        used.remove("neptune")
    return [
        f"tracking.{tool}: true needs the {TRACKING_MODULES[tool]} package: pip install -e '.[tracking]' "
        "(or set it false)"
        for tool in used
        if importlib.util.find_spec(TRACKING_MODULES[tool]) is None
    ]


def _runnable(program: str) -> bool:
    if os.sep in program:
        return Path(program).is_file() and os.access(program, os.X_OK)
    return shutil.which(program) is not None


def _sampler_problems(name: str, kwargs: dict[str, object]) -> list[str]:
    import optuna

    cls = getattr(optuna.samplers, name, None)
    if cls is None:
        return []  # named by proposer.name's own check
    parameters = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        allowed = [p for p in parameters if p != "self"]
        unknown = [key for key in kwargs if key not in parameters]
        if unknown:
            return [
                f"proposer.optuna.{key}: not a keyword argument of optuna.samplers.{name}; allowed: "
                f"{', '.join(allowed)}"
                for key in unknown
            ]
    try:
        cls(**kwargs)
    except (TypeError, ValueError) as exc:
        return [f"proposer.optuna: optuna.samplers.{name} refuses {kwargs}: {exc}"[:400]]
    return []
