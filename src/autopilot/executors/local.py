"""Trials as local subprocesses: each in its own process group, with wall-clock and stall limits."""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

from autopilot.executors.base import Job, OnFinish, OnStart, TrialOutcome, TrialSpec
from autopilot.executors.processes import end_trial_processes
from autopilot.workspace.run_folder import METRICS_FILE
from autopilot.workspace.secrets import StreamRedactor

HEARTBEAT_FILE = METRICS_FILE
PRUNE_CHECK_S = 2.0
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def share_cores(env: dict[str, str], workers: int) -> dict[str, str]:
    """A trial's environment with its share of this machine's cores for the math libraries, when several
    trials run at once. Their default (a thread per core in every trial) oversubscribes the cores and the
    threads spin against each other (see benchmarks/README.md). A thread count the user set is kept."""
    if workers <= 1 or any(name in env for name in THREAD_VARIABLES):
        return env
    share = str(max(1, usable_cores() // workers))
    return {**env, **dict.fromkeys(THREAD_VARIABLES, share)}


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
        started = time.monotonic()
        log = CappedLog(spec.run_dir / spec.log_name, spec.max_log_bytes)
        try:
            proc = subprocess.Popen(
                spec.argv,
                cwd=spec.run_dir,
                env=share_cores(spec.env, self.workers),
                stdout=log.write_fd,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            log.close()
            on_start(spec, None)
            return TrialOutcome(spec.run_id, stopped_by="not_found", detail=f"{spec.argv[0]}: {exc.strerror}")
        except BaseException:
            log.close()
            raise
        log.start()
        try:
            on_start(spec, proc.pid)
            stopped_by, prune_detail = self._watch(proc, spec, log, started, stop)
        finally:
            # Whatever the trial left behind ends with it: its group, and any process carrying its run id.
            if proc.poll() is None:  # an exception on our side: the trial must not outlive it
                self.terminate(proc)
            end_trial_processes(proc.pid, spec.run_id)
            log.close()
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
        self, proc: subprocess.Popen[bytes], spec: TrialSpec, log: CappedLog, started: float, stop: threading.Event
    ) -> tuple[str | None, str]:
        last_activity, last_sizes, last_prune_check = started, (-1, -1), started
        while proc.poll() is None:
            now = time.monotonic()
            metrics_size = _size(spec.run_dir / HEARTBEAT_FILE)
            sizes = (metrics_size, log.received)
            if sizes != last_sizes:
                last_sizes, last_activity = sizes, now
            reason, detail = None, ""
            if stop.is_set():
                reason = "stop"
            elif now - started > spec.timeout_s:
                reason = "timeout"
            elif now - last_activity > spec.stall_s:
                reason = "stalled"
            elif metrics_size > spec.max_output_bytes:
                reason = "output_limit"
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


class CappedLog:
    """A trial's stdout and stderr, through a pipe, into its log file: the first half of ``limit`` bytes as
    they come, then only the latest half (kept in memory), written at the end behind a line that says how much
    was dropped. ``received`` counts every byte, for the stall check."""

    def __init__(self, path: Path, limit: int) -> None:
        self.file = path.open("ab")
        self.head_left = limit // 2
        self.tail_limit = limit - limit // 2
        self.tail: collections.deque[bytes] = collections.deque()
        self.tail_bytes = self.dropped = self.received = 0
        self.redactor = StreamRedactor()  # a trainer given a secret (trainer.env_passthrough) may print it
        self.write_error: str | None = None  # the log could not be written (a full disk): output is drained
        self.read_fd, self.write_fd = os.pipe()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)

    def start(self) -> None:
        os.close(self.write_fd)  # the trainer holds the write end now; EOF comes when all its processes close it
        self.write_fd = -1
        self._thread.start()

    def _pump(self) -> None:
        while not self._closing.is_set():  # checked on every pass: a writer that never stops cannot hold us
            ready, _, _ = select.select([self.read_fd], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                return
            self.received += len(chunk)
            chunk = self.redactor.feed(chunk)
            if self.head_left > 0:
                head, chunk = chunk[: self.head_left], chunk[self.head_left :]
                self.head_left -= len(head)
                self._write(head)
            if chunk:
                self.tail.append(chunk)
                self.tail_bytes += len(chunk)
                while self.tail_bytes - len(self.tail[0]) >= self.tail_limit:
                    self.dropped += len(self.tail[0])
                    self.tail_bytes -= len(self.tail.popleft())

    def close(self) -> None:
        if self.write_fd >= 0:
            os.close(self.write_fd)
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join(timeout=5.0)  # a process that escaped every cleanup may hold the pipe open
            self._closing.set()
            self._thread.join()
        os.close(self.read_fd)
        tail = b"".join(self.tail)
        if len(tail) > self.tail_limit:
            self.dropped += len(tail) - self.tail_limit
            tail = tail[-self.tail_limit :]
        tail += self.redactor.flush()
        if self.dropped:
            note = f"\n[autopilot: {self.dropped} bytes of output dropped here (resources.max_log_mb)]\n"
            self._write(note.encode())
        self._write(tail)
        with contextlib.suppress(OSError):
            self.file.close()

    def _write(self, data: bytes) -> None:
        """Write to the log; a failed write (a full disk) is remembered once and the output still drained, so
        the trainer never blocks on a pipe nobody reads."""
        if self.write_error is not None or not data:
            return
        try:
            self.file.write(data)
            self.file.flush()
        except OSError as exc:
            self.write_error = f"{self.file.name}: {exc.strerror or exc}"


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
    if stopped_by == "output_limit":
        return f"its metrics file grew past the cap of {spec.max_output_bytes / 2**20:g} MiB (resources.max_output_mb)"
    return ""
