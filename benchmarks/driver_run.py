"""Shared by the benchmark scripts: one run of the PufferLib driver in a scratch folder."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from autopilot.config import deep_merge
from autopilot.experiment.presets import baseline_config


def run_driver(mode: str, override: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train the built-in task with baseline ``mode`` + ``override``; returns (trainer summary, eval episodes)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        config = deep_merge(baseline_config("builtin", "drone_delivery", mode), override)
        (run_dir / "config.json").write_text(json.dumps(config))
        subprocess.run(
            [sys.executable, "-m", "autopilot.trainers.puffer", "--run-dir", str(run_dir)],
            cwd=run_dir,
            check=True,
            capture_output=True,
        )
        summary = json.loads((run_dir / "trainer_summary.json").read_text())
        episodes = [json.loads(line) for line in (run_dir / "eval_episodes.jsonl").read_text().splitlines()]
        return summary, episodes
