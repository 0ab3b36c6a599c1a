"""Resume and save policy: which checkpoint a run starts from, and which checkpoints are kept.

``autopilot.save_strategy``
- ``all``: every checkpoint of every run is kept.
- ``latest``: only the final checkpoint of the most recent completed run is kept.
- ``best``: only the final checkpoints of the contenders for the pick (the champion and the top configs by
  estimate, which a re-run on a new seed can make the champion) and of the most recent completed run are kept
  (so ``resume_from: latest`` keeps working).
Checkpoints that the strategy does not keep are deleted from disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from autopilot.ids import is_run_id
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import RunView
from autopilot.workspace.run_folder import RunFolder


def final_checkpoint(ws: Workspace, view: RunView) -> Path | None:
    """The run's checkpoint, only when it is a file inside the run's own folder (links followed): a path a
    trainer reported never makes the loop load or keep a file elsewhere."""
    rel = (view.summary or {}).get("checkpoint")
    if not isinstance(rel, str) or not rel:
        return None
    run_dir = (ws.runs / view.id).resolve()
    path = (run_dir / rel).resolve()
    return path if run_dir in path.parents and path.is_file() else None


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


@dataclass
class Pruned:
    deleted: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why a run's checkpoints were left alone


def apply_save_strategy(ws: Workspace, history: list[RunView], strategy: str, contenders: list[RunView]) -> Pruned:
    """Delete the checkpoints ``strategy`` does not keep (``best`` keeps the ``contenders``'). Nothing is
    deleted through a symbolic link or outside the run's own folder: such a run is left alone and named in
    ``refused``."""
    out = Pruned()
    if strategy == "all":
        return out
    complete = [v for v in history if v.state == "complete"]
    keep: set[Path] = set()
    if complete and (latest := final_checkpoint(ws, complete[-1])):
        keep.add(latest)
    if strategy == "best":
        keep.update(path for view in contenders if (path := final_checkpoint(ws, view)))
    for view in history:
        if view.state in ("running", "pending"):
            continue  # a live run's checkpoints are its own business until it ends
        run_dir = ws.runs / view.id
        if run_dir.is_symlink() or not run_dir.is_dir():
            out.refused.append(f"run {view.id}: its folder is a link or not a folder; nothing deleted")
            continue
        folder = RunFolder(run_dir).checkpoints
        if not folder.exists() and not folder.is_symlink():
            continue
        if folder.is_symlink() or not folder.is_dir() or folder.resolve().parent != run_dir.resolve():
            out.refused.append(f"run {view.id}: checkpoints/ is a link or not a folder of the run; nothing deleted")
            continue
        for path in sorted(folder.glob("*.pt")):
            if path.is_symlink() or not path.is_file():
                continue  # never follow a link to delete its target; the link itself is left as it is
            if path.resolve() not in keep and path.name != "trainer_state.pt":
                path.unlink()
                out.deleted.append(path)
        state = folder / "trainer_state.pt"
        if (
            state.is_file()
            and not state.is_symlink()
            and not any(p.resolve() in keep for p in folder.glob("model_*.pt"))
        ):
            state.unlink()
            out.deleted.append(state)
    return out
