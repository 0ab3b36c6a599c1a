"""Loading a workspace's experiment and baselines, each checked before use.

Baselines are read-only inputs (docs/architecture.md): they are loaded, checked against the space, and never
written back by the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autopilot.config import JSONInputError, parse_json_object, to_dotted
from autopilot.errors import ErrorList
from autopilot.experiment import presets
from autopilot.experiment.parse import experiment_from_dict, load_experiment
from autopilot.experiment.scaffold import render_experiment
from autopilot.experiment.schema import Experiment
from autopilot.space import ValidationResult
from autopilot.workspace.atomic import read_bytes
from autopilot.workspace.layout import Workspace

MODES = ("quick", "full")


class BaselineError(ErrorList):
    """An invalid baseline config file; one ``key: reason`` line per problem."""

    def __init__(self, path: Path, errors: list[str]) -> None:
        super().__init__(errors, f"{path}: invalid baseline config")


@dataclass(frozen=True)
class Loaded:
    """An experiment with the baseline of one mode, both checked."""

    workspace: Workspace
    experiment: Experiment
    mode: str
    baseline: dict[str, Any]

    def validate(self, override: dict[str, Any]) -> ValidationResult:
        return self.experiment.space.validate(override, self.baseline, self.workspace.root)


def load(ws: Workspace, mode: str = "quick", allow_missing: bool = False) -> Loaded:
    """Load ``ws``; with ``allow_missing``, a workspace that does not exist yet uses the built-in defaults."""
    if mode not in MODES:
        raise ValueError(f"--mode: must be one of {', '.join(MODES)}, got {mode!r}")
    if not ws.exists() and allow_missing:
        exp = experiment_from_dict(yaml.safe_load(render_experiment("builtin", "drone_delivery")))
        baseline = presets.baseline_config("builtin", "drone_delivery", mode)
        return Loaded(ws, exp, mode, baseline)
    exp = load_experiment(ws.experiment_file)
    path = ws.baseline_file(mode)
    try:
        baseline = parse_json_object(read_bytes(path), str(path))
    except FileNotFoundError:
        raise BaselineError(path, ["file not found (run `autopilot init` to create it)"]) from None
    except OSError as exc:
        raise BaselineError(path, [f"cannot be read: {exc.strerror}"]) from None
    except JSONInputError as exc:
        raise BaselineError(path, [str(exc)]) from None
    check_baseline(path, exp, baseline)
    return Loaded(ws, exp, mode, baseline)


def check_baseline(path: Path, exp: Experiment, baseline: dict[str, Any]) -> None:
    """Every searched key the baseline sets must be in range, and the rules must already hold."""
    flat = to_dotted(baseline)
    errors = []
    for key, param in exp.space.params.items():
        if key in flat and param.type != "run_ref":
            reason = param.check(flat[key])
            if reason:
                errors.append(f"{key}: {reason}")
    if not errors:
        result = exp.space.validate({}, baseline, None)
        errors += result.errors
        errors += [f"{k}: is {flat.get(k)!r} but the rules derive {v!r}" for k, v in result.derived.items()]
    if errors:
        raise BaselineError(path, errors)
