"""How the loop launches a trainer: the argv (never through a shell) and the environment (docs/architecture.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autopilot.experiment.schema import TrainerSpec
from autopilot.trainers.protocol import CONFIG_FILE, protocol_env


def trainer_argv(trainer: TrainerSpec, run_dir: Path) -> list[str]:
    """``builtin``/``puffer``: the PufferLib driver under ``trainer.python``; ``command``: the argv template
    with ``{run_dir}`` and ``{config}`` filled in."""
    if trainer.kind == "command":
        assert trainer.command, "trainer.command is checked when autopilot.yaml is loaded"
        values = {"run_dir": str(run_dir), "config": str(run_dir / CONFIG_FILE)}
        return [
            arg.replace("{run_dir}", values["run_dir"]).replace("{config}", values["config"]) for arg in trainer.command
        ]
    python = trainer.python or sys.executable
    return [python, "-m", "autopilot.trainers.puffer", "--run-dir", str(run_dir)]


def trainer_env(run_dir: Path) -> dict[str, str]:
    env = {**os.environ, **protocol_env(run_dir), "PYTHONUNBUFFERED": "1"}
    # A trainer under another interpreter (trainer.python) must still import this package's driver.
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env
