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

Metrics (DESIGN.md §7), each the fraction of finished episodes in which the event happened, so always in
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
        self.rewards[:] = 0.0
        self.terminals[:] = False
        self.truncations[:] = False

        # Dynamics: first-order velocity response, slower and sagging while holding a box.
        mass = 1.0 + cfg.box_mass * self.holding
        response = (0.5 / mass)[:, None]
        target_vel = act[:, :3] * cfg.max_speed
        self.vel += (target_vel - self.vel) * response
        self.vel[:, 2] -= 0.4 * cfg.box_mass * self.holding
        move = self.vel + self.wind_vec
        if cfg.wind > 0:
            move = move + self.rng.normal(0.0, 0.25 * cfg.wind, size=move.shape).astype(np.float32)
        self.pos += move * DT * active[:, None]
        ground_hit = self.pos[:, 2] < 0.0
        hard_landing = ground_hit & (self.vel[:, 2] < -1.0)
        self.pos[ground_hit, 2] = 0.0
        self.vel[ground_hit, 2] = np.maximum(self.vel[ground_hit, 2], 0.0)
        self.steps += active
        rel_box = self.box - self.pos
        horiz_box = np.sqrt(rel_box[:, 0] ** 2 + rel_box[:, 1] ** 2)
        speed = np.sqrt((self.vel**2).sum(1))
        z = self.pos[:, 2]

        # Events. Hover: slow, above the box. Grip: closing near the box, low and slow.
        self.flags["hover"] |= active & ~self.holding & (horiz_box < 0.5) & (z > 0.3) & (z < 1.5) & (speed < 0.6)
        close = act[:, 3] > 0.0
        can_grip = active & close & ~self.holding & (horiz_box < cfg.grip_tolerance) & (z < 0.5) & (speed < 1.0)
        first_grip = can_grip & ~self.flags["grip"]
        self.holding |= can_grip
        self.flags["grip"] |= can_grip
        self.rewards += cfg.reward_grip * first_grip
        lifted = active & self.holding & (z > 1.0) & ~self.flags["carry"]
        self.flags["carry"] |= lifted
        self.rewards += cfg.reward_carry * lifted

        # Release: inside the drop zone, low and slow, delivers; anywhere else the box falls to the ground.
        releasing = active & self.holding & ~close & ~can_grip
        rel_drop = self.drop - self.pos
        horiz_drop = np.sqrt(rel_drop[:, 0] ** 2 + rel_drop[:, 1] ** 2)
        delivered = releasing & (horiz_drop < cfg.drop_radius) & (z < 0.8) & (speed < 1.0)
        dropped = releasing & ~delivered
        self.holding &= ~releasing
        self.gripper = close
        self.box[self.holding] = self.pos[self.holding]
        self.box[dropped, :2] = self.pos[dropped, :2]
        self.box[self.holding | dropped, 2] = 0.0
        self.rewards += cfg.reward_deliver * delivered

        # Shaping: progress toward the current target (the box, or the drop zone while holding).
        new_dist = self._remaining_distance()
        self.rewards += cfg.reward_approach * (self.dist - new_dist) * active
        self.dist = new_dist

        # Failures.
        half = cfg.arena_size / 2
        oob = active & ((np.abs(self.pos[:, :2]) > half).any(1) | (z > HEIGHT))
        self._pairwise()
        collided = active & (hard_landing | (self.near_dist2 < cfg.collision_radius**2))
        collided &= ~delivered
        oob &= ~delivered & ~collided
        self.rewards -= cfg.penalty_collision * collided + cfg.penalty_oob * oob
        timeout = active & ~delivered & ~collided & ~oob & (self.steps >= cfg.max_steps)
        self.ret += self.rewards * active

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
        uniform = self.rng.uniform
        self.pos[idx, :2] = uniform(-half, half, (k, 2))
        self.pos[idx, 2] = uniform(1.0, 3.0, k)
        self.vel[idx] = 0.0
        self.box[idx, :2] = uniform(-half, half, (k, 2))
        self.box[idx, 2] = 0.0
        # The drop zone is at least a quarter of the arena away from the box.
        angle = uniform(0, 2 * np.pi, k)
        radius = uniform(cfg.arena_size / 4, cfg.arena_size / 2, k)
        drop = self.box[idx, :2] + np.stack([np.cos(angle), np.sin(angle)], 1) * radius[:, None]
        self.drop[idx, :2] = np.clip(drop, -half, half)
        self.drop[idx, 2] = 0.0
        heading = uniform(0, 2 * np.pi, k)
        strength = uniform(0, cfg.wind, k) if cfg.wind > 0 else np.zeros(k)
        self.wind_vec[idx, 0] = np.cos(heading) * strength
        self.wind_vec[idx, 1] = np.sin(heading) * strength
        self.holding[idx] = False
        self.gripper[idx] = False
        self.steps[idx] = 0
        self.ret[idx] = 0.0
        for flag in self.flags.values():
            flag[idx] = False
        self.dist[idx] = self._remaining_distance()[idx]

    def _remaining_distance(self) -> np.ndarray:
        """Path length still to fly: to the box then on to the drop zone, or, holding, to the drop zone.

        The shaping reward is the decrease of this one potential, so gripping, dropping and re-gripping a box
        earn nothing by themselves; only real progress pays.
        """
        to_drop = self.drop - self.pos
        to_drop[:, 2] += 0.5  # carry toward a point just above the drop zone
        holding_left = np.sqrt((to_drop**2).sum(1))
        to_box = self.box - self.pos
        to_box[:, 2] += 0.3  # the grip point just above the box
        box_to_drop = np.sqrt(((self.drop[:, :2] - self.box[:, :2]) ** 2).sum(1))
        free_left = np.sqrt((to_box**2).sum(1)) + np.sqrt(box_to_drop**2 + 0.04)
        return np.where(self.holding, holding_left, free_left)

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
        nearest = dist2.argmin(-1)[:, :, None]
        self.near_dist2 = np.take_along_axis(dist2, nearest, 2).reshape(-1)
        self.near_offset = np.stack([np.take_along_axis(c, nearest, 2).reshape(-1) for c in (dx, dy, dz)], 1)

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
        outcome = {"delivered": delivered[idx], "collision": collided[idx], "oob": oob[idx], "timeout": timeout[idx]}
        sums = self._log_sums
        for name, flags in outcome.items():
            sums[name] += float(flags.sum())
        for name in EVENTS:
            sums[name] += float(self.flags[name][idx].sum())
        sums["return"] += float(self.ret[idx].sum())
        sums["length"] += float(self.steps[idx].sum())
        self._log_count += len(idx)
        if self.record_episodes:
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
        half = cfg.arena_size / 2
        obs[:, 0:2] = self.pos[:, :2] / half
        obs[:, 2] = self.pos[:, 2] / HEIGHT
        obs[:, 3:6] = self.vel / cfg.max_speed
        obs[:, 6:9] = (self.box - self.pos) / half
        obs[:, 9:12] = (self.drop - self.pos) / half
        obs[:, 12] = self.gripper
        obs[:, 13] = self.holding
        seen = np.isfinite(self.near_dist2)
        obs[:, 14:17] = np.where(seen[:, None], self.near_offset / half, 0.0)
        obs[:, 17] = np.exp(-np.sqrt(self.near_dist2))  # exp(-inf) = 0: nobody near
        obs[:, 18] = 1.0 - self.steps / cfg.max_steps
        obs[:, 19] = 1.0
        if cfg.obs_noise > 0:
            obs += self.rng.normal(0.0, cfg.obs_noise, size=obs.shape).astype(np.float32)
        obs[~self.active] = 0.0


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
