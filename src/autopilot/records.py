"""Run records, pending cases and the failures ledger: the single source of truth on disk (DESIGN.md §3, §4).

Everything the loop knows can be rebuilt from these files, so a loop killed at any instant loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autopilot.workspace import Workspace, atomic_write_json, read_json

RUN_STATES = ("pending", "running", "complete", "failed", "timeout", "killed", "pruned")
FINAL_STATES = frozenset({"complete", "failed", "timeout", "killed", "pruned"})
FAILURE_CLASSES = (
    "timeout",
    "stalled",
    "nan_loss",
    "crash",
    "oom",
    "missing_summary",
    "invalid_config",
    "trainer_not_found",
    "interrupted",
    "killed",
    "worker_lost",
)
FAILURES_KEPT = 500


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id(case_id: str, attempt: int, salt: int = 0, now: float | None = None) -> str:
    """Sortable by time (second resolution), e.g. ``2026-11-22T140103Z-a1b2c3``; ``salt`` makes another id
    for the same case attempt in the same second."""
    stamp = datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y-%m-%dT%H%M%SZ")
    suffix = hashlib.sha256(f"{case_id}:{attempt}:{salt}".encode()).hexdigest()[:6]
    return f"{stamp}-{suffix}"


@dataclass
class Case:
    """A validated proposal waiting in ``cases/pending/``."""

    case_id: str
    overrides: dict[str, Any]
    parent_ids: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    proposer: str = ""
    reasoning: str = ""
    seed: int | None = None
    mode: str = "quick"
    attempt: int = 0
    created: str = field(default_factory=utc_now)
    timeout_minutes: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Failure:
    failure_class: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"class": self.failure_class, "reason": self.reason}


@dataclass
class RunRecord:
    """``run.json``: what ran, when, where, and how it ended."""

    id: str
    case_id: str
    state: str = "pending"
    proposer: str = ""
    tags: list[str] = field(default_factory=list)
    parent_ids: list[str] = field(default_factory=list)
    seed: int | None = None
    mode: str = "quick"
    created: str = field(default_factory=utc_now)
    started: str | None = None
    ended: str | None = None
    pid: int | None = None
    host: str = field(default_factory=socket.gethostname)
    attempt: int = 0
    exit_code: int | None = None
    signal: str | None = None
    wall_s: float | None = None
    failure: dict[str, str] | None = None
    pruned_reason: str | None = None
    reasoning: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def failure_class(self) -> str | None:
        return self.failure["class"] if self.failure else None


@dataclass
class RunView:
    """One run as proposers, guardrails and reports see it."""

    record: RunRecord
    overrides: dict[str, Any]
    summary: dict[str, Any] | None

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def metrics(self) -> dict[str, Any]:
        return (self.summary or {}).get("metrics", {})

    @property
    def score(self) -> float | None:
        return (self.summary or {}).get("score")

    @property
    def feasible(self) -> bool:
        return bool((self.summary or {}).get("feasible", False))


class Records:
    """Reads and writes the record files of one workspace."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # runs
    def run_dir(self, run_id: str) -> Path:
        return self.ws.runs / run_id

    def write_run(self, record: RunRecord) -> None:
        atomic_write_json(self.run_dir(record.id) / "run.json", record.to_dict())

    def read_run(self, run_id: str) -> RunRecord:
        return RunRecord.from_dict(read_json(self.run_dir(run_id) / "run.json"))

    def run_ids(self) -> list[str]:
        if not self.ws.runs.is_dir():
            return []
        return sorted(p.name for p in self.ws.runs.iterdir() if (p / "run.json").is_file())

    def history(self) -> list[RunView]:
        """Every run in time order, with its override and (when analysed) its summary."""
        views = []
        for run_id in self.run_ids():
            folder = self.run_dir(run_id)
            try:
                record = RunRecord.from_dict(read_json(folder / "run.json"))
            except (OSError, ValueError, TypeError):
                continue  # a folder being created right now
            overrides = _read_optional(folder / "override.json") or {}
            summary = _read_optional(folder / "summary.json")
            views.append(RunView(record, overrides, summary))
        # Run ids sort by the second; creation times break ties within one second.
        return sorted(views, key=lambda v: (v.record.created, v.id))

    # pending cases
    def write_case(self, case: Case) -> Path:
        path = self.ws.pending / f"{case.case_id}.json"
        atomic_write_json(path, asdict(case))
        return path

    def pending_cases(self) -> list[Case]:
        if not self.ws.pending.is_dir():
            return []
        cases = []
        for path in sorted(self.ws.pending.glob("*.json")):
            data = _read_optional(path)
            if isinstance(data, dict) and "case_id" in data:
                cases.append(Case.from_dict(data))
        return sorted(cases, key=lambda c: (c.created, c.case_id))

    def remove_case(self, case_id: str) -> None:
        (self.ws.pending / f"{case_id}.json").unlink(missing_ok=True)

    # failures ledger
    def failures(self) -> list[dict[str, Any]]:
        data = _read_optional(self.ws.failures)
        return data if isinstance(data, list) else []

    def add_failure(self, entry: dict[str, Any]) -> None:
        ledger = [*self.failures(), {"time": utc_now(), **entry}][-FAILURES_KEPT:]
        atomic_write_json(self.ws.failures, ledger)


def _read_optional(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
