"""What an executor is given (a trial) and what it reports back (an outcome). It decides nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from autopilot.workspace.run_folder import TRAIN_LOG


@dataclass(frozen=True)
class TrialSpec:
    """One trainer process to run: argv (never through a shell), its run folder, environment and limits."""

    run_id: str
    argv: list[str]
    run_dir: Path
    env: dict[str, str]
    timeout_s: float
    stall_s: float
    log_name: str = TRAIN_LOG  # stdout and stderr go to run_dir / log_name
    max_log_bytes: int = 50 << 20  # the log keeps its first and last halves of this (the middle is dropped)
    max_output_bytes: int = 256 << 20  # a metrics file growing past this stops the trial (output_limit)
    # Asked every few seconds while the trial runs (local executor): a reason to stop it early, or None.
    should_stop: Callable[[], str | None] | None = field(default=None, compare=False)


@dataclass
class TrialOutcome:
    """How a trial ended. ``stopped_by``: None (it exited by itself), timeout, stalled, stop, pruned,
    output_limit, not_found, worker_lost."""

    run_id: str
    exit_code: int | None = None
    signal: str | None = None
    wall_s: float = 0.0
    stopped_by: str | None = None
    detail: str = ""
    extra: dict[str, str] = field(default_factory=dict)


# A job prepares its trial just before it starts (the run folder is made then), or returns None to skip it
# (the workspace was paused, the case is no longer valid).
Job = Callable[[], TrialSpec | None]
OnStart = Callable[[TrialSpec, int | None], None]
OnFinish = Callable[[TrialSpec, TrialOutcome], None]


class Executor(Protocol):
    def run(self, jobs: list[Job], on_start: OnStart, on_finish: OnFinish, stop: threading.Event) -> None:
        """Run every job (up to the executor's worker count at once), calling back as each starts and ends.
        Returns when all have ended; once ``stop`` is set, running trials are terminated and the rest skipped.
        """
        ...
