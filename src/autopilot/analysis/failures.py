"""Classify how a trial ended: a final run state and, for failures, a class and a one-line reason."""

from __future__ import annotations

import json
from pathlib import Path

from autopilot.executors.base import TrialOutcome
from autopilot.records import FAILURE_CLASSES, Failure

# Classes a trainer may name itself on its last stderr line ("<class>: <text>").
TRAINER_NAMED = {"nan_loss", "oom", "invalid_config", "crash", "killed"}


def classify(outcome: TrialOutcome, run_dir: Path) -> tuple[str, Failure | None]:
    """``(state, failure)`` from the outcome, the trainer's last log line and its summary file."""
    if outcome.stopped_by == "not_found":
        return "failed", Failure("trainer_not_found", outcome.detail)
    if outcome.stopped_by == "worker_lost":
        return "failed", Failure("worker_lost", outcome.detail)
    if outcome.stopped_by == "timeout":
        return "timeout", Failure("timeout", outcome.detail)
    if outcome.stopped_by == "stalled":
        return "timeout", Failure("stalled", outcome.detail)
    if outcome.stopped_by == "pruned":
        return "pruned", None
    if outcome.stopped_by == "stop":
        return "killed", Failure("killed", outcome.detail)
    if outcome.exit_code == 0:
        problem = summary_problem(run_dir / "trainer_summary.json")
        if problem:
            return "failed", Failure("missing_summary", f"exit 0 but {problem}")
        return "complete", None
    last = last_log_line(run_dir / "train.log")
    named, _, text = last.partition(": ")
    if named in TRAINER_NAMED and named in FAILURE_CLASSES and text:
        return "failed", Failure(named, text)
    if outcome.signal:
        hint = " (possibly out of memory)" if outcome.signal == "SIGKILL" else ""
        return "failed", Failure("crash", f"killed by {outcome.signal}{hint}; last output: {last[:300]}")
    return "failed", Failure("crash", f"exit code {outcome.exit_code}; last output: {last[:300]}")


def summary_problem(path: Path) -> str | None:
    """Why ``trainer_summary.json`` is not a valid summary, or None when it is."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no trainer_summary.json was written"
    except (OSError, ValueError) as exc:
        return f"trainer_summary.json is not valid JSON ({exc})"
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        return "trainer_summary.json has no 'metrics' object"
    return None


def last_log_line(path: Path, max_bytes: int = 16_384) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else ""
