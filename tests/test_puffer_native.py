"""`autopilot init --trainer puffer`: a PufferLib env's own config and [sweep] section become the experiment."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from helpers import AUTOPILOT

from autopilot.experiment.loader import load
from autopilot.experiment.puffer_native import from_loaded, native_rules, parameter
from autopilot.workspace.layout import Workspace

pytestmark = [pytest.mark.slow, pytest.mark.puffer]


def init(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUTOPILOT, "init", str(root), "--trainer", "puffer", *args], capture_output=True, text=True)


def test_init_loads_the_envs_own_config_and_sweep_as_puffer_train_would(tmp_path: Path) -> None:
    result = init(tmp_path / "ws", "--env", "puffer_cartpole")
    assert result.returncode == 0, result.stderr
    ws = Workspace(tmp_path / "ws")
    full = json.loads(ws.baseline_file("full").read_text())
    quick = json.loads(ws.baseline_file("quick").read_text())
    # cartpole.ini over default.ini, as `puffer train puffer_cartpole` loads it.
    assert (full["train"]["learning_rate"], full["train"]["gamma"], full["env"]["num_envs"]) == (0.05, 0.95, 4096)
    assert full["train"]["optimizer"] == "muon" and full["base"]["rnn_name"] == "Recurrent"
    # `auto` resolved as pufferl resolves it: 2 envs x 4096 agents x bptt 64.
    assert full["train"]["batch_size"] == 2 * 4096 * 64 and full["vec"]["num_workers"] == 2
    # Quick: the same hyperparameters, a tenth of the steps (at least 10 batches).
    assert quick["train"]["total_timesteps"] == max(20_000_000 // 10, 10 * full["train"]["batch_size"])
    assert {k: v for k, v in quick["train"].items() if k != "total_timesteps"} == {
        k: v for k, v in full["train"].items() if k != "total_timesteps"
    }
    loaded = load(ws, "full")
    exp = loaded.experiment
    assert exp.objective.metric == "episode_length" and exp.objective.mode == "max"
    assert exp.trainer.metrics == {"episode_length": "environment/episode_length"}
    gamma = exp.space.params["train.gamma"]  # [sweep.train.gamma] log_normal over [0.9, 0.999]
    assert gamma.type == "float" and gamma.scale == "log" and gamma.tune_bounds() == (0.9, 0.999)
    assert exp.space.params["train.bptt_horizon"].type == "pow2"
    assert not exp.space.params["train.total_timesteps"].tunable
    assert loaded.validate({}).ok and loaded.validate({"train.gamma": 0.99}).ok
    assert not loaded.validate({"train.gamma": 2.0}).ok
    assert "episode_length (max)" in result.stdout and "cuda -> cpu" in result.stdout


def test_init_from_a_users_own_ini(tmp_path: Path) -> None:
    ini = tmp_path / "mine.ini"
    ini.write_text(
        textwrap.dedent(
            """
            [base]
            package = ocean
            env_name = puffer_cartpole
            policy_name = Policy
            rnn_name = None

            [env]
            num_envs = 512

            [train]
            learning_rate = 0.003
            bptt_horizon = 32

            [sweep]
            metric = score
            goal = maximize

            [sweep.train.learning_rate]
            distribution = log_normal
            min = 0.0001
            max = 0.01
            mean = 0.003
            scale = auto
            """
        )
    )
    result = init(tmp_path / "ws", "--from-ini", str(ini))
    assert result.returncode == 0, result.stderr
    ws = Workspace(tmp_path / "ws")
    full = json.loads(ws.baseline_file("full").read_text())
    assert full["train"]["learning_rate"] == 0.003 and full["env"]["num_envs"] == 512
    assert full["train"]["batch_size"] == 2 * 512 * 32
    exp = load(ws, "quick").experiment
    assert exp.objective.metric == "score" and exp.space.params["train.learning_rate"].tune_bounds() == (1e-4, 1e-2)


def test_an_unknown_env_is_a_clear_error(tmp_path: Path) -> None:
    result = init(tmp_path / "ws", "--env", "puffer_no_such_env")
    assert result.returncode == 2 and "puffer_no_such_env" in result.stderr and "--from-ini" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "ws" / "autopilot.yaml").exists()


def test_sweep_distributions_map_to_the_space_and_safe_ranges_follow_the_rule() -> None:
    assert parameter("train.gamma", {"distribution": "logit_normal", "min": 0.8, "max": 0.9999}, 0.995) == {
        "type": "float",
        "low": 0.6001,
        "high": 1.0,
        "scale": "linear",
        "tune": [0.8, 0.9999],
        "doc": "PufferLib sweep: logit_normal over [0.8, 0.9999]",
    }
    lr = parameter("train.learning_rate", {"distribution": "log_normal", "min": 1e-4, "max": 1e-2}, 0.05)
    assert (lr["low"], lr["high"], lr["scale"]) == (1e-5, 0.1, "log")  # x/÷10, and it holds the shipped 0.05
    # The tune range holds the shipped value too (cartpole ships 0.05 against a sweep over [1e-4, 1e-3]).
    assert lr["tune"] == [1e-4, 0.05] and lr["doc"].endswith("widened to hold the shipped 0.05")
    pow2 = parameter("train.bptt_horizon", {"distribution": "uniform_pow2", "min": 16, "max": 64}, 64)
    assert (pow2["type"], pow2["low"], pow2["high"], pow2["tune"]) == ("pow2", 1, 640, [16, 64])
    ints = parameter("train.update_epochs", {"distribution": "int_uniform", "min": 1, "max": 4}, 1)
    assert (ints["type"], ints["low"], ints["high"]) == ("int", 0, 7)
    # No distribution (cartpole's train.batch_size): powers of two stay powers of two, other integers are ints.
    batch = parameter("train.batch_size", {"min": 32768, "max": 131072}, 65536)
    assert (batch["type"], batch["scale"], batch["tune"]) == ("pow2", "log", [32768, 131072])
    assert parameter("train.horizon", {"min": 30, "max": 100}, 50)["type"] == "int"
    native = from_loaded(
        {"base": {"env_name": "x"}, "train": {"total_timesteps": 1000, "batch_size": 10, "gamma": 0.9}},
        {
            "metric": "cost",
            "goal": "minimize",
            "train": {"gamma": {"min": 0.8, "max": 0.99}, "nope": {"min": 1, "max": 2}},
        },
        [],
    )
    assert native.mode == "min" and native.metrics_map == {"cost": "environment/cost"}
    assert "train.gamma" in native.space and "train.nope" not in native.space
    assert any("sweep key train.nope is not" in note for note in native.notes), native.notes


def test_pufferlibs_segments_rule_is_checked_before_a_trial_with_the_rule_named(tmp_path: Path) -> None:
    """A config PufferLib refuses at start (``Total agents 8192 <= segments 1024``) is refused by validation,
    naming the rule; one it accepts passes. PufferLib's own check is run on both."""
    import pufferlib
    import pufferlib.pufferl
    import pufferlib.vector
    from pufferlib.ocean import env_creator

    assert init(tmp_path / "ws", "--env", "puffer_cartpole").returncode == 0
    loaded = load(Workspace(tmp_path / "ws"), "quick")
    short = {"train.batch_size": 65536, "train.bptt_horizon": 64, "train.minibatch_size": 4096}
    result = loaded.validate(short)
    assert not result.ok
    [error] = [e for e in result.errors if "segments" in e]
    assert error.startswith("train.batch_size: rule train.batch_size // train.bptt_horizon >= env.num_envs")
    assert "(1024 < 8192)" in error
    fits = {**short, "train.batch_size": 524288}
    assert loaded.validate(fits).ok

    def pufferlib_starts(overrides: dict[str, int]) -> str | None:
        config = json.loads(Workspace(tmp_path / "ws").baseline_file("quick").read_text())
        for key, value in overrides.items():
            section, name = key.split(".")
            config[section][name] = value
        vecenv = pufferlib.vector.make(
            env_creator("puffer_cartpole"), env_kwargs=config["env"], backend=pufferlib.vector.Serial, num_envs=2
        )
        try:
            policy = pufferlib.ocean.torch.Policy(vecenv.driver_env)
            train = {**config["train"], "env": "puffer_cartpole", "use_rnn": False, "compile": False}
            train.update(device="cpu", precision="float32", optimizer="adam", cpu_offload=False)
            trainer = pufferlib.pufferl.PuffeRL(train, vecenv, policy)
            # PuffeRL starts a non-daemon utilization thread that only stop() ends: left running, it would
            # keep the test process alive after the last test
            trainer.utilization.stop()
            trainer.utilization.join(timeout=30)
            return None
        except pufferlib.APIUsageError as exc:
            return str(exc)
        finally:
            vecenv.close()

    assert pufferlib_starts(short) == "Total agents 8192 <= segments 1024"
    assert pufferlib_starts({**fits, "train.total_timesteps": 524288}) is None


