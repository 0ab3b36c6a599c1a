"""The PufferLib driver, run for real as the loop runs it: a subprocess with a run folder."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from autopilot.config import deep_merge
from autopilot.experiment.presets import baseline_config

pytestmark = [pytest.mark.slow, pytest.mark.puffer]


def make_run(
    tmp_path: Path, name: str, override: dict[str, Any], trainer: str = "builtin", env: str = "drone_delivery"
) -> Path:
    run_dir = tmp_path / name
    run_dir.mkdir()
    config = deep_merge(baseline_config(trainer, env, "quick"), override)
    (run_dir / "config.json").write_text(json.dumps(config))
    return run_dir


def drive(run_dir: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autopilot.trainers.puffer", "--run-dir", str(run_dir)],
        cwd=run_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


SHORT = {"train.total_timesteps": 1_500_000, "autopilot.evaluation.episodes": 96}


def test_short_builtin_training_writes_every_protocol_file(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "run", SHORT)
    result = drive(run_dir)
    assert result.returncode == 0, result.stderr[-2000:]

    lines = read_lines(run_dir / "metrics.jsonl")
    assert len(lines) >= 2
    steps = [line["step"] for line in lines]
    assert steps == sorted(steps) and steps[-1] >= 1_500_000
    for line in lines:
        assert set(line) >= {"step", "wall_s", "sps", "metrics", "losses"}
        for name in ("success_rate", "grip_rate", "collision_rate"):
            value = line["metrics"].get(name)
            assert value is None or 0.0 <= value <= 1.0
    assert "entropy" in lines[-1]["losses"]

    summary = json.loads((run_dir / "trainer_summary.json").read_text())
    metrics = summary["metrics"]
    for name in ("success_rate", "grip_rate", "carry_rate", "hover_rate", "collision_rate", "oob_rate", "timeout_rate"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert metrics["sps"] > 0 and metrics["agent_steps"] == summary["steps"] >= 1_500_000
    assert math.isfinite(metrics["mean_reward"]) and metrics["episode_length"] >= 1
    assert summary["seed"] == 1 and summary["eval"]["episodes"] == 96
    assert summary["eval"]["seed"] != summary["seed"]
    assert summary["train_config"]["total_timesteps"] == 1_500_000
    assert (run_dir / summary["checkpoint"]).is_file()
    # Both the final and the best-smoothed checkpoints are kept, and the summary says which was evaluated.
    selection = summary["selection"]
    assert (run_dir / summary["final_checkpoint"]).is_file() and (run_dir / "checkpoints" / "best.pt").is_file()
    assert selection["chosen"] in ("final", "best") and selection["best"]["step"] <= summary["steps"]
    chosen = selection["best"] if selection["chosen"] == "best" else selection["final"]
    assert summary["checkpoint"] == chosen["checkpoint"]
    other = selection["final"] if selection["chosen"] == "best" else selection["best"]
    assert chosen["success_rate"] >= other["success_rate"]  # the pick is the better on the selection episodes

    episodes = read_lines(run_dir / "eval_episodes.jsonl")
    assert len(episodes) == 96
    outcomes = ("delivered", "collision", "oob", "timeout")
    assert all(sum(e[o] for o in outcomes) == 1 for e in episodes)
    assert metrics["success_rate"] == sum(e["success"] for e in episodes) / 96
    assert not (run_dir / "resources").exists()  # pufferlib's import-time symlink stays out of the run folder


def test_the_policy_width_reaches_the_network(tmp_path: Path) -> None:
    run_dir = make_run(
        tmp_path,
        "narrow",
        {"policy.hidden_size": 32, "train.total_timesteps": 100_000, "autopilot.evaluation.episodes": 16},
    )
    result = drive(run_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((run_dir / "trainer_summary.json").read_text())
    weights = torch.load(run_dir / summary["checkpoint"], map_location="cpu", weights_only=True)
    widths = {tuple(t.shape) for t in weights.values() if t.ndim == 2}
    assert any(32 in shape for shape in widths) and not any(128 in shape for shape in widths)  # not the default


def test_a_pufferlib_c_env_trains_through_the_driver(tmp_path: Path) -> None:
    run_dir = make_run(
        tmp_path,
        "cartpole",
        {
            "train.total_timesteps": 200_000,
            "autopilot.evaluation.episodes": 32,
            "autopilot.metrics": {"mean_reward": "environment/score"},
        },
        trainer="puffer",
        env="puffer_cartpole",
    )
    result = drive(run_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((run_dir / "trainer_summary.json").read_text())
    assert summary["env"] == "puffer_cartpole" and summary["steps"] >= 200_000
    episodes = read_lines(run_dir / "eval_episodes.jsonl")
    assert len(episodes) == 32 and all(e["length"] >= 1 for e in episodes)
    lines = read_lines(run_dir / "metrics.jsonl")
    assert any(line["metrics"].get("mean_reward") is not None for line in lines)
    # every line says how far the trial is (progress shows step / total even between the env's logs)
    assert all(line["total"] == 200_000 and line["step"] > 0 for line in lines)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_training_with_a_checkpoint_and_a_clear_exit(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGINT too: pufferl's own handler would exit 0 (a kill that looks like success); the driver undoes it."""
    run_dir = make_run(tmp_path, "long", {"train.total_timesteps": 500_000_000})
    proc = subprocess.Popen(
        [sys.executable, "-m", "autopilot.trainers.puffer", "--run-dir", str(run_dir)],
        cwd=run_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metrics.exists(), "no metrics line within 120 s"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stderr[-1000:]
    assert stderr.strip().splitlines()[-1].startswith(f"killed: stopped by {sig.name} after ")
    assert list((run_dir / "checkpoints").glob("model_*.pt"))
    assert not (run_dir / "trainer_summary.json").exists()  # never a summary for a run that did not finish


def test_warm_start_begins_better_than_a_fresh_policy(tmp_path: Path) -> None:
    teacher = make_run(tmp_path, "teacher", {"train.total_timesteps": 2_500_000, "autopilot.eval_episodes": 256})
    assert drive(teacher).returncode == 0
    checkpoint = teacher / json.loads((teacher / "trainer_summary.json").read_text())["checkpoint"]

    tiny = {"train.total_timesteps": 16_384, "train.learning_rate": 1e-6, "autopilot.eval_episodes": 256}
    warm = make_run(tmp_path, "warm", {**tiny, "train.load_model_path": str(checkpoint)})
    fresh = make_run(tmp_path, "fresh", tiny)
    assert drive(warm).returncode == 0 and drive(fresh).returncode == 0
    warm_reward = json.loads((warm / "trainer_summary.json").read_text())["metrics"]["mean_reward"]
    fresh_reward = json.loads((fresh / "trainer_summary.json").read_text())["metrics"]["mean_reward"]
    assert warm_reward > fresh_reward + 1.0, (warm_reward, fresh_reward)


def test_nan_in_the_loss_fails_as_nan_loss(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "nan", {"train.total_timesteps": 200_000, "env.reward_approach": math.nan})
    result = drive(run_dir)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1].startswith("nan_loss: non-finite")
    assert not (run_dir / "trainer_summary.json").exists()


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"env.gravity": 9.8}, "gravity"),
        (
            {"train.batch_size": 1000, "train.minibatch_size": 1000, "train.max_minibatch_size": 1000},
            "segments",
        ),
        ({"base.env_name": "puffer_no_such_env"}, "base.env_name"),
    ],
)
def test_a_bad_config_fails_as_invalid_config(tmp_path: Path, override: dict[str, Any], fragment: str) -> None:
    run_dir = make_run(tmp_path, "bad", override)
    result = drive(run_dir, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("invalid_config: ") and fragment in last
