"""A case to a run folder and the trial to execute: override, effective config, diffs, run.json, limits.

The effective config is baseline + override + what the loop owns: the evaluation (from the objective), the
warm start (from the resume policy) and the metric names. It is written once, before the trainer starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopilot.analysis.promotion import decide
from autopilot.config import config_diff, deep_merge, to_dotted
from autopilot.executors.base import TrialSpec
from autopilot.executors.trainer_command import trainer_argv, trainer_env
from autopilot.experiment.loader import Loaded
from autopilot.experiment.schema import CURVE_TRAINER_KINDS, Experiment
from autopilot.ids import new_run_id
from autopilot.objective import eval_seed
from autopilot.space import OBJECTIVE_OWNED
from autopilot.tracking.wandb_study import wandb_mode
from autopilot.workspace.atomic import atomic_write_text, read_json
from autopilot.workspace.checkpoints import resolve_resume
from autopilot.workspace.records import Case, Records, RunRecord, RunView, read_config
from autopilot.workspace.run_folder import CONFIG_DIFF_FILE, CONFIG_FILE, OVERRIDE_FILE, RunFolder


@dataclass
class Rejection:
    """A pending case that no longer validates (a hand edit): the loop records it in the ledger."""

    case: Case
    errors: list[str]


@dataclass
class Preparer:
    loaded: Loaded
    records: Records
    timeout_minutes: float
    stall_seconds: float

    def prepare(self, case: Case, history: list[RunView]) -> TrialSpec | Rejection:
        """Create the run folder and the trial; a pending case that no longer validates is refused."""
        result = self.loaded.validate(case.overrides)
        if not result.ok:  # a hand-edited pending case
            return Rejection(case, result.errors)
        folder = self._new_folder(case)
        config, notes = self.effective_config(result.normalized, history, case.proposer)
        parent = next((v for v in history if case.parent_ids and v.id == case.parent_ids[0]), None)
        parent_config = read_config(self.records.run_dir(parent.id)) if parent else None
        self.records.write_record(folder.id, OVERRIDE_FILE, result.normalized)
        self.records.write_record(folder.id, CONFIG_FILE, config)
        self.records.write_record(
            folder.id,
            CONFIG_DIFF_FILE,
            {
                "baseline": _proposed(config_diff(self.loaded.baseline, config)),
                "parent": _proposed(config_diff(parent_config, config)) if parent_config is not None else None,
                "parent_id": parent.id if parent else None,
            },
        )
        if notes:
            atomic_write_text(folder.notes, "\n".join(notes) + "\n")
        seed = to_dotted(config).get("train.seed")
        self.records.write_run(
            RunRecord(
                id=folder.id,
                case_id=case.case_id,
                proposer=case.proposer,
                tags=case.tags,
                parent_ids=case.parent_ids,
                seed=seed if isinstance(seed, int) else None,
                mode=case.mode,
                attempt=case.attempt,
                reasoning=case.reasoning,
            )
        )
        return TrialSpec(
            run_id=folder.id,
            argv=trainer_argv(self.loaded.experiment.trainer, folder.path),
            run_dir=folder.path,
            env=trainer_env(self.loaded.experiment.trainer, folder.path),
            timeout_s=(case.timeout_minutes or self.timeout_minutes) * 60,
            stall_s=self.stall_seconds,
            max_log_bytes=int(self.loaded.experiment.resources.max_log_mb * 2**20),
            max_output_bytes=int(self.loaded.experiment.resources.max_output_mb * 2**20),
        )

    def _new_folder(self, case: Case) -> RunFolder:
        for salt in range(1000):
            path = self.records.run_dir(new_run_id(case.case_id, case.attempt, salt))
            try:
                path.mkdir(parents=True, exist_ok=False)
                return RunFolder(path)
            except FileExistsError:
                continue
        raise RuntimeError(f"no free run id for case {case.case_id}")  # 1000 runs of one case in one second

    def effective_config(
        self, override: dict[str, Any], history: list[RunView], proposer: str = ""
    ) -> tuple[dict[str, Any], list[str]]:
        exp = self.loaded.experiment
        config = deep_merge(self.loaded.baseline, override)
        notes: list[str] = []
        policy = config.setdefault("autopilot", {})
        if policy.get("resume_mode") == "continue":
            champion = decide(history, exp.objective, self.records.ws.runs).champion
            path, note = resolve_resume(self.records.ws, history, str(policy.get("resume_from", "latest")), champion)
            notes.append(note)
            if path is not None:
                config.setdefault("train", {})["load_model_path"] = str(path)
                policy["inherited"] = inherited_cost(path)
        evaluation = exp.objective.evaluation
        train_seed = to_dotted(config).get("train.seed")
        policy["evaluation"] = {
            "episodes": evaluation.episodes,
            "seed": eval_seed(train_seed if isinstance(train_seed, int) else 0, evaluation),
            # The exam is the baseline's env with the objective's settings, whatever the run trained on.
            "env": {**self.loaded.baseline.get("env", {}), **evaluation.env},
            # The driver keeps its best checkpoint by this metric, smoothed over its learning curve.
            "metric": exp.objective.metric,
            "maximize": exp.objective.maximize,
        }
        if exp.trainer.metrics:
            policy["metrics"] = dict(exp.trainer.metrics)
        tracking = trainer_tracking(exp, self.records.ws.root.name, proposer)
        if tracking:
            policy["tracking"] = tracking
        return config, notes


def _proposed(diff: dict[str, Any]) -> dict[str, Any]:
    """A config diff without the loop-owned keys (they are the same for every run of the experiment)."""
    return {k: v for k, v in diff.items() if not k.startswith(OBJECTIVE_OWNED)}


def inherited_cost(checkpoint: Path) -> dict[str, Any]:
    """Steps and seconds already spent on the checkpoint a run continues from (its source run's summary)."""
    source = checkpoint.parent.parent  # runs/<id>/checkpoints/model.pt -> runs/<id>
    try:
        summary = read_json(RunFolder(source).trainer_summary)
    except (OSError, ValueError):
        return {"run_id": source.name, "steps": None, "wall_s": None}
    inherited = ((read_config(source) or {}).get("autopilot") or {}).get("inherited") or {}
    steps, wall = summary.get("steps"), summary.get("wall_s")
    return {
        "run_id": source.name,
        "steps": (steps or 0) + (inherited.get("steps") or 0) if isinstance(steps, int) else None,
        "wall_s": (wall or 0.0) + (inherited.get("wall_s") or 0.0) if isinstance(wall, int | float) else None,
    }


def trainer_tracking(exp: Experiment, group: str, tag: str) -> dict[str, Any] | None:
    """``autopilot.tracking`` for the PufferLib driver: which of PufferLib's loggers to use, and how (the
    trial's W&B run is named by its run id, grouped by workspace, tagged with its proposer)."""
    if exp.trainer.kind not in CURVE_TRAINER_KINDS:
        return None
    out: dict[str, Any] = {}
    if exp.tracking.wandb:
        out["wandb"] = {"project": exp.tracking.wandb_project, "group": group, "mode": wandb_mode()}
    if exp.tracking.neptune:
        out["neptune"] = {
            "project": exp.tracking.neptune_project,
            "mode": "async" if os.environ.get("NEPTUNE_API_TOKEN") else "offline",
        }
    return {**out, "tag": tag or None} if out else None
