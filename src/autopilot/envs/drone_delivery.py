"""Drone delivery: fly to your box, hover above it, descend, grip, lift, carry it to the drop zone, release.

A numpy-vectorised ``pufferlib.PufferEnv``. One instance holds ``num_envs`` independent arenas with
``num_drones`` drones each; drones of one arena share its airspace and can collide. Every drone is its own
agent and its own episode: when its episode ends it alone is reset (or, with ``single_episode``, it stops
and leaves the airspace, which evaluation uses so every drone contributes exactly one episode).

Actions (Box, 4 floats in [-1, 1]): velocity command (x, y, z) as a fraction of ``max_speed``, and grip
(> 0 closes the gripper; opening it releases a held box). Velocity follows the command with a lag that grows
with the carried box's mass, and a carried box pulls the drone down.

Observation (``OBS_SIZE`` floats): own position and velocity, vectors to the box and to the drop zone,
gripper and holding flags, the vector to the nearest other drone and its closeness, the time left.

Episode ends: ``delivered`` (box released gently inside the drop zone), ``collision`` (drones too close,
or a hard ground impact), ``oob`` (left the arena), ``timeout`` (``max_steps``; a truncation).

Metrics (docs/architecture.md), each the fraction of finished episodes in which the event happened, so always in
[0, 1] whatever the number of drones and arenas: ``success_rate`` (delivered), ``hover_rate``,
``grip_rate``, ``carry_rate``, ``collision_rate``, ``oob_rate``, ``timeout_rate``; plus ``mean_reward``
(mean episode return) and ``episode_length``. They are logged through PufferLib's info list every
``log_interval`` steps, together with ``episodes`` (how many episodes the averages cover).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
import pufferlib

OBS_SIZE = 20
HEIGHT = 4.0  # ceiling of the arena (m)
DT = 0.1  # seconds per step
OUTCOMES = ("delivered", "collision", "oob", "timeout")
EVENTS = ("hover", "grip", "carry")
RATE_NAMES = {
    "delivered": "success_rate",
    "hover": "hover_rate",
    "grip": "grip_rate",
    "carry": "carry_rate",
    "collision": "collision_rate",
    "oob": "oob_rate",
    "timeout": "timeout_rate",
}


@dataclass(frozen=True)
class DroneDeliveryConfig:
    """Env config keys (``env.*`` in a trainer config) with their defaults."""

    num_envs: int = 128
    """Arenas in this instance."""
    num_drones: int = 8
    """Drones per arena (1..256); they share its airspace and can collide."""
    max_steps: int = 300
    """Step limit of one episode (then ``timeout``)."""
    arena_size: float = 10.0
    """Side of the square arena (m); leaving it, or flying above 4 m, ends the episode as ``oob``."""
    box_mass: float = 0.5
    """Carried mass: slows the velocity response and pulls the drone down while held."""
    grip_tolerance: float = 0.35
    """Horizontal distance (m) from the box within which a closing gripper catches it."""
    wind: float = 0.0
    """Largest steady wind (m/s) drawn per episode, plus gusts of a quarter of it."""
    obs_noise: float = 0.0
    """Standard deviation of Gaussian noise added to observations."""
    max_speed: float = 2.0
    """Speed (m/s) of a full velocity command."""
    collision_radius: float = 0.3
    """Two drones closer than this collide; both episodes end."""
    drop_radius: float = 0.75
    """Horizontal radius (m) of the drop zone."""
    reward_approach: float = 0.25
    """Weight of the shaping reward: progress (m) along the remaining path (to the box, then the drop zone)."""
    reward_grip: float = 0.5
    """Bonus for the first grip of an episode."""
    reward_carry: float = 0.25
    """Bonus for the first lift of the box above 1 m."""
    reward_deliver: float = 1.0
    """Bonus for a delivery (PufferLib clips each step's reward to [-1, 1])."""
    penalty_collision: float = 1.0
    """Penalty for a collision or a hard ground impact."""
    penalty_oob: float = 1.0
    """Penalty for leaving the arena."""
    log_interval: int = 128
    """Steps between info logs."""


class DroneDelivery(pufferlib.PufferEnv):
    """The built-in task; see the module docstring."""

    def __init__(
        self,
        num_envs: int = 128,
        num_drones: int = 8,
        *,
        single_episode: bool = False,
        record_episodes: bool = False,
        buf: Any = None,
        seed: int | None = 0,
        **kwargs: Any,
    ) -> None:
        self.cfg = DroneDeliveryConfig(num_envs=num_envs, num_drones=num_drones, **kwargs)
        if not 1 <= num_drones <= 256:
            raise ValueError(f"env.num_drones: must be in [1, 256], got {num_drones}")
        if num_envs < 1:
            raise ValueError(f"env.num_envs: must be >= 1, got {num_envs}")
        self.num_agents = num_envs * num_drones
        self.single_observation_space = gymnasium.spaces.Box(
            low=-np.inf, high=np.inf, shape=(OBS_SIZE,), dtype=np.float32
        )
        self.single_action_space = gymnasium.spaces.Box(low=-1.0, high=1.0, shape=(4,), dtype=np.float32)
        self.single_episode = single_episode
        self.record_episodes = record_episodes
        self.episodes: list[dict[str, Any]] = []  # filled when record_episodes
        super().__init__(buf)
        n = self.num_agents
        self.rng = np.random.default_rng(seed)
        self.pos = np.zeros((n, 3), np.float32)
        self.vel = np.zeros((n, 3), np.float32)
        self.box = np.zeros((n, 3), np.float32)
        self.drop = np.zeros((n, 3), np.float32)
        self.wind_vec = np.zeros((n, 3), np.float32)
        self.holding = np.zeros(n, bool)
        self.gripper = np.zeros(n, bool)
        self.active = np.ones(n, bool)
        self.steps = np.zeros(n, np.int32)
        self.ret = np.zeros(n, np.float32)
        self.dist = np.zeros(n, np.float32)
        self.flags = {name: np.zeros(n, bool) for name in EVENTS}
        self.tick = 0
        self._diag_inf: np.ndarray | None = None
        self._row_start: np.ndarray | None = None
        half = self.cfg.arena_size / 2
        self._pos_scale = np.array([1 / half, 1 / half, 1 / HEIGHT], np.float32)
        self.near_dist2: np.ndarray = np.full(n, np.inf, np.float32)
        self.near_offset: np.ndarray = np.zeros((n, 3), np.float32)
        self._log_sums = dict.fromkeys((*OUTCOMES, *EVENTS, "return", "length"), 0.0)
        self._log_count = 0

    # ------------------------------------------------------------------ API

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.active[:] = True
        self.tick = 0
        self.episodes = []
        self._reset_drones(np.arange(self.num_agents))
        self._pairwise()
        self._observe()
        return self.observations, []

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        cfg = self.cfg
        act = np.clip(np.asarray(actions, np.float32).reshape(self.num_agents, 4), -1.0, 1.0)
        active = self.active
        self.terminals[:] = False
        self.truncations[:] = False

        # Dynamics: first-order velocity response, slower and sagging while holding a box.
        response = np.where(self.holding, np.float32(0.5 / (1.0 + cfg.box_mass)), np.float32(0.5))
        self.vel += (act[:, :3] * np.float32(cfg.max_speed) - self.vel) * response[:, None]
        self.vel[:, 2] -= np.where(self.holding, np.float32(0.4 * cfg.box_mass), np.float32(0.0))
        if cfg.wind > 0:
            move = self.vel + self.wind_vec
            move += self.rng.normal(0.0, 0.25 * cfg.wind, size=move.shape).astype(np.float32)
        else:
            move = self.vel
        all_active = self.single_episode is False or bool(active.all())
        self.pos += move * np.float32(DT) if all_active else move * np.float32(DT) * active[:, None]
        ground_hit = self.pos[:, 2] < 0.0
        hard_landing = ground_hit & (self.vel[:, 2] < -1.0)
        np.maximum(self.pos[:, 2], 0.0, out=self.pos[:, 2])
        self.vel[:, 2] = np.where(ground_hit, np.maximum(self.vel[:, 2], 0.0), self.vel[:, 2])
        self.steps += active
        rel_box = self.box[:, :2] - self.pos[:, :2]
        horiz_box = np.sqrt(_sq_norm(rel_box))
        speed = np.sqrt(_sq_norm(self.vel))
        z = self.pos[:, 2]

        # Events. Hover: slow, above the box. Grip: closing near the box, low and slow.
        self.flags["hover"] |= active & ~self.holding & (horiz_box < 0.5) & (z > 0.3) & (z < 1.5) & (speed < 0.6)
        close = act[:, 3] > 0.0
        can_grip = active & close & ~self.holding & (horiz_box < cfg.grip_tolerance) & (z < 0.5) & (speed < 1.0)
        first_grip = can_grip & ~self.flags["grip"]
        self.holding |= can_grip
        self.flags["grip"] |= can_grip
        lifted = active & self.holding & (z > 1.0) & ~self.flags["carry"]
        self.flags["carry"] |= lifted

        # Release: inside the drop zone, low and slow, delivers; anywhere else the box falls to the ground.
        releasing = active & self.holding & ~close & ~can_grip
        horiz_drop = np.sqrt(_sq_norm(self.drop[:, :2] - self.pos[:, :2]))
        delivered = releasing & (horiz_drop < cfg.drop_radius) & (z < 0.8) & (speed < 1.0)
        dropped = releasing & ~delivered
        self.holding &= ~releasing
        self.gripper = close
        moved = self.holding | dropped
        np.copyto(self.box, self.pos, where=moved[:, None])  # a held box travels; a dropped one falls
        self.box[:, 2] = 0.0

        # Shaping: progress along the remaining path (rewarded below with the events).
        new_dist = self._remaining_distance()

        # Failures.
        half = cfg.arena_size / 2
        oob = active & ((np.abs(self.pos[:, 0]) > half) | (np.abs(self.pos[:, 1]) > half) | (z > HEIGHT))
        self._pairwise()
        collided = active & (hard_landing | (self.near_dist2 < cfg.collision_radius**2))
        collided &= ~delivered
        oob &= ~delivered & ~collided
        f32 = np.float32
        reward = (self.dist - new_dist) * f32(cfg.reward_approach)
        reward += np.where(first_grip, f32(cfg.reward_grip), f32(0.0))
        reward += np.where(lifted, f32(cfg.reward_carry), f32(0.0))
        reward += np.where(delivered, f32(cfg.reward_deliver), f32(0.0))
        reward -= np.where(collided, f32(cfg.penalty_collision), f32(0.0))
        reward -= np.where(oob, f32(cfg.penalty_oob), f32(0.0))
        np.multiply(reward, active, out=self.rewards)
        self.dist = new_dist
        timeout = active & ~delivered & ~collided & ~oob & (self.steps >= cfg.max_steps)
        self.ret += self.rewards

        done = delivered | collided | oob | timeout
        self.terminals[:] = delivered | collided | oob
        self.truncations[:] = timeout
        infos: list[dict[str, Any]] = []
        if done.any():
            self._finish(np.flatnonzero(done), delivered, collided, oob, timeout)
        self.tick += 1
        if self.tick % self.cfg.log_interval == 0 and self._log_count > 0:
            infos.append(self._flush_log())
        self._observe()
        return self.observations, self.rewards, self.terminals, self.truncations, infos

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ internals

    def _reset_drones(self, idx: np.ndarray) -> None:
        cfg, k = self.cfg, len(idx)
        half = cfg.arena_size / 2 - 0.5
        # One draw for everything a reset needs: start, box, drop direction and distance, wind.
        u = self.rng.random((k, 9))
        self.pos[idx, :2] = (u[:, 0:2] * 2 - 1) * half
        self.pos[idx, 2] = 1.0 + 2.0 * u[:, 2]
        self.vel[idx] = 0.0
        self.box[idx, :2] = (u[:, 3:5] * 2 - 1) * half
        self.box[idx, 2] = 0.0
        # The drop zone is at least a quarter of the arena away from the box.
        angle = 2 * np.pi * u[:, 5]
        radius = cfg.arena_size / 4 * (1.0 + u[:, 6])
        drop = self.box[idx, :2] + np.stack([np.cos(angle), np.sin(angle)], 1) * radius[:, None]
        self.drop[idx, :2] = np.clip(drop, -half, half)
        self.drop[idx, 2] = 0.0
        heading, strength = 2 * np.pi * u[:, 7], cfg.wind * u[:, 8]
        self.wind_vec[idx, 0] = np.cos(heading) * strength
        self.wind_vec[idx, 1] = np.sin(heading) * strength
        self.holding[idx] = False
        self.gripper[idx] = False
        self.steps[idx] = 0
        self.ret[idx] = 0.0
        for flag in self.flags.values():
            flag[idx] = False
        self.dist[idx] = self._remaining_distance(idx)

    def _remaining_distance(self, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Path length still to fly: to the box then on to the drop zone, or, holding, to the drop zone.

        The shaping reward is the decrease of this one potential, so gripping, dropping and re-gripping a box
        earn nothing by themselves; only real progress pays.
        """
        pos, box, drop = self.pos[idx], self.box[idx], self.drop[idx]
        to_drop = drop - pos
        to_drop[:, 2] += 0.5  # carry toward a point just above the drop zone
        holding_left = np.sqrt(_sq_norm(to_drop))
        to_box = box - pos
        to_box[:, 2] += 0.3  # the grip point just above the box
        box_to_drop = _sq_norm(drop[:, :2] - box[:, :2])
        free_left = np.sqrt(_sq_norm(to_box)) + np.sqrt(box_to_drop + 0.04)
        return np.where(self.holding[idx], holding_left, free_left)

    def _pairwise(self) -> None:
        """Per arena: squared distances (E, D, D) to the other active drones (+inf for self and inactive ones)
        and the offset vector to the nearest one. Computed once per step after the drones move; a drone reset
        in this step sees its neighbours from the next step on.
        """
        cfg = self.cfg
        e, d = cfg.num_envs, cfg.num_drones
        if d == 1:
            self.near_dist2 = np.full(self.num_agents, np.inf, np.float32)
            self.near_offset = np.zeros((self.num_agents, 3), np.float32)
            return
        p = self.pos.reshape(e, d, 3)
        x, y, zz = p[:, :, 0], p[:, :, 1], p[:, :, 2]
        dx = x[:, None, :] - x[:, :, None]
        dy = y[:, None, :] - y[:, :, None]
        dz = zz[:, None, :] - zz[:, :, None]
        dist2 = dx * dx + dy * dy + dz * dz
        dist2 += self._pair_mask_add(e, d)
        # Gather each drone's nearest neighbour through flat indices (cheaper than take_along_axis).
        flat = dist2.argmin(-1).reshape(-1) + self._row_base(e, d)
        self.near_dist2 = dist2.reshape(-1)[flat]
        self.near_offset = np.stack([dx.reshape(-1)[flat], dy.reshape(-1)[flat], dz.reshape(-1)[flat]], 1)
        if not self.active.all():
            self.near_offset[~np.isfinite(self.near_dist2)] = 0.0

    def _row_base(self, e: int, d: int) -> np.ndarray:
        if self._row_start is None:
            self._row_start = np.arange(e * d) * d
        return self._row_start

    def _pair_mask_add(self, e: int, d: int) -> np.ndarray:
        """+inf on the diagonal and toward inactive drones, 0 elsewhere (cached while no drone is inactive)."""
        if self.active.all():
            if self._diag_inf is None:
                self._diag_inf = np.where(np.eye(d, dtype=bool), np.inf, 0.0).astype(np.float32)[None]
            return self._diag_inf
        inactive = ~self.active.reshape(e, d)
        mask = np.where(inactive[:, None, :], np.inf, 0.0).astype(np.float32)
        return mask + np.where(np.eye(d, dtype=bool), np.inf, 0.0).astype(np.float32)[None]

    def _finish(
        self, idx: np.ndarray, delivered: np.ndarray, collided: np.ndarray, oob: np.ndarray, timeout: np.ndarray
    ) -> None:
        masks = {"delivered": delivered, "collision": collided, "oob": oob, "timeout": timeout}
        sums = self._log_sums
        for name, mask in masks.items():  # each mask is already limited to the drones finishing now
            sums[name] += np.count_nonzero(mask)
        for name in EVENTS:
            sums[name] += np.count_nonzero(self.flags[name][idx])
        sums["return"] += float(self.ret[idx].sum())
        sums["length"] += float(self.steps[idx].sum())
        self._log_count += len(idx)
        if self.record_episodes:
            outcome = {name: mask[idx] for name, mask in masks.items()}
            for j, i in enumerate(idx):
                record: dict[str, Any] = {name: bool(flags[j]) for name, flags in outcome.items()}
                record.update({name: bool(self.flags[name][i]) for name in EVENTS})
                record.update({"agent": int(i), "return": float(self.ret[i]), "length": int(self.steps[i])})
                self.episodes.append(record)
        if self.single_episode:
            self.active[idx] = False
            self.pos[idx] = np.float32(1e6) * (1 + idx[:, None])  # far away: no collisions with the rest
            self.vel[idx] = 0.0
        else:
            self._reset_drones(idx)

    def _flush_log(self) -> dict[str, float]:
        n, sums = self._log_count, self._log_sums
        info = {RATE_NAMES[name]: sums[name] / n for name in (*OUTCOMES, *EVENTS)}
        info["mean_reward"] = sums["return"] / n
        info["episode_length"] = sums["length"] / n
        info["episodes"] = float(n)
        for key in sums:
            sums[key] = 0.0
        self._log_count = 0
        return info

    def _observe(self) -> None:
        cfg, obs = self.cfg, self.observations
        inv_half = np.float32(2.0 / cfg.arena_size)
        obs[:, 0:3] = self.pos * self._pos_scale
        obs[:, 3:6] = self.vel * np.float32(1.0 / cfg.max_speed)
        np.subtract(self.box, self.pos, out=obs[:, 6:9])
        np.subtract(self.drop, self.pos, out=obs[:, 9:12])
        obs[:, 6:12] *= inv_half
        obs[:, 12] = self.gripper
        obs[:, 13] = self.holding
        np.multiply(self.near_offset, inv_half, out=obs[:, 14:17])  # zero when nobody is near
        obs[:, 17] = np.exp(-np.sqrt(self.near_dist2))  # exp(-inf) = 0: nobody near
        obs[:, 18] = 1.0 - self.steps * np.float32(1.0 / cfg.max_steps)
        obs[:, 19] = 1.0
        if cfg.obs_noise > 0:
            obs += self.rng.normal(0.0, cfg.obs_noise, size=obs.shape).astype(np.float32)
        if not self.single_episode or self.active.all():
            return
        obs[~self.active] = 0.0


def _sq_norm(v: np.ndarray) -> np.ndarray:
    """Row-wise squared length; einsum avoids a slow reduction over a short last axis."""
    return np.einsum("ij,ij->i", v, v)


def env_creator(name: str = "drone_delivery") -> type[DroneDelivery]:
    """PufferLib-style creator lookup for the driver."""
    if name != "drone_delivery":
        raise ValueError(f"unknown built-in env {name!r}; the built-in env is 'drone_delivery'")
    return DroneDelivery


def scripted_actions(obs: np.ndarray, cfg: DroneDeliveryConfig) -> np.ndarray:
    """A hand-written controller that reads only the observation: proof that the task is solvable."""
    half = cfg.arena_size / 2
    holding = obs[:, 13] > 0.5
    z = obs[:, 2] * HEIGHT
    vel = obs[:, 3:6] * cfg.max_speed
    speed = np.sqrt((vel**2).sum(1))
    target = np.where(holding[:, None], obs[:, 9:12], obs[:, 6:9]) * half  # vector to box or drop zone
    horiz = np.sqrt(target[:, 0] ** 2 + target[:, 1] ** 2)
    above = horiz < np.where(holding, cfg.drop_radius * 0.4, cfg.grip_tolerance * 0.5)
    cruise_z = np.where(holding, 1.6, 1.2)
    want_z = np.where(above, 0.2, cruise_z)
    cmd = np.zeros((len(obs), 4), np.float32)
    cmd[:, :2] = np.clip(target[:, :2] * 0.8, -1.5, 1.5) * np.where(np.abs(z - cruise_z) < 0.6, 1.0, 0.2)[:, None]
    cmd[:, 2] = np.clip((want_z - z) * 1.5, -0.8, 1.0) + 0.4 * cfg.box_mass * holding * 2
    near = obs[:, 17]  # exp(-distance) to the nearest drone: steer away from it inside 0.7 m
    away = -obs[:, 14:17] * half
    norm = np.sqrt((away**2).sum(1, keepdims=True)) + 1e-6
    cmd[:, :3] += np.where((near > np.exp(-0.7))[:, None], away / norm * 3.0, 0.0)
    cmd[:, :3] /= cfg.max_speed
    low_and_slow = (z < 0.45) & (speed < 0.8)
    release = holding & above & (z < 0.6) & (speed < 0.8)
    grip = np.where(holding, ~release, above & low_and_slow)
    cmd[:, 3] = np.where(grip, 1.0, -1.0)
    return np.clip(cmd, -1.0, 1.0)