def test_native_rules_count_agents_in_env_instances_or_as_a_constant() -> None:
    def segments(rules: list[dict]) -> dict:
        [rule] = [r for r in rules if r["check"] == "at_least"]
        return rule

    assert segments(native_rules({"env": {"num_envs": 4096}}, 4096))["than"] == ["env.num_envs", "vec.num_envs"]
    assert segments(native_rules({"env": {"num_envs": 8}}, 32))["than"] == ["env.num_envs", "vec.num_envs", 4]
    assert segments(native_rules({"env": {}}, 3))["than"] == ["vec.num_envs", 3]
    assert not [r for r in native_rules({"env": {"num_envs": 8}}, None) if r["check"] == "at_least"]


def test_the_puffer_ini_export_is_the_envs_own_ini_apart_from_the_tuned_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `puffer train` and `puffer sweep` load from the exported ini (pufferl's own loader, pointed at the
    file) equals what they load from the env's shipped ini, except the run's tuned value: the [sweep] sections,
    max_suggestion_cost, `auto` and `device = cuda` come back."""
    import glob
    import sys

    import pufferlib.pufferl

    from autopilot.workspace.records import Records, RunRecord

    assert init(tmp_path / "ws", "--env", "puffer_cartpole").returncode == 0
    ws = Workspace(tmp_path / "ws")
    config = json.loads(ws.baseline_file("full").read_text())
    config["train"]["learning_rate"] = 0.01
    records = Records(ws)
    run_id = "2026-01-01T000001Z-000001"
    records.run_dir(run_id).mkdir(parents=True)
    records.write_run(RunRecord(id=run_id, case_id="c1", state="complete", created="2026-01-01T00:00:01Z"))
    records.write_record(run_id, "config.json", config)
    records.write_record(run_id, "override.json", {"train": {"learning_rate": 0.01}})
    out = tmp_path / "cartpole.ini"
    done = subprocess.run(
        [AUTOPILOT, "export", "puffer-ini", run_id, str(out), "-w", str(ws.root)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr

    def loaded(ini: Path | None) -> dict:
        real_glob = glob.glob
        if ini is not None:
            monkeypatch.setattr(pufferlib.pufferl.glob, "glob", lambda pattern, recursive=False: [str(ini)])
        monkeypatch.setattr(sys, "argv", ["puffer"])  # as `puffer train puffer_cartpole` after its command
        try:
            return json.loads(json.dumps(pufferlib.pufferl.load_config("puffer_cartpole"), default=str))
        finally:
            monkeypatch.setattr(pufferlib.pufferl.glob, "glob", real_glob)

    shipped, exported = loaded(None), loaded(out)
    assert exported["train"]["learning_rate"] == 0.01 and shipped["train"]["learning_rate"] == 0.05
    exported["train"]["learning_rate"] = shipped["train"]["learning_rate"]
    assert exported == shipped  # sweep sections, max_suggestion_cost, auto and cuda included
    assert shipped["sweep"]["train"]["learning_rate"] and shipped["max_suggestion_cost"] == 3600
    assert shipped["train"]["device"] == "cuda" and shipped["train"]["batch_size"] == "auto"
