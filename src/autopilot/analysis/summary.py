"""``summary.json``: the autopilot's own analysis of a finished run (metrics, score, feasibility, verdicts).

Metrics come from structured files only (trainer_summary.json, eval_episodes.jsonl). A metric the trainer
did not report is ``null`` (unknown), never 0.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.analysis.behavior import analyse_behavior
from autopilot.analysis.stats import bootstrap_difference, bootstrap_mean, verdict
from autopilot.experiment.behavior_rules import parse_rules
from autopilot.objective import Objective
from autopilot.workspace.atomic import read_curve, read_json, read_jsonl
from autopilot.workspace.records import RunView
from autopilot.workspace.run_folder import RunFolder

# Per-episode flag in eval_episodes.jsonl -> metric name.
EPISODE_FLAGS = {
    "success": "success_rate",
    "grip": "grip_rate",
    "carry": "carry_rate",
    "hover": "hover_rate",
    "collision": "collision_rate",
    "oob": "oob_rate",
    "timeout": "timeout_rate",
}


# Metrics where smaller is better (for verdicts on metrics other than the objective).
LOWER_IS_BETTER = frozenset({"collision_rate", "oob_rate", "timeout_rate"})


def read_episodes(run_dir: Path) -> list[dict[str, Any]]:
    """A run's evaluation episodes. The pick reads the champion's and the baseline's after every trial: the
    parsed lines of the last few files are kept, keyed by the file's identity (inode, size, modification
    time), so a file that changes is read again."""
    path = RunFolder(run_dir).eval_episodes
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return []
    return list(_episodes(str(path), info.st_ino, info.st_size, info.st_mtime_ns))


@functools.lru_cache(maxsize=64)  # about 13 MB at 512 episodes a run
def _episodes(path: str, _inode: int, _size: int, _mtime_ns: int) -> tuple[dict[str, Any], ...]:
    return tuple(read_jsonl(Path(path)))


def episode_values(episodes: list[dict[str, Any]], metric: str) -> np.ndarray | None:
    """Per-episode 0/1 outcomes (or returns, for mean_reward) behind ``metric``; None when not recorded."""
    if metric == "mean_reward":
        key = "return"
    else:
        key = next((flag for flag, name in EPISODE_FLAGS.items() if name == metric), "")
    if not episodes or not key or any(key not in e for e in episodes):
        return None
    return np.asarray([float(e[key]) for e in episodes], dtype=np.float64)


def map_metrics(raw: dict[str, Any], mapping: dict[str, str]) -> dict[str, float | None]:
    """Apply ``trainer.metrics`` (autopilot name -> trainer key); non-finite or non-numeric values -> None."""
    out: dict[str, float | None] = {}
    for key, value in raw.items():
        if isinstance(key, str) and key.isprintable():  # a name is shown on the console and in the report
            out[key] = _number(value)
    for name, key in mapping.items():
        if key in raw or name not in raw:  # a name the trainer reports itself stands when the mapped key is absent
            out[name] = _number(raw.get(key))
    return out


def objective_score(metrics: dict[str, float | None], objective: Objective) -> float | None:
    value = metrics.get(objective.metric)
    if value is None:
        return None
    return value if objective.maximize else -value


def feasibility(metrics: dict[str, float | None], objective: Objective) -> tuple[bool | None, list[str]]:
    """True/False against the constraints, None when a constrained metric is unknown."""
    violations, unknown = [], []
    for c in objective.constraints:
        value = metrics.get(c.metric)
        if value is None:
            unknown.append(f"{c.metric} unknown")
        elif c.max is not None and value > c.max:
            violations.append(f"{c.metric} {value:.4g} > {c.max:g}")
        elif c.min is not None and value < c.min:
            violations.append(f"{c.metric} {value:.4g} < {c.min:g}")
    if violations:
        return False, violations + unknown
    if unknown:
        return None, unknown
    return True, []


def compare(
    episodes_a: list[dict[str, Any]], episodes_b: list[dict[str, Any]], metric: str, maximize: bool, seed: int = 0
) -> dict[str, Any] | None:
    """Verdict of run A against run B on ``metric`` from their evaluation episodes, or None if not comparable."""
    a, b = episode_values(episodes_a, metric), episode_values(episodes_b, metric)
    if a is None or b is None or len(a) == 0 or len(b) == 0:
        return None
    diff = bootstrap_difference(a, b, seed)
    return {"metric": metric, "difference": diff.to_dict(), "verdict": verdict(diff, maximize)}


def compare_runs(run_a: Path, run_b: Path, objective: Objective) -> dict[str, dict[str, Any]]:
    """``autopilot compare``: A against B on the objective and every per-episode rate, each in its own
    direction (the objective's mode for its metric; lower is better for collisions, leaving and timeouts)."""
    a, b = read_episodes(run_a), read_episodes(run_b)
    results = {}
    for name in dict.fromkeys((objective.metric, *EPISODE_FLAGS.values(), "mean_reward")):
        maximize = objective.maximize if name == objective.metric else name not in LOWER_IS_BETTER
        result = compare(a, b, name, maximize)
        if result is not None:
            results[name] = result
    return results


def analyse(
    run_dir: Path,
    objective: Objective,
    metric_map: dict[str, str],
    behavior_rules: list[dict[str, Any]],
    previous: RunView | None,
    best: RunView | None,
) -> dict[str, Any]:
    """The summary of a completed run (``previous`` and ``best`` are runs in the same runs folder)."""
    runs = run_dir.parent
    folder = RunFolder(run_dir)
    trainer = read_json(folder.trainer_summary)
    if not isinstance(trainer, dict):
        raise ValueError("trainer_summary.json is not an object")
    metrics = map_metrics(trainer.get("metrics") or {}, metric_map)
    episodes = read_episodes(run_dir)
    intervals = {}
    for name in (*EPISODE_FLAGS.values(), "mean_reward"):
        values = episode_values(episodes, name)
        if values is not None and len(values):
            intervals[name] = bootstrap_mean(values).to_dict()
    feasible, why = feasibility(metrics, objective)
    verdicts: dict[str, Any] = {}
    for label, other in (("previous", previous), ("best", best)):
        if other is None:
            continue
        result = compare(episodes, read_episodes(runs / other.id), objective.metric, objective.maximize)
        verdicts[label] = {
            "run_id": other.id,
            **(result or {"verdict": "inconclusive", "note": "no per-episode evaluation to compare"}),
        }
    deltas = {}
    for label, other in (("previous", previous), ("best", best)):
        if other is not None:
            deltas[label] = {k: _delta(metrics.get(k), other.metrics.get(k)) for k in metrics}
    missing = None
    if metrics.get(objective.metric) is None:
        reported = sorted(k for k, v in metrics.items() if v is not None)
        missing = (
            f"the objective metric {objective.metric!r} was not reported; the trainer reported: "
            f"{', '.join(reported) if reported else 'nothing'} (map one with trainer.metrics in autopilot.yaml)"
        )
    steps = trainer.get("steps") if isinstance(trainer.get("steps"), int) else None
    inherited = _inherited(folder)
    inherited_steps: int = inherited["steps"] if isinstance(inherited.get("steps"), int) else 0
    return {
        "metrics": metrics,
        "intervals": intervals,
        "objective": {"metric": objective.metric, "mode": objective.mode, "value": metrics.get(objective.metric)},
        "score": objective_score(metrics, objective),
        "feasible": feasible,
        "feasibility_notes": why,
        "missing_metric": missing,
        "verdict": verdicts,
        "deltas": deltas,
        "behavioral_analysis": analyse_behavior(
            metrics, read_curve(folder.metrics), objective.metric, parse_rules(behavior_rules)
        ),
        "steps": steps,
        "wall_s": trainer.get("wall_s"),
        # What the policy cost in all: its own steps plus those of the checkpoint it continued from.
        "cost": {"steps": (steps or 0) + inherited_steps, "inherited_steps": inherited_steps},
        "checkpoint": checkpoint_inside(run_dir, trainer.get("checkpoint")),
        "selection": trainer.get("selection"),
    }


def checkpoint_inside(run_dir: Path, reported: Any) -> str | None:
    """The checkpoint a trainer reported, as a path relative to its run folder, or None when it is not a
    regular file inside that folder (a trainer-reported path never makes the loop load or keep an outside
    file)."""
    if not isinstance(reported, str) or not reported:
        return None
    root = run_dir.resolve()
    path = (run_dir / reported).resolve()  # an absolute ``reported`` replaces run_dir: then it is outside
    if root not in path.parents or not path.is_file():
        return None
    return str(path.relative_to(root))


def _inherited(folder: RunFolder) -> dict[str, Any]:
    """``autopilot.inherited`` of the run's config: the cost of the checkpoint it continued from."""
    try:
        config = read_json(folder.config)
        inherited = config["autopilot"]["inherited"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return inherited if isinstance(inherited, dict) else {}


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
