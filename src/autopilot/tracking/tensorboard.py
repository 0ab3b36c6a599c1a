"""TensorBoard for every trainer: the loop mirrors a run's ``metrics.jsonl`` into ``runs/<id>/tensorboard/``
when the run ends, so ``tensorboard --logdir WORKSPACE/runs`` overlays every trial (the ``tracking`` extra)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from autopilot.workspace.atomic import read_curve
from autopilot.workspace.run_folder import RunFolder

TENSORBOARD_DIR = "tensorboard"


def mirror_metrics(run_dir: Path, summary: dict[str, Any] | None) -> Path | None:
    """Write the run's learning curve (``metrics/``, ``losses/``, ``sps``) and its final, held-out metrics
    (``final/``) as TensorBoard events; returns the event folder, or None when the run logged nothing."""
    from tensorboardX import SummaryWriter  # the tracking extra; imported only when tracking.tensorboard is on

    folder = RunFolder(run_dir)
    lines = read_curve(folder.metrics)
    if not lines and not summary:
        return None
    out = run_dir / TENSORBOARD_DIR
    writer = SummaryWriter(logdir=str(out), flush_secs=3600)
    try:
        last_step = 0
        for i, line in enumerate(lines):
            raw = line.get("step")
            step = raw if isinstance(raw, int) and not isinstance(raw, bool) else i
            last_step = max(last_step, step)
            for section in ("metrics", "losses"):
                for key, value in (line.get(section) or {}).items():
                    if _finite(value):
                        writer.add_scalar(f"{section}/{key}", float(value), step)
            if _finite(line.get("sps")):
                writer.add_scalar("sps", float(line["sps"]), step)
        for key, value in ((summary or {}).get("metrics") or {}).items():
            if _finite(value):
                writer.add_scalar(f"final/{key}", float(value), last_step)
    finally:
        writer.close()
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
