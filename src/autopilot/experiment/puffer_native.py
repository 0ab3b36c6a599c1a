"""A PufferLib env's own config and ``[sweep]`` section as an autopilot experiment (``autopilot init --trainer
puffer --env NAME`` or ``--from-ini PATH``).

- Baseline (full): the env's config exactly as ``puffer train NAME`` loads it (default.ini, then the env's ini),
  ``auto`` values resolved as pufferl resolves them. Baseline (quick): the same hyperparameters with a tenth of
  ``train.total_timesteps`` (at least 10 batches), so a quick trial answers the same question sooner.
- Search space: one entry per ``[sweep.SECTION.KEY]``. Distributions map as ``log_normal`` -> log float,
  ``logit_normal`` and ``uniform`` -> linear float, ``int_uniform`` -> int, ``uniform_pow2`` -> pow2 (one without a
  distribution: pow2 when its bounds and shipped value are powers of two, else int when its bounds are integers,
  log-scaled when max/min >= 10). ``min``/``max`` are the tune range, widened where needed to hold the shipped
  value. The safe range (what validation accepts) widens the sweep's range by a rule: x/÷10 for log and pow2
  keys, by the range's own width each side for linear ones, never below 0 when min >= 0 nor above 1 when max <= 1, and
  always including the env's shipped value. ``train.total_timesteps`` is validated but not tuned: runs are
  compared at equal budgets.
- Objective: ``[sweep] metric`` and ``goal``; PufferLib logs it as ``environment/<metric>``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopilot.config import to_dotted
from autopilot.experiment.presets import RUN_POLICY_SPACE, puffer_rules

DISTRIBUTIONS = {
    "log_normal": ("float", "log"),
    "logit_normal": ("float", "linear"),
    "uniform": ("float", "linear"),
    "int_uniform": ("int", "linear"),
    "uniform_pow2": ("pow2", "log"),
}
UNTUNED = ("train.total_timesteps",)


class NativeConfigError(ValueError):
    """The env's config could not be loaded; the message says why."""


@dataclass
class NativeExperiment:
    baseline_full: dict[str, Any]
    baseline_quick: dict[str, Any]
    space: dict[str, dict[str, Any]]
    metric: str
    mode: str
    metrics_map: dict[str, str]
    notes: list[str] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)  # cross-key rules: PufferLib's own checks
    # The env's [sweep] section and its own values of the keys resolved for the driver (auto, cuda), dotted:
    # written to configs/puffer_source.json, so `autopilot export puffer-ini` gives PufferLib its ini back.
    source: dict[str, Any] = field(default_factory=dict)


