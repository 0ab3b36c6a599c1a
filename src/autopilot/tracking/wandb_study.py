"""The study as one W&B run: a row per trial with its hyperparameters, final summary, failure class, the
champion flag and the champion so far, logged by the loop as trials end. Offline (``wandb sync`` later) when
no API key is set, so it works with no network. Each trial has a W&B run of its own (the PufferLib driver's
through PufferLib's logger, a command trainer's mirrored by the loop, ``tracking/mirror.py``); this run ties
them together (same group: the workspace's name)."""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

from autopilot.workspace.records import RunView


def wandb_mode() -> str:
    """``online`` when the environment can log in (an API key), else ``offline``; WANDB_MODE wins."""
    return os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")


class StudyRun:
    """One W&B run for a workspace's study, resumed by every loop that drives the workspace."""

    def __init__(self, workspace: Path, project: str) -> None:
        import wandb  # the tracking extra; imported only when tracking.wandb is on

        self.wandb = wandb
        self.run = wandb.init(
            project=project,
            group=workspace.name,
            name=f"{workspace.name}-study",
            id="study-" + hashlib.sha256(str(workspace.resolve()).encode()).hexdigest()[:12],  # stable: resumed
            job_type="study",
            dir=str(workspace),  # its files in WORKSPACE/wandb/, beside the trials': `wandb sync` there finds all
            mode=wandb_mode(),  # type: ignore[arg-type]  # one of wandb's modes, from the environment
            resume="allow",
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )
        self.logged: set[str] = set()

    def trial_ended(
        self, index: int, view: RunView, champion: RunView | None, metric: str, params: dict[str, Any]
    ) -> None:
        """One row per trial: its hyperparameters (``param/<key>``, for W&B's parallel coordinates and
        importance panels), its final metrics, failure class, the champion flag and the champion so far."""
        if view.id in self.logged:
            return
        self.logged.add(view.id)
        row: dict[str, Any] = {"trial": index, "state": view.state, "run_id": view.id}
        for key, value in params.items():
            row[f"param/{key}"] = value if isinstance(value, bool | int | float | str) else str(value)
        for key, value in view.metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                row[f"trial/{key}"] = float(value)
        row["failure_class"] = view.record.failure_class or ""
        row["champion"] = champion is not None and champion.id == view.id
        if champion is not None and champion.score is not None:
            row["champion_so_far"] = float(champion.score)
            row["champion_run_id"] = champion.id
        row[f"trial/{metric}"] = row.get(f"trial/{metric}", float("nan"))
        self.run.log(row, step=index)

    def finish(self) -> None:
        self.run.finish()
