"""Helpers shared by the test modules: fake-trainer workspaces and loops (proposer inputs: autopilot.testing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from autopilot.experiment.loader import load
from autopilot.experiment.scaffold import scaffold
from autopilot.loop.orchestrator import Loop, RunOptions
from autopilot.loop.progress import Progress
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Case, Records

# Bounds on elapsed time, set far above what any machine needs, so only a limit that was not enforced (a hang)
# fails them; a loaded machine never does. Correctness is asserted by states and failure classes, not time.
ONLY_A_HANG_TAKES_S = 120.0

FAKE = Path(__file__).parent / "fakes" / "fake_trainer.py"
AUTOPILOT = str(Path(sys.executable).with_name("autopilot"))
BEHAVIORS = [
    "ok",
    "hang",
    "stall",
    "crash",
    "nan",
    "nosummary",
    "garbage",
    "segv",
    "spawn",
    "pause",
    "report_parent",
    "curve",
]


def make_ws(root: Path, **overrides: Any) -> Workspace:
    """A command-trainer workspace driving the fake trainer; ``overrides`` patch autopilot.yaml sections."""
    scaffold(root, "command")
    experiment = yaml.safe_load((root / "autopilot.yaml").read_text())
    experiment["trainer"]["command"] = [sys.executable, str(FAKE), "{run_dir}"]
    experiment["objective"] = {"metric": "score", "mode": "max", "constraints": []}
    experiment["search_space"] = {
        "train.x": {"type": "float", "low": 0.0, "high": 1.0},
        "train.behavior": {"type": "categorical", "choices": BEHAVIORS, "tune": False},
        "train.sleep": {"type": "float", "low": 0.0, "high": 60.0, "tune": False},
        "train.seed": {"type": "int", "low": 0, "high": 1_000_000, "tune": False},
        "autopilot.resume_mode": {"type": "categorical", "choices": ["fresh", "continue"], "tune": False},
        "autopilot.resume_from": {"type": "run_ref"},
        "autopilot.save_strategy": {"type": "categorical", "choices": ["best", "latest", "all"], "tune": False},
    }
    experiment["rules"] = []
    experiment["resources"].update({"timeout_minutes": 0.05, "stall_seconds": 1.5})
    for section, values in overrides.items():
        experiment[section].update(values)
    (root / "autopilot.yaml").write_text(yaml.safe_dump(experiment))
    baseline = {
        "train": {"x": 0.5, "behavior": "ok", "sleep": 0.0, "seed": 1},
        "autopilot": {"resume_mode": "fresh", "save_strategy": "all"},
    }
    for mode in ("quick", "full"):
        (root / "configs" / f"baseline_{mode}.json").write_text(json.dumps(baseline))
    return Workspace(root)


def make_loop(ws: Workspace, **options: Any) -> Loop:
    quiet = Progress(ws, "score", live=False)
    quiet.message = lambda text: None  # type: ignore[method-assign]
    return Loop(load(ws), RunOptions(**options), progress=quiet)


def queue(ws: Workspace, *overrides: dict[str, Any]) -> None:
    """Put cases straight into cases/pending/ (as `autopilot propose` would)."""
    loop = make_loop(ws)
    for i, override in enumerate(overrides):
        result = loop.loaded.validate(override)
        assert result.ok, result.errors
        loop.records.write_case(
            Case(
                case_id=f"c{i:011d}", overrides=result.normalized, proposer="test", created=f"2026-01-01T00:00:{i:02d}Z"
            )
        )


def runs(ws: Workspace) -> list[Any]:
    return Records(ws).history()
