from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from autopilot.experiment.loader import BaselineError, load
from autopilot.experiment.parse import ExperimentError, experiment_from_dict, load_experiment
from autopilot.experiment.scaffold import DRONE_SIGNAL, render_experiment, scaffold
from autopilot.experiment.schema import Experiment
from autopilot.workspace.layout import Workspace


@pytest.mark.parametrize(
    ("trainer", "env"),
    [
        ("builtin", "drone_delivery"),
        ("puffer", "puffer_cartpole"),
        ("puffer", "puffer_drone_pp"),
        ("command", "custom"),
    ],
)
def test_scaffolded_experiment_files_load_for_every_trainer(tmp_path: Path, trainer: str, env: str) -> None:
    scaffold(tmp_path, trainer, env)
    for mode in ("quick", "full"):
        loaded = load(Workspace(tmp_path), mode)
        assert loaded.experiment.trainer.kind == trainer
        assert loaded.validate({}).ok


def test_cartpole_space_has_no_num_drones_and_its_batch_rule_has_no_drones(tmp_path: Path) -> None:
    scaffold(tmp_path, "puffer", "puffer_cartpole")
    loaded = load(Workspace(tmp_path))
    assert "env.num_drones" not in loaded.experiment.space.params
    assert loaded.validate({"train.bptt_horizon": 32}).derived["train.batch_size"] == 1024 * 32


def _raw() -> dict:
    return yaml.safe_load(render_experiment("builtin", "drone_delivery"))


def test_defaults_match_the_design_contract() -> None:
    exp = experiment_from_dict(_raw())
    assert exp.objective.metric == "success_rate" and exp.objective.mode == "max"
    assert exp.proposer.name == "auto" and exp.proposer.batch_size == 4
    g = exp.guardrails
    assert (g.window, g.max_fail_rate, g.safe_mode_fail_rate, g.max_common_failure_count) == (30, 0.6, 0.35, 12)
    assert g.critical_classes == ["nan_loss", "timeout", "crash"] and g.max_critical_class_count == 10
    r = exp.resources
    assert (r.workers, r.timeout_minutes, r.stall_seconds, r.num_cpus, r.num_gpus) == (1, 60, 300, 1, 0)
    assert exp.executor.kind == "local" and exp.executor.ray_address is None
    assert exp.early_stopping.enabled == "auto"


def test_the_scaffolds_sections_are_the_schemas_defaults() -> None:
    """autopilot.yaml is rendered from the schema's dataclasses: a default is written once."""
    exp = experiment_from_dict(_raw())
    fresh = Experiment()
    for section in ("proposer", "guardrails", "resources", "executor", "git", "tracking", "analysis"):
        assert getattr(exp, section) == getattr(fresh, section), section
    assert exp.objective.evaluation == fresh.objective.evaluation
    assert exp.objective.confidence == fresh.objective.confidence
    assert exp.early_stopping == replace(fresh.early_stopping, signal=DRONE_SIGNAL)  # the built-in task's signal


