"""A person's controls over a workspace: pause, resume, rollback, and the markers the loop reads back.

Each control is a small file in the workspace, so it works while a loop runs and survives any restart.
"""

from __future__ import annotations

from autopilot.ids import utc_now
from autopilot.workspace.atomic import atomic_write_json, atomic_write_text, read_json, read_text
from autopilot.workspace.journal import Journal
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records, RunView

RESUME_MARKER = "resume_window.json"  # in the workspace root: where the guardrail window starts
ROLLBACK_MARKER = "rollback.json"  # in proposals/: the run the next proposals start from


class ControlError(ValueError):
    """A control that cannot be applied; the message says why."""


def pause_reason(ws: Workspace) -> str | None:
    try:
        return read_text(ws.pause_file).strip() or "paused (no reason given)"
    except FileNotFoundError:
        return None
    except OSError as exc:  # a folder or an unreadable file in its place still means: do not start runs
        return f"paused ({ws.pause_file.name} unreadable: {exc.strerror})"


def pause(ws: Workspace, reason: str) -> None:
    atomic_write_text(ws.pause_file, reason.strip() + "\n")
    Journal(ws.labbook).write("pause", reason, key=f"pause:{utc_now()}")


def resume(ws: Workspace) -> bool:
    """Remove the pause file and restart the guardrail window; returns whether it was paused."""
    existed = ws.pause_file.exists()
    ws.pause_file.unlink(missing_ok=True)
    now = utc_now()
    atomic_write_json(ws.root / RESUME_MARKER, {"since": now})
    Journal(ws.labbook).write("resume", "PAUSE_AUTORUN removed; guardrail window restarted", key=f"resume:{now}")
    return existed


def window_start(ws: Workspace) -> str | None:
    try:
        return str(read_json(ws.root / RESUME_MARKER)["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def rollback(ws: Workspace, run_id: str) -> None:
    records = Records(ws)
    if run_id not in records.run_ids():
        raise ControlError(f"no run {run_id!r} in {ws.runs}")
    record = records.read_run(run_id)
    if record.state != "complete":
        raise ControlError(f"run {run_id} is {record.state}; only a complete run can be a parent")
    atomic_write_json(ws.root / "proposals" / ROLLBACK_MARKER, {"run_id": run_id, "time": utc_now()})
    Journal(ws.labbook).write("rollback", f"next proposals start from run {run_id}", key=f"rollback:{utc_now()}")


def clear_rollback(ws: Workspace) -> None:
    (ws.root / "proposals" / ROLLBACK_MARKER).unlink(missing_ok=True)
    Journal(ws.labbook).write(
        "rollback", "cleared: proposals start from the baseline again", key=f"rollback:{utc_now()}"
    )


def rollback_parent(ws: Workspace, history: list[RunView]) -> RunView | None:
    try:
        run_id = read_json(ws.root / "proposals" / ROLLBACK_MARKER)["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return next((v for v in history if v.id == run_id), None)
