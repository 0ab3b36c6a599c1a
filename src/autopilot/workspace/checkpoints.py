"""Resume and save policy: which checkpoint a run starts from, and which checkpoints are kept.

``autopilot.save_strategy``
- ``all``: every checkpoint of every run is kept.
- ``latest``: only the final checkpoint of the most recent completed run is kept.
- ``best``: only the final checkpoints of the best run and of the most recent completed run are kept (so
  ``resume_from: latest`` keeps working).
Checkpoints that the strategy does not keep are deleted from disk.
"""

from __future__ import annotations

from pathlib import Path

from autopilot.ids import is_run_id
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import RunView
from autopilot.workspace.run_folder import RunFolder


def final_checkpoint(ws: Workspace, view: RunView) -> Path | None:
    rel = (view.summary or {}).get("checkpoint")
    if not rel:
        return None
    path = ws.runs / view.id / rel
    return path if path.is_file() else None


def resolve_resume(ws: Workspace, history: list[RunView], ref: str, best: RunView | None) -> tuple[Path | None, str]:
    """The checkpoint file that ``autopilot.resume_from`` names, and a note saying what was chosen."""
    complete = [v for v in history if v.state == "complete"]
    if ref == "latest":
        for view in reversed(complete):
            if path := final_checkpoint(ws, view):
                return path, f"latest checkpoint: run {view.id}"
        return None, "no completed run with a checkpoint yet: starting fresh"
    if ref == "best":
        if best is not None and (path := final_checkpoint(ws, best)):
            return path, f"best run's checkpoint: run {best.id}"
        return None, "no best run with a checkpoint yet: starting fresh"
    if is_run_id(ref):
        named = next((v for v in history if v.id == ref), None)
        if named is not None and (path := final_checkpoint(ws, named)):
            return path, f"checkpoint of run {ref}"
        return None, f"run {ref} has no checkpoint: starting fresh"
    path = (ws.root / ref).resolve()
    return (path, f"checkpoint {ref}") if path.is_file() else (None, f"no checkpoint at {ref}: starting fresh")


def apply_save_strategy(ws: Workspace, history: list[RunView], strategy: str, best: RunView | None) -> list[Path]:
    """Delete the checkpoints ``strategy`` does not keep; returns what was deleted."""
    if strategy == "all":
        return []
    complete = [v for v in history if v.state == "complete"]
    keep: set[Path] = set()
    if complete and (latest := final_checkpoint(ws, complete[-1])):
        keep.add(latest.resolve())
    if strategy == "best" and best is not None and (best_path := final_checkpoint(ws, best)):
        keep.add(best_path.resolve())
    deleted = []
    for view in history:
        if view.state in ("running", "pending"):
            continue  # a live run's checkpoints are its own business until it ends
        folder = RunFolder(ws.runs / view.id).checkpoints
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.pt")):
            if path.resolve() not in keep and path.name != "trainer_state.pt":
                path.unlink()
                deleted.append(path)
        state = folder / "trainer_state.pt"
        if state.exists() and not any(p.resolve() in keep for p in folder.glob("model_*.pt")):
            state.unlink()
            deleted.append(state)
    return deleted
