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
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def end_trial_processes(group: int | None, run_id: str, wait_s: float = 5.0) -> list[int]:
    """SIGKILL the trial's process group and every process carrying its run id; wait until they are gone (a
    zombie counts as gone: whoever started it reaps it, never this function, which would steal a ``Popen``'s
    exit status). Returns the pids that were found alive."""
    if group is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    pids = carrying(run_id)
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