def load_native(env: str | None, ini: Path | None, python: str | None) -> NativeExperiment:
    """Ask the trainer's interpreter for the env's config (``autopilot.trainers.puffer.config``), then map it."""
    argv = [python or sys.executable, "-m", "autopilot.trainers.puffer.config"]
    argv += ["--ini", str(Path(ini).resolve())] if ini else ["--env", str(env)]
    src = str(Path(__file__).resolve().parents[1])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=environment)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NativeConfigError(f"cannot run {argv[0]}: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise NativeConfigError(lines[-1] if lines else f"exit code {done.returncode}")
    loaded = json.loads(done.stdout)
    return from_loaded(
        loaded["config"], loaded["sweep"], loaded["notes"], loaded.get("agents_per_instance"), loaded.get("originals")
    )


def from_loaded(
    config: dict[str, Any],
    sweep: dict[str, Any],
    notes: list[str],
    agents_per_instance: int | None = None,
    originals: dict[str, Any] | None = None,
) -> NativeExperiment:
    full = {**config, "autopilot": {"resume_mode": "fresh", "resume_from": "latest", "save_strategy": "best"}}
    train = full["train"]
    quick = json.loads(json.dumps(full))
    total = int(train.get("total_timesteps", 0))
    batch = int(train.get("batch_size") or 1)
    quick["train"]["total_timesteps"] = max(total // 10, 10 * batch) if total else total
    shipped, shipped_quick = to_dotted(full), to_dotted(quick)
    space: dict[str, dict[str, Any]] = {}
    for key, spec in sorted(to_sweep_params(sweep).items()):
        if key not in shipped:
            notes.append(f"sweep key {key} is not in the env's config: left out of the search space")
            continue
        space[key] = parameter(key, spec, shipped[key], shipped_quick.get(key))
    space["train.seed"] = {"type": "int", "low": 0, "high": 2_147_483_647, "tune": False}
    space.update(RUN_POLICY_SPACE)
    metric = str(sweep.get("metric") or "score")
    mode = "min" if str(sweep.get("goal", "maximize")).startswith("min") else "max"
    rules = native_rules(full, agents_per_instance)
    source = {"sweep": sweep, "originals": originals or {}}
    return NativeExperiment(full, quick, space, metric, mode, {metric: f"environment/{metric}"}, notes, rules, source)


def native_rules(config: dict[str, Any], agents_per_instance: int | None) -> list[dict[str, Any]]:
    """PufferLib 3.0's own checks at start (``pufferl.PuffeRL.__init__``) as cross-key rules: the divisibility
    rules, and the segments rule (``batch_size // bptt_horizon`` must hold every agent) with the agents counted
    on one env instance built from the config: in units of ``env.num_envs`` when the count is a multiple of it
    (C envs hold that many envs an instance), else as a constant."""
    shipped = puffer_rules(False)
    rules = [r for r in shipped if r["check"] == "divisible"]
    if not agents_per_instance:
        return rules
    envs = (config.get("env") or {}).get("num_envs")
    if isinstance(envs, int) and not isinstance(envs, bool) and envs > 0 and agents_per_instance % envs == 0:
        per_env = agents_per_instance // envs
        agents: list[str | int] = ["env.num_envs", "vec.num_envs", *([per_env] if per_env > 1 else [])]
    else:
        agents = ["vec.num_envs", agents_per_instance]
    # PufferLib's segments rule as the built-in task declares it, its agents counted on this env
    segments = next(r for r in shipped if r["check"] == "at_least" and r.get("divided_by") == "train.bptt_horizon")
    rules.append({**segments, "than": agents})
    return rules


def to_sweep_params(sweep: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """``{"train": {"gamma": {min, max, ...}}}`` -> ``{"train.gamma": {...}}``; the meta keys are skipped."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in sweep.items():
        if not isinstance(value, dict):
            continue
        if "min" in value and "max" in value:
            out[prefix + key] = value
        else:
            out.update(to_sweep_params(value, f"{prefix}{key}."))
    return out


def parameter(key: str, spec: dict[str, Any], shipped: Any, also: Any = None) -> dict[str, Any]:
    """One search-space entry; ``shipped`` (and ``also``, the quick baseline's value) stay inside its safe range."""
    low, high = float(spec["min"]), float(spec["max"])
    if low > high:
        raise NativeConfigError(f"[sweep.{key}]: min {low} is above max {high}")
    distribution = spec.get("distribution")
    if distribution in DISTRIBUTIONS:
        kind, scale = DISTRIBUTIONS[distribution]
    else:
        integral = low.is_integer() and high.is_integer() and isinstance(shipped, int)
        if integral and _is_pow2(low) and _is_pow2(high) and _is_pow2(shipped):
            kind, scale = "pow2", "log"  # batch sizes: any other integer breaks PufferLib's divisibility rules
        else:
            kind = "int" if integral else "float"
            scale = "log" if low > 0 and high / low >= 10 else "linear"
    if kind in ("int", "pow2") and not isinstance(shipped, int):
        kind = "float"
    if scale == "log" and low > 0:
        safe_low, safe_high = low / 10, high * 10
    else:
        width = high - low
        safe_low, safe_high = low - width, high + width
        scale = "linear"
    if low >= 0:
        safe_low = max(safe_low, 0.0)
    if high <= 1:
        safe_high = min(safe_high, 1.0)
    for value in (shipped, also):
        if isinstance(value, int | float) and not isinstance(value, bool):
            safe_low, safe_high = min(safe_low, float(value)), max(safe_high, float(value))
    # The tune range holds the shipped value too: a search that cannot return to the env's own config (cartpole
    # ships learning_rate 0.05 against a sweep over [1e-4, 1e-3]) can only find configs far from it.
    widened = isinstance(shipped, int | float) and not isinstance(shipped, bool) and not low <= shipped <= high
    if widened:
        low, high = min(low, float(shipped)), max(high, float(shipped))
    if kind in ("int", "pow2"):
        entry: dict[str, Any] = {
            "type": kind,
            "low": max(1, math.floor(safe_low)) if kind == "pow2" else math.floor(safe_low),
        }
        entry["high"] = math.ceil(safe_high)
        tune: Any = [math.ceil(low), math.floor(high)]
    else:
        entry = {"type": "float", "low": _round(safe_low), "high": _round(safe_high)}
        tune = [low, high]
    entry["scale"] = scale
    entry["tune"] = False if key in UNTUNED else tune
    entry["doc"] = f"PufferLib sweep: {distribution or 'no distribution given'} over [{spec['min']}, {spec['max']}]"
    if widened:
        entry["doc"] += f", widened to hold the shipped {shipped}"
    return entry


def _is_pow2(value: float) -> bool:
    return value >= 1 and float(value).is_integer() and (int(value) & (int(value) - 1)) == 0


def _round(value: float) -> float:
    """12 significant digits: 0.001 rather than 0.0010000000000000009 in a file people read."""
    return float(f"{value:.12g}")
