"""How the loop launches a trainer: the argv (never through a shell) and the environment (DESIGN.md §6)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autopilot.experiment import TrainerSpec
from autopilot.trainers.protocol import CONFIG_FILE, SUMMARY_FILE


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


def trainer_env(run_dir: Path, run_id: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AUTOPILOT_RUN_DIR": str(run_dir),
            "AUTOPILOT_CONFIG": str(run_dir / CONFIG_FILE),
            "AUTOPILOT_RUN_ID": run_id,
            # The seeds' agents and scripts read these names.
            "PUFFER_AUTOPILOT_RUN_DIR": str(run_dir),
            "PUFFER_AUTOPILOT_SUMMARY": str(run_dir / SUMMARY_FILE),
            "PUFFER_AUTOPILOT_RUN_ID": run_id,
            "PYTHONUNBUFFERED": "1",
        }
    )
    # A trainer under another interpreter (trainer.python) must still import this package's driver.
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env
