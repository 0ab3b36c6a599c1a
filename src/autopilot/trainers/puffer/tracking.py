"""W&B / Neptune for a trial of the PufferLib driver, through PufferLib's own loggers (pufferl.WandbLogger,
pufferl.NeptuneLogger), as ``puffer train --wandb`` logs: one run per trial, named by its run id, grouped by
workspace, tagged with its proposer. ``autopilot.tracking`` in config.json (written by the loop) says which."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

from autopilot.config import to_dotted


def make_logger(pufferl: ModuleType, config: dict[str, Any], run_dir: Path) -> Any:
    """PufferLib's logger for this trial, or None (PuffeRL then uses its NoLogger)."""
    tracking = (config.get("autopilot") or {}).get("tracking") or {}
    # PufferLib's loggers take project, group and tags from args and log args as the run's config: the full
    # applied config, dotted (train.*, env.*, vec.*, policy.*, rnn.*, the loop's autopilot.*).
    args = {
        **{
            k: v
            for k, v in to_dotted(config).items()
            if isinstance(v, bool | int | float | str) and not k.startswith("autopilot.tracking")
        },
        "tag": tracking.get("tag"),
    }
    if tracking.get("wandb"):
        wandb = tracking["wandb"]
        # wandb reads the rest from the environment. Offline runs go to WORKSPACE/wandb/, where `wandb sync`
        # run in the workspace finds them (the run folder is WORKSPACE/runs/<id>).
        os.environ["WANDB_MODE"] = wandb["mode"]
        os.environ["WANDB_DIR"] = str(run_dir.resolve().parents[1])
        os.environ["WANDB_NAME"] = run_dir.name
        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ.setdefault("WANDB_CONSOLE", "off")
        # The trial's run id is its W&B id too (PufferLib would call wandb.util.generate_id, gone in wandb 0.31).
        args = {**args, "wandb_project": wandb["project"], "wandb_group": wandb["group"]}
        return pufferl.WandbLogger(args, load_id=run_dir.name)
    if tracking.get("neptune"):
        neptune = tracking["neptune"]
        name, _, project = str(neptune["project"]).partition("/")
        return pufferl.NeptuneLogger({**args, "neptune_name": name, "neptune_project": project}, mode=neptune["mode"])
    return None


def finish(logger: Any, final_metrics: dict[str, Any], step: int, checkpoint: Path) -> None:
    """The held-out result under ``final/``, then PufferLib's own close (it logs the model file)."""
    if logger is None:
        return
    logger.log({f"final/{k}": v for k, v in final_metrics.items() if isinstance(v, int | float)}, step)
    logger.close(str(checkpoint))