@pytest.mark.parametrize(
    ("enabled", "budgeted", "kind", "active"),
    [
        ("auto", True, "builtin", True),
        ("auto", True, "puffer", True),
        ("auto", False, "puffer", False),  # open-ended: nothing to spend the freed budget on
        ("auto", True, "command", False),  # a command trainer need not log learning curves
        (True, False, "command", True),
        (False, True, "puffer", False),
    ],
)
def test_early_stopping_auto_is_on_for_budgeted_studies_of_curve_logging_trainers(
    enabled: object, budgeted: bool, kind: str, active: bool
) -> None:
    raw = _raw()
    raw["early_stopping"]["enabled"] = enabled
    assert experiment_from_dict(raw).early_stopping.active(budgeted, kind) is active


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"objective": {"metric": "success_rate", "mode": "maximise"}}, "objective.mode: must be one of max, min"),
        (
            {"early_stopping": {"signal": {"grip_rate": "high"}}},
            "early_stopping.signal: must be a mapping of metric names to numbers",
        ),
        ({"proposer": {"name": "gpt"}}, "proposer.name: 'gpt' is not available; available: agent, auto, behavior"),
        ({"proposer": {"batch_size": 0}}, "proposer.batch_size: 0 is outside [1, 1024]"),
        ({"proposer": {"batch_sise": 4}}, "proposer.batch_sise: unknown key; did you mean batch_size?"),
        ({"guardrails": {"window": "thirty"}}, "guardrails.window: must be an integer, got string 'thirty'"),
        ({"guardrails": {"max_fail_rate": 0.2}}, "guardrails.safe_mode_fail_rate: 0.35 must not exceed"),
        ({"resources": {"timeout_minutes": -1}}, "resources.timeout_minutes: -1 is outside"),
        ({"trainer": {"kind": "command"}}, "trainer.command: required for kind 'command'"),
        ({"executr": {}}, "executr: unknown key; did you mean executor?"),
        ({"git": {"commit_per_run": "yes"}}, "git.commit_per_run: must be true or false, got string 'yes'"),
        ({"objective": {"constraints": [{"metric": "collision_rate"}]}}, "give max or min"),
        ({"early_stopping": {"enabled": 1}}, "early_stopping.enabled: must be true, false or auto, got 1"),
    ],
)
def test_invalid_experiment_settings_are_named(patch: dict, message: str) -> None:
    raw = _raw()
    for section, values in patch.items():
        if isinstance(raw.get(section), dict):
            raw[section].update(values)
        else:
            raw[section] = values
    with pytest.raises(ExperimentError) as err:
        experiment_from_dict(raw)
    assert any(message in e for e in err.value.errors), err.value.errors


def test_invalid_yaml_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "autopilot.yaml"
    path.write_text("trainer:\n  kind: builtin\n   env: x\n")
    with pytest.raises(ExperimentError, match=r"line 3, column \d+: not valid YAML"):
        load_experiment(path)


def test_missing_search_space_is_reported() -> None:
    raw = _raw()
    del raw["search_space"]
    with pytest.raises(ExperimentError, match="search_space: missing"):
        experiment_from_dict(raw)


def test_a_baseline_outside_the_safe_ranges_is_refused(workspace: Workspace) -> None:
    path = workspace.baseline_file("quick")
    cfg = json.loads(path.read_text())
    cfg["train"]["learning_rate"] = 5.0
    cfg["train"]["batch_size"] = 100
    path.write_text(json.dumps(cfg))
    with pytest.raises(BaselineError) as err:
        load(workspace, "quick")
    assert err.value.errors == ["train.learning_rate: 5.0 is outside the safe range [1e-06, 1.0]"]
    cfg["train"]["learning_rate"] = 0.01
    path.write_text(json.dumps(cfg))
    with pytest.raises(BaselineError) as err:
        load(workspace, "quick")
    assert err.value.errors == ["train.batch_size: is 100 but the rules derive 16384"]


def test_each_trainer_is_offered_only_the_keys_its_policy_and_env_take() -> None:
    builtin = yaml.safe_load(render_experiment("builtin", "drone_delivery"))["search_space"]
    puffer = yaml.safe_load(render_experiment("puffer", "puffer_cartpole"))["search_space"]
    fork = yaml.safe_load(render_experiment("puffer", "puffer_drone_pp"))["search_space"]
    assert builtin["policy.hidden_size"] == {"type": "pow2", "low": 16, "high": 1024, "tune": False}
    assert "env.num_drones" in builtin and "env.num_drones" in fork
    # PufferLib envs bring their own policy (which may take no hidden_size) and may have no drones
    assert "policy.hidden_size" not in puffer and "policy.hidden_size" not in fork
    assert "env.num_drones" not in puffer
    assert {k: v for k, v in builtin.items() if k != "policy.hidden_size"} == fork
