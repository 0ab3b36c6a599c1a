"""The trainer side of the trainer protocol (docs/architecture.md): variables, metric lines, the summary, failures.

A trainer speaks to the loop only through files in its run folder. This module has no heavy imports, so a
``command`` trainer written in Python can use it too.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, TextIO

from autopilot.workspace.atomic import atomic_write_json, atomic_write_text
from autopilot.workspace.run_folder import CHECKPOINTS, CONFIG_FILE, EVAL_FILE, METRICS_FILE, TRAINER_SUMMARY_FILE

__all__ = ["CHECKPOINTS", "CONFIG_FILE", "EVAL_FILE", "METRICS_FILE", "TRAINER_SUMMARY_FILE", "protocol_env"]

# Failure classes a trainer may name on its last stderr line as "<class>: <text>".
TRAINER_FAILURE_CLASSES = ("nan_loss", "oom", "invalid_config", "killed", "crash")


def protocol_env(run_dir: Path) -> dict[str, str]:
    """The variables that tell a trainer (or an agent reading the last run) where its run's files are."""
    return {
        "AUTOPILOT_RUN_DIR": str(run_dir),
        "AUTOPILOT_CONFIG": str(run_dir / CONFIG_FILE),
        "AUTOPILOT_RUN_ID": run_dir.name,
        # PUFFER_AUTOPILOT_*: the names existing PufferLib autopilot agents and scripts read.
        "PUFFER_AUTOPILOT_RUN_DIR": str(run_dir),
        "PUFFER_AUTOPILOT_SUMMARY": str(run_dir / TRAINER_SUMMARY_FILE),
        "PUFFER_AUTOPILOT_RUN_ID": run_dir.name,
    }


class TrainerFailure(Exception):
    """A classified failure: the trainer prints ``<failure_class>: <message>`` last and exits non-zero."""

    def __init__(self, failure_class: str, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.failure_class = failure_class
        self.exit_code = exit_code


def fail(failure: TrainerFailure) -> NoReturn:
    one_line = " ".join(str(failure).split())
    sys.stderr.write(f"{failure.failure_class}: {one_line}\n")
    sys.stderr.flush()
    sys.exit(failure.exit_code)


def finite_or_none(value: Any) -> float | None:
    """Numbers that JSON can hold honestly: NaN and infinity become null (unknown), never 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class MetricsWriter:
    """Appends one JSON line per log to metrics.jsonl and flushes it (the line doubles as the heartbeat)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / METRICS_FILE
        self._handle: TextIO = self.path.open("a", encoding="utf-8")
        self.start = time.monotonic()

    def write(self, step: int, sps: float, metrics: dict[str, Any], losses: dict[str, Any], **extra: Any) -> None:
        line = {
            "step": int(step),
            "wall_s": round(time.monotonic() - self.start, 3),
            "sps": finite_or_none(sps),
            "metrics": {k: finite_or_none(v) for k, v in sorted(metrics.items())},
            "losses": {k: finite_or_none(v) for k, v in sorted(losses.items())},
            **extra,
        }
        self._handle.write(json.dumps(line) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def write_eval_episodes(run_dir: Path, episodes: list[dict[str, Any]]) -> None:
    lines = "".join(json.dumps(e) + "\n" for e in episodes)
    atomic_write_text(run_dir / EVAL_FILE, lines)


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    atomic_write_json(run_dir / TRAINER_SUMMARY_FILE, summary)
