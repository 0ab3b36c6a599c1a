"""``failures.json``: every failed or refused case, one typed entry each (the last 500 kept).

Recording a failure can never fail: whatever a refused proposal held (NaN, huge or deep values) is stored as
plain JSON.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopilot.ids import utc_now
from autopilot.workspace.atomic import atomic_write_json, read_json
from autopilot.workspace.secrets import redact_all

FAILURE_CLASSES = (
    "timeout",
    "stalled",
    "nan_loss",
    "crash",
    "oom",
    "missing_summary",
    "missing_metric",
    "invalid_config",
    "trainer_not_found",
    "interrupted",
    "killed",
    "worker_lost",
    "output_limit",  # a trainer output over its cap (resources.max_output_mb)
    "bad_output",  # a trainer output that is a symbolic link or not a regular file
)
FAILURES_KEPT = 500
DAMAGED_LEDGER_PREFIX = "failures.damaged-"


@dataclass
class Failure:
    failure_class: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"class": self.failure_class, "reason": self.reason}


@dataclass
class FailureEntry:
    """One line of the ledger: a run that failed, or a proposal refused before it ran."""

    failure_class: str
    reason: str
    run_id: str | None = None
    case_id: str | None = None
    proposer: str | None = None
    overrides: Any = None

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"class": self.failure_class, "reason": self.reason}
        for key in ("run_id", "case_id", "proposer", "overrides"):
            if getattr(self, key) is not None:
                entry[key] = getattr(self, key)
        return entry


def _unreadable(path: Path) -> bool:
    try:
        return not isinstance(read_json(path), list)
    except (OSError, ValueError, RecursionError):
        return True


def read_failures(path: Path) -> list[dict[str, Any]]:
    try:
        data = read_json(path)
    except (OSError, ValueError, RecursionError):
        return []
    return data if isinstance(data, list) else []


def add_failure(path: Path, entry: FailureEntry) -> None:
    """Append ``entry``; a ledger that cannot be read is moved aside (``failures.damaged-<time>.json``, kept
    and named by ``status``), never overwritten."""
    if path.exists() and _unreadable(path):
        os.replace(path, path.with_name(f"{DAMAGED_LEDGER_PREFIX}{utc_now().replace(':', '')}.json"))
    ledger = [*read_failures(path), json_safe(redact_all({"time": utc_now(), **entry.to_dict()}))][-FAILURES_KEPT:]
    atomic_write_json(path, ledger)


MAX_STORED_CHARS = 2000  # per string in the ledger
MAX_STORED_DEPTH = 8
MAX_STORED_ITEMS = 200


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as strict JSON: non-finite numbers as their names, long strings and containers clipped,
    deep nesting cut (each cut says so)."""
    if isinstance(value, bool) or value is None or (isinstance(value, int) and abs(value) < 2**63):
        return value
    if isinstance(value, int):
        return f"<integer of {len(str(value))} digits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_STORED_CHARS else value[:MAX_STORED_CHARS] + f"... <{len(value)} chars>"
    if depth >= MAX_STORED_DEPTH and isinstance(value, dict | list | tuple):
        return f"<{type(value).__name__} nested deeper than {MAX_STORED_DEPTH}>"
    if isinstance(value, dict):
        items = list(value.items())[:MAX_STORED_ITEMS]
        return {str(json_safe(k, depth + 1)): json_safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value[:MAX_STORED_ITEMS]]
    return repr(value)[:MAX_STORED_CHARS]
