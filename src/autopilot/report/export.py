"""The workspace's runs for other tools: one flat row per run (CSV, pandas), an Optuna study with one trial per
config (optuna-dashboard, ``optuna.visualization``), a run's config as an ini that ``puffer train`` reads, and a
population-trained policy's hyperparameter schedule.

Rows and trials come from the records alone, like the leaderboard; the champion is the one the loop names, and
every export carries the estimate it was picked on (a config's seeds pooled), so a tool that ranks by the
exported value ranks as the loop does.
"""

from __future__ import annotations

import configparser
import csv
import io
import math
from pathlib import Path
from typing import Any

from autopilot.analysis.lineage import TAG, lineage, schedule, tag_value
from autopilot.analysis.promotion import Promotion, configs, decide
from autopilot.analysis.ranking import shown_estimate
from autopilot.config import to_dotted
from autopilot.experiment.schema import Experiment
from autopilot.space import OBJECTIVE_OWNED
from autopilot.workspace.atomic import atomic_write_text, read_curve, read_json_object
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records, RunView, read_config
from autopilot.workspace.run_folder import RunFolder


def config_of(history: list[RunView]) -> dict[str, str]:
    """Each run's config: the run id of its first run (a re-run on another seed belongs to its parent's)."""
    out: dict[str, str] = {}
    for view in history:
        parent = view.record.parent_ids[0] if "confirm" in view.record.tags and view.record.parent_ids else None
        out[view.id] = out.get(parent, view.id) if parent else view.id
    return out


def run_rows(ws: Workspace, exp: Experiment) -> list[dict[str, Any]]:
    """One flat row per run, in time order: identity, state, score, interval, failure, its config (``config_id``:
    the config's first run) with the config's ``estimate`` and ``seeds`` (what the pick ranks), the champion
    flag, ``params_<key>`` (the run's effective value of every searched key, named as Optuna's dataframe names
    them) and ``metrics_<name>``."""
    history = Records(ws).history()
    promotion = decide(history, exp.objective, ws.runs)
    champion = promotion.champion
    config = config_of(history)
    metric = exp.objective.metric
    rows = []
    for view in history:
        interval = ((view.summary or {}).get("intervals") or {}).get(metric) or {}
        estimate = promotion.estimates.get(config[view.id])
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
            "config_id": config[view.id],
            "estimate": shown_estimate(promotion, config[view.id], exp.objective),
            "seeds": estimate[1] if estimate else None,
            "champion": champion is not None and champion.id == view.id,
        }
        row.update({f"params_{k}": v for k, v in effective_params(ws, exp, view).items()})
        row.update({f"metrics_{k}": v for k, v in view.metrics.items() if _scalar(v)})
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


def to_optuna(ws: Workspace, exp: Experiment, storage: str | None = None, study_name: str | None = None) -> Any:
    """An Optuna study in ``storage`` (e.g. ``sqlite:///study.db``; in memory when None) with one trial per
    config (a run and its re-runs on other seeds), so re-runs do not count twice in importances:

    - value: the config's estimate (its seeds' mean, shrunk toward all configs' as the pick does), so
      ``study.best_trial`` is the loop's champion; ``constraints`` (a system attribute Optuna's ``best_trial``
      honours) say which configs met the objective's constraints;
    - state COMPLETE; WAITING for a config whose better estimate rests on fewer seeds than the champion's (the
      loop re-runs it before it can be picked); PRUNED or FAIL for a config whose first run was;
    - params: the values its first run trained with, over the safe ranges; its learning curve as intermediate
      values; user attributes ``run_id`` (the config's first run), ``runs``, ``seeds``, ``estimate``,
      ``mean``, ``interval``, ``proposer``, ``state``, ``failure_class`` and ``champion``; for a population's
      segment (``pbt``) also ``parent`` (the run whose checkpoint it continued), ``generation``, ``member`` and
      ``lineage`` (the runs its policy was trained through, first to last).

    A study of that name already in ``storage`` is replaced (an export is a snapshot of the workspace).
    Runs still pending or running are left out."""
    import optuna
    from optuna.trial import TrialState, create_trial

    from autopilot.proposers.optuna_samplers import contains, distributions

    dists = distributions(exp.space, bounds="safe")
    direction = optuna.study.StudyDirection.MAXIMIZE if exp.objective.maximize else optuna.study.StudyDirection.MINIMIZE
    name = study_name or ws.root.name
    if storage is not None and name in optuna.study.get_all_study_names(storage):
        optuna.delete_study(study_name=name, storage=storage)
    study = optuna.create_study(storage=storage, study_name=name, direction=direction)
    history = Records(ws).history()
    promotion = decide(history, exp.objective, ws.runs)
    groups = {c.root.id: c for c in configs(history, exp.objective)}
    some_infeasible = any(not c.feasible for c in groups.values())
    some_feasible = any(c.feasible for c in groups.values())
    metric = exp.objective.metric
    for view in history:
        if view.state in ("pending", "running") or "confirm" in view.record.tags:
            continue
        params = {k: v for k, v in effective_params(ws, exp, view).items() if k in dists}
        params = {k: v for k, v in params.items() if contains(dists[k], v)}
        group = groups.get(view.id)
        state = _trial_state(view, group is not None, promotion)
        attrs = {
            "run_id": view.id,
            "runs": [v.id for v in group.runs] if group else [view.id],
            "seeds": group.seeds if group else None,
            "estimate": shown_estimate(promotion, view.id, exp.objective),
            "mean": (group.mean if exp.objective.maximize else -group.mean) if group else None,
            "proposer": view.record.proposer,
            "state": view.state,
            "failure_class": view.record.failure_class,
            "interval": ((view.summary or {}).get("intervals") or {}).get(metric),
            "champion": promotion.champion is not None and promotion.champion.id == view.id,
            **population_attrs(history, view),
        }
        # Constraints only when they tell configs apart: with none feasible, Optuna's best_trial would raise
        # where the loop still names its best infeasible config.
        system = (
            {"constraints": [0.0 if group.feasible else 1.0]} if group and some_infeasible and some_feasible else {}
        )
        study.add_trial(
            create_trial(
                state=state,
                value=shown_estimate(promotion, view.id, exp.objective) if state == TrialState.COMPLETE else None,
                params=params,
                distributions={k: dists[k] for k in params},
                user_attrs={k: v for k, v in attrs.items() if v is not None},
                system_attrs=system,
                intermediate_values=_curve(ws.runs / view.id, metric),
            )
        )
    return study


