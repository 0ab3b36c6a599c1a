"""``summary.json``: the autopilot's own analysis of a finished run (metrics, score, feasibility, verdicts).

Metrics come from structured files only (trainer_summary.json, eval_episodes.jsonl). A metric the trainer
did not report is ``null`` (unknown), never 0.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.analysis.behavior import analyse_behavior, parse_rules
from autopilot.analysis.stats import bootstrap_difference, bootstrap_mean, verdict
from autopilot.experiment import Experiment
from autopilot.records import RunView

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
    return read_jsonl(run_dir / "eval_episodes.jsonl")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a .jsonl file; a torn last line (a killed writer) is skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


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
        out[key] = _number(value)
    for name, key in mapping.items():
        out[name] = _number(raw.get(key))
    return out


def objective_score(metrics: dict[str, float | None], exp: Experiment) -> float | None:
    value = metrics.get(exp.objective.metric)
    if value is None:
        return None
    return value if exp.objective.mode == "max" else -value


def feasibility(metrics: dict[str, float | None], exp: Experiment) -> tuple[bool | None, list[str]]:
    """True/False against the constraints, None when a constrained metric is unknown."""
    violations, unknown = [], []
    for c in exp.objective.constraints:
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


def analyse(
    run_dir: Path, exp: Experiment, previous: RunView | None, best: RunView | None, ws_runs: Path
) -> dict[str, Any]:
    """The summary of a completed run."""
    trainer = json.loads((run_dir / "trainer_summary.json").read_text(encoding="utf-8"))
    metrics = map_metrics(trainer.get("metrics", {}), exp.trainer.metrics)
    episodes = read_episodes(run_dir)
    intervals = {}
    for name in (*EPISODE_FLAGS.values(), "mean_reward"):
        values = episode_values(episodes, name)
        if values is not None and len(values):
            intervals[name] = bootstrap_mean(values).to_dict()
    feasible, why = feasibility(metrics, exp)
    maximize = exp.objective.mode == "max"
    verdicts: dict[str, Any] = {}
    for label, other in (("previous", previous), ("best", best)):
        if other is None:
            continue
        result = compare(episodes, read_episodes(ws_runs / other.id), exp.objective.metric, maximize)
        verdicts[label] = {
            "run_id": other.id,
            **(result or {"verdict": "inconclusive", "note": "no per-episode evaluation to compare"}),
        }
    deltas = {}
    for label, other in (("previous", previous), ("best", best)):
        if other is not None:
            deltas[label] = {k: _delta(metrics.get(k), other.metrics.get(k)) for k in metrics}
    return {
        "metrics": metrics,
        "intervals": intervals,
        "objective": {
            "metric": exp.objective.metric,
            "mode": exp.objective.mode,
            "value": metrics.get(exp.objective.metric),
        },
        "score": objective_score(metrics, exp),
        "feasible": feasible,
        "feasibility_notes": why,
        "verdict": verdicts,
        "deltas": deltas,
        "behavioral_analysis": analyse_behavior(
            metrics,
            read_jsonl(run_dir / "metrics.jsonl"),
            exp.objective.metric,
            parse_rules(exp.analysis.behavior_rules),
        ),
        "steps": trainer.get("steps"),
        "wall_s": trainer.get("wall_s"),
        "checkpoint": trainer.get("checkpoint"),
    }


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
