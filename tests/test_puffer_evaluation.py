"""Held-out evaluation of any PufferLib env: unbiased episode choice, recurrent policies, real vector envs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pufferlib
import pufferlib.models
import pufferlib.vector
import pytest
import torch
from helpers import AUTOPILOT

from autopilot.trainers.puffer import evaluate
from autopilot.trainers.puffer.evaluate import evaluate_generic

pytestmark = [pytest.mark.puffer]


class Staggered(pufferlib.PufferEnv):
    """Agent i's episodes last i + 1 steps and earn 1 a step, so short episodes end first."""

    def __init__(self, num_agents: int = 4, buf: Any = None, seed: int = 0) -> None:
        self.single_observation_space = gymnasium.spaces.Box(0.0, 1.0, (3,), np.float32)
        self.single_action_space = gymnasium.spaces.Discrete(2)
        self.num_agents = num_agents
        super().__init__(buf)
        self.t = np.zeros(num_agents, dtype=np.int64)
        self.lengths = np.arange(1, num_agents + 1)

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, list[Any]]:
        self.t[:] = 0
        self.observations[:] = 0.0
        return self.observations, []

    def step(self, actions: np.ndarray) -> tuple[Any, ...]:
        self.t += 1
        self.rewards[:] = 1.0
        self.terminals[:] = self.t >= self.lengths
        self.t[self.terminals] = 0
        ended = self.lengths[self.terminals]
        # Logged as a PufferLib C env logs: the mean over the episodes that ended, with their count n.
        info = [{"ended_length": float(ended.mean()), "n": float(len(ended))}] if len(ended) else []
        return self.observations, self.rewards, self.terminals, self.truncations, info


def staggered_env() -> Any:
    return pufferlib.vector.make(Staggered, backend="Serial", num_envs=1)


def test_episodes_are_taken_by_agent_and_round_not_by_who_finishes_first() -> None:
    vecenv = staggered_env()
    policy = pufferlib.models.Default(vecenv.driver_env, hidden_size=8)
    held_out = evaluate_generic(policy, vecenv, episodes=6, seed=3)
    episodes = held_out.episodes
    # Agents 0-3 once, then agents 0-1 again: mean length 2.17; by finishing order it would be 1.5.
    assert [e["length"] for e in episodes] == [1, 2, 3, 4, 1, 2]
    assert [e["return"] for e in episodes] == [1.0, 2.0, 3.0, 4.0, 1.0, 2.0]
    assert [e["episode"] for e in episodes] == list(range(6)) and {e["seed"] for e in episodes} == {3}
    assert held_out.metrics()["episode_length"] == pytest.approx(13 / 6)


def test_the_envs_own_logs_are_kept_weighted_by_their_episode_counts() -> None:
    vecenv = staggered_env()
    policy = pufferlib.models.Default(vecenv.driver_env, hidden_size=8)
    held_out = evaluate_generic(policy, vecenv, episodes=6, seed=3)
    # Until every agent ended two episodes (step 8): 8 of length 1, 4 of 2, 2 of 3, 2 of 4 were logged.
    assert held_out.env_stats == {"environment/ended_length": pytest.approx(30 / 16)}
    metrics = held_out.metrics({"score": "environment/ended_length", "absent": "environment/nothing"})
    assert metrics["score"] == pytest.approx(30 / 16) and "absent" not in metrics


def test_a_recurrent_policy_is_evaluated_with_its_memory() -> None:
    vecenv = staggered_env()
    env = vecenv.driver_env
    policy = pufferlib.models.LSTMWrapper(env, pufferlib.models.Default(env, hidden_size=8), 8, 8)
    held_out = evaluate_generic(policy, vecenv, episodes=4, seed=0)
    assert [e["length"] for e in held_out.episodes] == [1, 2, 3, 4]


