"""Trials as local subprocesses: each in its own process group, with wall-clock and stall limits."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

from autopilot.executors.base import Job, OnFinish, OnStart, TrialOutcome, TrialSpec
from autopilot.workspace.run_folder import METRICS_FILE

HEARTBEAT_FILE = METRICS_FILE
PRUNE_CHECK_S = 2.0


class LocalExecutor:
    """Runs up to ``workers`` trials at once on this machine.

    A trial is terminated (SIGTERM to its whole process group, SIGKILL after ``grace_s``) when it runs past
    its wall-clock limit, when neither its metrics file nor its log has grown for ``stall_s`` seconds, or
    when the loop stops.
    """

    def __init__(self, workers: int = 1, grace_s: float = 10.0, poll_s: float = 0.2) -> None:
        self.workers = max(1, workers)
        self.grace_s = grace_s
        self.poll_s = poll_s

    def run(self, jobs: list[Job], on_start: OnStart, on_finish: OnFinish, stop: threading.Event) -> None:
        todo: queue.Queue[Job] = queue.Queue()
        for job in jobs:
            todo.put(job)
        errors: list[BaseException] = []

        def worker() -> None:
            while not stop.is_set():
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    spec = job()
                    if spec is not None:
                        on_finish(spec, self.run_one(spec, on_start, stop))
                except BaseException as exc:  # surfaced to the caller below, never lost in a thread
                    errors.append(exc)
                    stop.set()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(self.workers, len(jobs)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def run_one(self, spec: TrialSpec, on_start: OnStart, stop: threading.Event) -> TrialOutcome:
        log_path = spec.run_dir / spec.log_name
        started = time.monotonic()
        with log_path.open("ab") as log:
            try:
                proc = subprocess.Popen(
                    spec.argv,
                    cwd=spec.run_dir,
                    env=spec.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
                on_start(spec, None)
                return TrialOutcome(spec.run_id, stopped_by="not_found", detail=f"{spec.argv[0]}: {exc.strerror}")
            on_start(spec, proc.pid)
            stopped_by, prune_detail = self._watch(proc, spec, log_path, started, stop)
        code = proc.returncode
        return TrialOutcome(
            spec.run_id,
            exit_code=code if code is not None and code >= 0 else None,
            signal=signal.Signals(-code).name if code is not None and code < 0 else None,
            wall_s=round(time.monotonic() - started, 3),
            stopped_by=stopped_by,
            detail=prune_detail or _limit_detail(stopped_by, spec),
        )

    def _watch(
        self, proc: subprocess.Popen[bytes], spec: TrialSpec, log_path: Path, started: float, stop: threading.Event
    ) -> tuple[str | None, str]:
        last_activity, last_sizes, last_prune_check = started, (-1, -1), started
        while proc.poll() is None:
            now = time.monotonic()
            sizes = (_size(spec.run_dir / HEARTBEAT_FILE), _size(log_path))
            if sizes != last_sizes:
                last_sizes, last_activity = sizes, now
            reason, detail = None, ""
            if stop.is_set():
                reason = "stop"
            elif now - started > spec.timeout_s:
                reason = "timeout"
            elif now - last_activity > spec.stall_s:
                reason = "stalled"
            elif spec.should_stop is not None and now - last_prune_check >= PRUNE_CHECK_S:
                last_prune_check = now
                why = spec.should_stop()
                if why:
                    reason, detail = "pruned", why
            if reason:
                self.terminate(proc)
                return reason, detail
            time.sleep(self.poll_s)
        return None, ""

    def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM to the whole group, then SIGKILL after the grace period; reaps the process."""
        for sig, wait in ((signal.SIGTERM, self.grace_s), (signal.SIGKILL, 30.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children that outlived the leader (the group id stays valid while any member lives).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when the thread that launched it dies (Linux), so a loop or a Ray
    worker killed with -9 leaves no trainer running on (the trainer then stops with a checkpoint)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _limit_detail(stopped_by: str | None, spec: TrialSpec) -> str:
    if stopped_by == "timeout":
        return f"ran past its wall-clock limit of {spec.timeout_s:g} s"
    if stopped_by == "stalled":
        return f"no new metrics or log output for {spec.stall_s:g} s"
    if stopped_by == "stop":
        return "stopped by the loop"
    return ""