def population_attrs(history: list[RunView], view: RunView) -> dict[str, Any]:
    """Where a population's segment sits: its parent, generation, member and lineage (empty for other runs)."""
    generation = tag_value(view, "generation")
    if TAG not in view.record.tags or generation is None:
        return {}
    return {
        "parent": view.record.parent_ids[0] if view.record.parent_ids else None,
        "generation": generation,
        "member": tag_value(view, "member"),
        "lineage": [v.id for v in lineage(history, view.id)],
    }


def _trial_state(view: RunView, completed: bool, promotion: Promotion) -> Any:
    """A config's Optuna state: WAITING while the loop owes it a re-run before it can be picked."""
    from optuna.trial import TrialState

    if completed:
        return TrialState.WAITING if view.id in promotion.awaiting_confirmation else TrialState.COMPLETE
    return TrialState.PRUNED if view.state == "pruned" else TrialState.FAIL


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
    """The run's trainer config as PufferLib's ini for its env (sections base, env, vec, policy, rnn, train; the
    loop's own ``autopilot`` section left out), to put in place of the env's ini for ``puffer train`` and
    ``puffer sweep``. For an env brought in from PufferLib (``init --trainer puffer``) it is the env's own ini
    apart from the run's values: keys resolved for the driver go back to the env's own values where the run kept
    the baseline's (``auto``, ``cuda``), and the env's ``[sweep]`` sections are written back."""
    config = read_config(ws.runs / view.id)
    if config is None:
        raise ValueError(f"run {view.id} has no readable config.json")
    source = read_json_object(ws.puffer_source)  # the env's own [sweep] and values, when it came from PufferLib
    flat = {k: v for k, v in to_dotted(config).items() if not k.startswith("autopilot.")}
    flat.pop("train.load_model_path", None)
    if source:
        baseline = to_dotted(read_json_object(ws.baseline_file("full")))
        for key, original in source.get("originals", {}).items():
            if key not in flat or flat[key] == baseline.get(key):
                flat[key] = original
    sections: dict[str, dict[str, str]] = {}
    for key, value in flat.items():
        section, _, name = key.partition(".")
        if isinstance(value, dict | list) or value is None:
            continue  # an ini holds scalars; pufferl reads an absent key from default.ini
        sections.setdefault(section, {})[name] = _ini_value(value)
    if source.get("sweep"):
        sections.update(_sweep_sections(source["sweep"]))
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    for section, values in sections.items():
        parser[section] = values
    buffer = io.StringIO()
    buffer.write(f"# autopilot run {view.id} ({view.record.proposer}); score {view.score}\n")
    if not source:
        env = (config.get("base") or {}).get("env_name")
        buffer.write(
            f"# {env} is not an env PufferLib ships: put these settings in your own env's ini; `puffer train` "
            "needs an env_name from its config folder\n"
        )
    parser.write(buffer)
    return buffer.getvalue()


def _sweep_sections(sweep: dict[str, Any], prefix: str = "sweep") -> dict[str, dict[str, str]]:
    """PufferLib's nested sweep as ini sections: ``[sweep]`` (method, metric, goal, max_suggestion_cost, ...)
    and one ``[sweep.SECTION.KEY]`` per searched key."""
    out: dict[str, dict[str, str]] = {}
    scalars = {k: _ini_value(v) for k, v in sweep.items() if not isinstance(v, dict)}
    if scalars or prefix == "sweep":
        out[prefix] = scalars
    for key, value in sweep.items():
        if isinstance(value, dict):
            out.update(_sweep_sections(value, f"{prefix}.{key}"))
    return out


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


def schedule_file(ws: Workspace, exp: Experiment, view: RunView) -> dict[str, Any]:
    """The hyperparameter schedule that trained run ``view``'s policy (its lineage, first segment to last) as a
    file: each segment's steps and keys, and the ``puffer train`` command that trains it on from the last
    segment's checkpoint (``--load-model-path latest``), so a PufferLib user can train the same schedule on
    a new seed."""
    history = Records(ws).history()
    segments = schedule(history, view.id, exp.space)
    env = ((read_config(ws.runs / view.id) or {}).get("base") or {}).get("env_name", "ENV")
    for k, segment in enumerate(segments):
        flags = [f"--{key.replace('_', '-')} {_ini_value(value)}" for key, value in segment["hyperparameters"].items()]
        if isinstance(segment["steps"], int):
            flags.append(f"--train.total-timesteps {segment['steps']}")
        if k > 0:
            flags.append("--load-model-path latest")
        segment["puffer_train"] = f"puffer train {env} " + " ".join(flags)
    return {
        "run_id": view.id,
        "metric": exp.objective.metric,
        "score": view.score,
        "total_steps": sum(s["steps"] for s in segments if isinstance(s["steps"], int)),
        "segments": segments,
    }
