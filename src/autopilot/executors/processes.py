"""A trial's processes, wherever they went: its process group, and every process that still carries the
trial's ``AUTOPILOT_RUN_ID`` in its environment (a ``setsid`` daemon leaves the group, not its environment).

Linux only (``/proc``); elsewhere only the process group is ended. This is cleanup, not a sandbox: a trainer
that scrubs its environment and leaves its group escapes it (run untrusted trainers in a container).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

PROC = Path("/proc")


def carrying(run_id: str) -> list[int]:
    """Pids of live processes whose environment holds ``AUTOPILOT_RUN_ID=<run_id>`` (not this process)."""
    needle = f"AUTOPILOT_RUN_ID={run_id}".encode()
    found = []
    try:
        entries = list(PROC.iterdir())
    except OSError:
        return []
    for proc_entry in entries:
        if not proc_entry.name.isdigit() or int(proc_entry.name) == os.getpid():
            continue
        try:
            environ = (proc_entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(proc_entry.name))
    return found


def group_members(group: int, not_before: float) -> list[int]:
    """The live processes of process group ``group`` that started at or after ``not_before`` (epoch seconds):
    a trial's group outlives its leader, and a member that cleared its environment carries no run id; a group
    number reused by a later, unrelated session leader would have had to start after the trial too, and its
    leader is checked by the caller."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        boot = next(
            float(line.split()[1]) for line in (PROC / "stat").read_text().splitlines() if line.startswith("btime")
        )
        entries = list(PROC.iterdir())
    except (OSError, ValueError, StopIteration):
        return []
    found = []
    for proc_entry in entries:
        if not proc_entry.name.isdigit() or int(proc_entry.name) == os.getpid():
            continue
        try:
            fields = (proc_entry / "stat").read_text().rsplit(")", 1)[1].split()
            state, pgrp, start_ticks = fields[0], int(fields[2]), int(fields[19])
        except (OSError, IndexError, ValueError):
            continue
        # /proc's start time has clock-tick resolution: a second of slack for the loop's own clock reading
        if pgrp == group and state not in ("Z", "X") and boot + start_ticks / ticks >= not_before - 1.0:
            found.append(int(proc_entry.name))
    return found


def end_trial_processes(
    group: int | None, run_id: str, wait_s: float = 5.0, members: tuple[int, ...] = ()
) -> list[int]:
    """SIGKILL the trial's process group, every process carrying its run id and ``members`` (a group whose
    leader is gone, from :func:`group_members`); wait until they are gone (a
    zombie counts as gone: whoever started it reaps it, never this function, which would steal a ``Popen``'s
    exit status). Returns the pids that were found alive."""
    if group is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    pids = sorted({*carrying(run_id), *members})
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if is_alive(pid)}
        if alive:
            time.sleep(0.05)
    return pids


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    if not PROC.is_dir():  # not Linux: no zombie check; another user's process (PermissionError) runs
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
