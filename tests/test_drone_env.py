"""The built-in drone delivery task: scripted scenarios with hand-counted answers, invariants, solvability."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopilot.envs.drone_delivery import OBS_SIZE, DroneDelivery, scripted_actions

RATES = ("success_rate", "hover_rate", "grip_rate", "carry_rate", "collision_rate", "oob_rate", "timeout_rate")
OUTCOME_RATES = ("success_rate", "collision_rate", "oob_rate", "timeout_rate")


def hold_still(env: DroneDelivery, grip: float = -1.0) -> np.ndarray:
    actions = np.zeros((env.num_agents, 4), np.float32)
    actions[:, 3] = grip
    return actions


def test_scripted_scenario_counts_every_outcome_once() -> None:
    """Four drones, four stories, counted by hand: one delivery, one out of bounds, two in one collision."""
    env = DroneDelivery(num_envs=1, num_drones=4, single_episode=True, record_episodes=True, log_interval=2, seed=0)
    env.reset(seed=0)
    # Drone 0 hangs low and still over its box, and its drop zone is right there.
    env.pos[0] = [0.0, 0.0, 0.2]
    env.box[0] = [0.0, 0.0, 0.0]
    env.drop[0] = [0.0, 0.0, 0.0]
    # Drone 1 sits at the arena's edge, about to fly out.
    env.pos[1] = [4.98, -3.0, 2.0]
    # Drones 2 and 3 are 0.1 m apart.
    env.pos[2] = [-3.0, 3.0, 2.0]
    env.pos[3] = [-3.0, 3.1, 2.0]
    for i in (1, 2, 3):
        env.box[i] = [-4.0, -4.0, 0.0]
    env.vel[:] = 0.0
    env._pairwise()

    actions = hold_still(env, grip=1.0)
    actions[1, 0] = 1.0  # full speed toward +x: out of the arena
    _, _, terminals, truncations, infos = env.step(actions)
    assert terminals.tolist() == [False, True, True, True] and not truncations.any()
    assert env.holding[0]  # the closing gripper caught the box
    assert infos == []

    _, rewards, terminals, _, infos = env.step(hold_still(env, grip=-1.0))  # open: release inside the zone
    assert terminals[0] and rewards[0] > 0
    [info] = infos
    assert info["episodes"] == 4
    assert info["success_rate"] == 0.25
    assert info["oob_rate"] == 0.25
    assert info["collision_rate"] == 0.5
    assert info["grip_rate"] == 0.25
    assert info["timeout_rate"] == 0.0 and info["carry_rate"] == 0.0
    outcomes = sorted((e["agent"], e["delivered"], e["oob"], e["collision"]) for e in env.episodes)
    assert outcomes == [
        (0, True, False, False),
        (1, False, True, False),
        (2, False, False, True),
        (3, False, False, True),
    ]
    assert not env.active.any()


def test_hover_grip_carry_funnel_in_one_episode() -> None:
    env = DroneDelivery(num_envs=1, num_drones=1, single_episode=True, record_episodes=True, log_interval=1, seed=1)
    env.reset(seed=1)
    env.pos[0] = [0.0, 0.0, 1.0]
    env.box[0] = [0.0, 0.0, 0.0]
    env.drop[0] = [3.0, 3.0, 0.0]
    env.vel[:] = 0.0
    env.step(hold_still(env))  # hovering above the box
    assert env.flags["hover"][0] and not env.flags["grip"][0]
    down = hold_still(env)
    down[0, 2] = -0.2
    for _ in range(40):
        env.step(down)
    assert env.pos[0, 2] < 0.5
    env.step(hold_still(env, grip=1.0))
    assert env.flags["grip"][0] and env.holding[0]
    up = hold_still(env, grip=1.0)
    up[0, 2] = 1.0
    for _ in range(20):
        env.step(up)
    assert env.flags["carry"][0] and env.holding[0]
    assert np.allclose(env.box[0, :2], env.pos[0, :2])  # the box travels with the drone


def test_release_outside_the_drop_zone_drops_the_box_there() -> None:
    env = DroneDelivery(num_envs=1, num_drones=1, seed=2)
    env.reset(seed=2)
    env.pos[0] = [1.0, 1.0, 0.2]
    env.box[0] = [1.0, 1.0, 0.0]
    env.drop[0] = [-3.0, -3.0, 0.0]
    env.vel[:] = 0.0
    env.step(hold_still(env, grip=1.0))
    assert env.holding[0]
    _, _, terminals, _, _ = env.step(hold_still(env, grip=-1.0))
    assert not env.holding[0] and not terminals[0]
    assert env.box[0, 2] == 0.0 and np.allclose(env.box[0, :2], env.pos[0, :2])


def test_timeout_is_a_truncation_and_counted() -> None:
    env = DroneDelivery(num_envs=2, num_drones=2, max_steps=3, log_interval=3, seed=3)
    env.reset(seed=3)
    env.pos[:, 2] = 2.0
    env.pos[:, 0] = [-3.0, -1.0, 1.0, 3.0]  # far apart
    for _ in range(2):
        _, _, terminals, truncations, infos = env.step(hold_still(env))
        assert not truncations.any()
    _, _, terminals, truncations, infos = env.step(hold_still(env))
    assert truncations.all() and not terminals.any()
    assert infos[0]["timeout_rate"] == 1.0 and infos[0]["episodes"] == 4


@settings(max_examples=25, deadline=None)
@given(
    num_envs=st.integers(1, 6), num_drones=st.integers(1, 24), seed=st.integers(0, 2**16), max_steps=st.integers(5, 60)
)
def test_rates_are_fractions_of_episodes_for_any_size(
    num_envs: int, num_drones: int, seed: int, max_steps: int
) -> None:
    env = DroneDelivery(num_envs=num_envs, num_drones=num_drones, max_steps=max_steps, log_interval=7, seed=seed)
    obs, _ = env.reset(seed=seed)
    assert obs.shape == (num_envs * num_drones, OBS_SIZE)
    rng = np.random.default_rng(seed)
    logged = 0
    for _ in range(140):
        obs, rewards, terminals, truncations, infos = env.step(rng.uniform(-1, 1, (env.num_agents, 4)))
        assert np.isfinite(obs).all() and np.isfinite(rewards).all()
        assert not (terminals & truncations).any()
        for info in infos:
            logged += 1
            assert info["episodes"] >= 1
            for name in RATES:
                assert 0.0 <= info[name] <= 1.0, (name, info)
            # Every finished episode has exactly one outcome.
            assert sum(info[name] for name in OUTCOME_RATES) == pytest.approx(1.0)
            assert 1 <= info["episode_length"] <= max_steps
    assert logged > 0


def test_same_seed_same_trajectory_and_other_seed_differs() -> None:
    def trajectory(seed: int) -> np.ndarray:
        env = DroneDelivery(num_envs=4, num_drones=4, wind=0.5, obs_noise=0.01, seed=seed)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(0)
        out = [obs.copy()]
        for _ in range(50):
            obs, *_ = env.step(rng.uniform(-1, 1, (env.num_agents, 4)))
            out.append(obs.copy())
        return np.stack(out)

    assert np.array_equal(trajectory(7), trajectory(7))
    assert not np.array_equal(trajectory(7), trajectory(8))


@pytest.mark.parametrize("num_drones", [1, 8])
def test_a_scripted_controller_delivers_in_at_least_90_percent(num_drones: int) -> None:
    env = DroneDelivery(
        num_envs=512 // num_drones, num_drones=num_drones, single_episode=True, record_episodes=True, seed=11
    )
    obs, _ = env.reset(seed=11)
    while env.active.any():
        obs, *_ = env.step(scripted_actions(obs, env.cfg))
    assert len(env.episodes) == 512
    success = np.mean([e["delivered"] for e in env.episodes])
    assert success >= 0.9, success


def test_carrying_changes_the_dynamics() -> None:
    def climb(holding: bool) -> float:
        env = DroneDelivery(num_envs=1, num_drones=1, box_mass=1.0, seed=0)
        env.reset(seed=0)
        env.pos[0] = [0.0, 0.0, 1.0]
        env.vel[:] = 0.0
        env.holding[0] = holding
        up = hold_still(env, grip=1.0)
        up[0, 2] = 1.0
        for _ in range(5):
            env.step(up)
        return float(env.pos[0, 2])

    assert climb(holding=True) < climb(holding=False) - 0.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_drones": 0}, "env.num_drones"),
        ({"num_drones": 300}, "env.num_drones"),
        ({"num_envs": 0}, "env.num_envs"),
        ({"gravity": 9.8}, "gravity"),
    ],
)
def test_bad_env_config_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        DroneDelivery(**kwargs)
