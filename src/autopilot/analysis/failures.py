"""What a trainer left behind when it failed: whether its summary is usable, and its last log line."""

from __future__ import annotations

import json
from pathlib import Path


def summary_problem(path: Path) -> str | None:
    """Why ``trainer_summary.json`` is not a valid summary, or None when it is."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no trainer_summary.json was written"
    except (OSError, ValueError, RecursionError) as exc:
        return f"trainer_summary.json is not valid JSON ({str(exc)[:200] or 'nested too deeply'})"
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