class Balancer(torch.nn.Module):
    """A hand-set linear controller that holds cartpole's pole up for the env's whole 200 steps."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # the evaluation reads the device from a parameter

    def forward_eval(self, obs: torch.Tensor, state: dict[str, Any]) -> tuple[torch.Tensor, None]:
        push = 0.1 * obs[:, 0] + 0.5 * obs[:, 1] + 10.0 * obs[:, 2] + 2.0 * obs[:, 3]
        return torch.stack([-50 * push, 50 * push], dim=1), None


def test_episodes_a_c_env_ends_without_a_flag_still_end_the_evaluation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cartpole resets at its 200-step limit with neither terminal nor truncation set: a policy that balances
    never shows an episode end. The evaluation ends on the env's own count instead of running to its step cap
    (where the loop's stall check killed the study's best trials), and says how far it got while it runs."""
    from pufferlib.ocean.cartpole.cartpole import Cartpole

    monkeypatch.setattr(evaluate, "HEARTBEAT_S", 0.0)
    vecenv = pufferlib.vector.make(Cartpole, backend="Serial", num_envs=1, env_kwargs={"num_envs": 4})
    held_out = evaluate_generic(Balancer(), vecenv, episodes=8, seed=0)
    assert 8 <= held_out.env_episodes <= 12  # two rounds of 4 agents; at the cap it would be about 2,000
    assert held_out.env_stats["environment/episode_length"] == pytest.approx(200.0)
    assert held_out.metrics({"episode_length": "environment/episode_length"})["episode_length"] == 200.0
    assert held_out.episodes == []  # none seen to end, and a tracked one could span several: none is made up
    assert "evaluating: " in capsys.readouterr().out


def test_a_c_env_that_logs_after_the_episodes_end_still_gives_its_own_score() -> None:
    """Squared logs its score every 128 steps and its episodes last about 30: the episodes asked for end before
    the first log. The evaluation steps on for the log, so an objective on the env's score (squared's sweep
    metric) is reported; the per-episode records are still the rounds asked for."""
    from pufferlib.ocean.squared.squared import Squared

    vecenv = pufferlib.vector.make(Squared, backend="Serial", num_envs=1, env_kwargs={"num_envs": 4})
    policy = pufferlib.models.Default(vecenv.driver_env, hidden_size=8)
    held_out = evaluate_generic(policy, vecenv, episodes=8, seed=0)
    assert len(held_out.episodes) == 8
    assert "environment/score" in held_out.env_stats and held_out.env_episodes >= 8
    assert held_out.metrics({"score": "environment/score"})["score"] == held_out.env_stats["environment/score"]


@pytest.mark.slow
def test_a_shipped_recurrent_multiprocess_config_trains_evaluates_and_exits(tmp_path: Path) -> None:
    """puffer_cartpole as its ini ships it (LSTM, muon, Multiprocessing workers), scaled down: the driver must
    evaluate the recurrent policy and exit; a worker left running once kept a finished trainer alive forever."""
    ws = tmp_path / "ws"
    init = [AUTOPILOT, "init", str(ws), "--trainer", "puffer", "--env", "puffer_cartpole"]
    subprocess.run(init, capture_output=True, text=True, check=True)
    config = json.loads((ws / "configs" / "baseline_quick.json").read_text())
    assert config["vec"]["backend"] == "Multiprocessing" and config["base"]["rnn_name"]
    config["env"]["num_envs"] = 64
    config["train"].update(total_timesteps=60_000, batch_size=2 * 64 * 64, minibatch_size=2 * 64 * 64)
    config["train"]["max_minibatch_size"] = 2 * 64 * 64
    config.setdefault("autopilot", {})["evaluation"] = {"episodes": 40, "metric": "episode_length"}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(config))
    done = subprocess.run(
        [str(Path(AUTOPILOT).with_name("python")), "-m", "autopilot.trainers.puffer", "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((run_dir / "trainer_summary.json").read_text())
    assert summary["eval"]["episodes"] == 40 and summary["metrics"]["episode_length"] >= 1
    assert len((run_dir / "eval_episodes.jsonl").read_text().splitlines()) == 40
