"""What a trainer left behind when it failed: whether its summary is usable, and its last log line."""

from __future__ import annotations

from pathlib import Path

from autopilot.workspace.atomic import MAX_READ_BYTES, UnsafeFile, file_problem, read_json, read_tail
from autopilot.workspace.run_folder import RunFolder


def summary_problem(path: Path) -> str | None:
    """Why ``trainer_summary.json`` is not a valid summary, or None when it is."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        return "no trainer_summary.json was written"
    except UnsafeFile as exc:
        return str(exc)
    except (OSError, ValueError, RecursionError) as exc:
        return f"trainer_summary.json is not valid JSON ({str(exc)[:200] or 'nested too deeply'})"
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        return "trainer_summary.json has no 'metrics' object"
    return None


def output_problem(folder: RunFolder, max_bytes: int = MAX_READ_BYTES) -> tuple[str, str] | None:
    """``(failure class, reason)`` when a file the trainer wrote is one the loop will not read: ``bad_output``
    for a link or a file that is not regular, ``output_limit`` for one over the cap; None when all are fine."""
    for path in (folder.trainer_summary, folder.metrics, folder.eval_episodes):
        problem = file_problem(path, max_bytes)
        if problem:
            over_cap, reason = problem
            return ("output_limit" if over_cap else "bad_output"), reason
    return None


def last_log_line(path: Path, max_bytes: int = 16_384) -> str:
    try:
        tail = read_tail(path, max_bytes).decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else ""
