"""The workspace's runs for other tools: one flat row per run (CSV, pandas), an Optuna study (optuna-dashboard,
``optuna.visualization``), and a run's config as an ini that ``puffer train`` reads.

Rows and trials come from the records alone, like the leaderboard; the champion is the one the loop names.
"""

from __future__ import annotations

import configparser
import csv
import io
import math
from pathlib import Path
from typing import Any

from autopilot.analysis.promotion import decide
from autopilot.config import to_dotted
from autopilot.experiment.schema import Experiment
from autopilot.space import OBJECTIVE_OWNED
from autopilot.workspace.atomic import atomic_write_text, read_curve
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records, RunView, read_config
from autopilot.workspace.run_folder import RunFolder


def run_rows(ws: Workspace, exp: Experiment) -> list[dict[str, Any]]:
    """One flat row per run, in time order: identity, state, score, interval, failure, the champion flag,
    ``params.<key>`` (the run's effective value of every searched key) and ``metrics.<name>``."""
    history = Records(ws).history()
    champion = decide(history, exp.objective, ws.runs).champion
    metric = exp.objective.metric
    rows = []
    for view in history:
        interval = ((view.summary or {}).get("intervals") or {}).get(metric) or {}
        row: dict[str, Any] = {
            "run_id": view.id,
            "case_id": view.record.case_id,
            "state": view.state,
            "proposer": view.record.proposer,
            "created": view.record.created,
            "wall_s": view.record.wall_s,
            "steps": (view.summary or {}).get("steps"),
            "score": view.score,
            metric: view.metrics.get(metric),
            f"{metric}_low": interval.get("low"),
            f"{metric}_high": interval.get("high"),
            "feasible": view.feasible if view.summary else None,
            "failure_class": view.record.failure_class,
            "champion": champion is not None and champion.id == view.id,
        }
        row.update({f"params.{k}": v for k, v in effective_params(ws, exp, view).items()})
        row.update({f"metrics.{k}": v for k, v in view.metrics.items() if _scalar(v)})
        rows.append(row)
    return rows


def effective_params(ws: Workspace, exp: Experiment, view: RunView) -> dict[str, Any]:
    """The values the run trained with for every key of the search space (its config.json)."""
    config = to_dotted(read_config(ws.runs / view.id) or {})
    overrides = to_dotted(view.overrides)
    out = {}
    for key, param in exp.space.params.items():
        if key.startswith(OBJECTIVE_OWNED) or param.type == "run_ref":
            continue
        value = overrides.get(key, config.get(key))
        if value is not None:
            out[key] = value
    return out


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return path


def to_optuna(ws: Workspace, exp: Experiment, storage: str | None, study_name: str | None = None) -> Any:
    """An Optuna study in ``storage`` (e.g. ``sqlite:///study.db``) with one trial per finished run: params over
    the safe ranges, value (the objective), state COMPLETE / FAIL / PRUNED, the learning curve as intermediate
    values, and user attributes for the run id, proposer, interval, failure class and the champion flag.
    Returns the study (in memory when ``storage`` is None). Runs still pending or running are left out."""
    import optuna
    from optuna.trial import TrialState, create_trial

    from autopilot.proposers.optuna_samplers import contains, distributions

    dists = distributions(exp.space, bounds="safe")
    direction = optuna.study.StudyDirection.MAXIMIZE if exp.objective.maximize else optuna.study.StudyDirection.MINIMIZE
    name = study_name or ws.root.name
    study = optuna.create_study(storage=storage, study_name=name, direction=direction)
    history = Records(ws).history()
    champion = decide(history, exp.objective, ws.runs).champion
    metric = exp.objective.metric
    for view in history:
        if view.state in ("pending", "running"):
            continue
        params = {k: v for k, v in effective_params(ws, exp, view).items() if k in dists}
        params = {k: v for k, v in params.items() if contains(dists[k], v)}
        value = view.metrics.get(metric) if view.state == "complete" else None
        state = (
            TrialState.COMPLETE
            if value is not None
            else TrialState.PRUNED
            if view.state == "pruned"
            else TrialState.FAIL
        )
        interval = ((view.summary or {}).get("intervals") or {}).get(metric)
        attrs = {
            "run_id": view.id,
            "proposer": view.record.proposer,
            "state": view.state,
            "failure_class": view.record.failure_class,
            "interval": interval,
            "champion": champion is not None and champion.id == view.id,
        }
        study.add_trial(
            create_trial(
                state=state,
                value=float(value) if value is not None else None,
                params=params,
                distributions={k: dists[k] for k in params},
                user_attrs={k: v for k, v in attrs.items() if v is not None},
                intermediate_values=_curve(ws.runs / view.id, metric),
            )
        )
    return study


def _curve(run_dir: Path, metric: str) -> dict[int, float]:
    curve: dict[int, float] = {}
    for line in read_curve(RunFolder(run_dir).metrics):
        value = (line.get("metrics") or {}).get(metric)
        step = line.get("step")
        if isinstance(step, int) and isinstance(value, int | float) and not isinstance(value, bool):
            curve[step] = float(value)
    return {step: value for step, value in curve.items() if math.isfinite(value)}


def _scalar(value: Any) -> bool:
    return isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value))


def puffer_ini(ws: Workspace, view: RunView) -> str:
    """The run's trainer config as an ini that ``puffer train ENV --config FILE`` reads (PufferLib's sections:
    base, env, vec, policy, rnn, train); the loop's own ``autopilot`` section is left out."""
    config = read_config(ws.runs / view.id)
    if config is None:
        raise ValueError(f"run {view.id} has no readable config.json")
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    for section, values in config.items():
        if section == "autopilot" or not isinstance(values, dict):
            continue
        flat = {k: v for k, v in to_dotted({section: values}).items() if k != "train.load_model_path"}
        parser[section] = {key.split(".", 1)[1]: _ini_value(v) for key, v in flat.items()}
    buffer = io.StringIO()
    buffer.write(f"# autopilot run {view.id} ({view.record.proposer}); score {view.score}\n")
    parser.write(buffer)
    return buffer.getvalue()


def _ini_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"  # pufferl's ini loader reads Python literals
    if isinstance(value, str):
        return value
    return repr(value)


def puffer_flags(view: RunView) -> str:
    """The run's overrides as ``puffer train`` flags (``--train.learning-rate 0.003``; base keys bare)."""
    flags = []
    for key, value in sorted(to_dotted(view.overrides).items()):
        section, _, name = key.partition(".")
        if section == "autopilot":
            continue
        flag = f"--{name}" if section == "base" else f"--{section}.{name}"
        flags.append(f"{flag.replace('_', '-')} {_ini_value(value)}")
    return " ".join(flags) or "(none: the run is the shipped config)"
