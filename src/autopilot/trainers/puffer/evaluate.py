"""Held-out evaluation of a policy: each episode on fresh seeds, with outcome flags for the built-in task."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.trainers.protocol import CONFIG_FILE
from autopilot.trainers.puffer.build import (
    BUILTIN_ENV,
    StopRequest,
    build_env_and_policy,
    close_vecenv,
    import_pufferl,
    make_vecenv,
    seed_everything,
)
from autopilot.workspace.atomic import atomic_write_text, read_json

LOG_GRACE_STEPS = 256  # two of a C env's shipped log intervals: the wait for its first log after the episodes
HEARTBEAT_S = 10.0  # a progress line this often while evaluating: the loop's stall check watches the log


@dataclass
class HeldOut:
    """A held-out evaluation: one record per episode, and the env's own logged stats over the evaluation
    (PufferLib envs report their metrics, ``environment/<name>``, as averages over the episodes each log covers)."""

    episodes: list[dict[str, Any]]
    env_stats: dict[str, float] = field(default_factory=dict)
    env_episodes: float = 0.0  # episodes the env's own logs counted as ended (their ``n``)

    def metrics(self, mapping: dict[str, str] | None = None) -> dict[str, float | None]:
        """Rates and means over the episodes, the env's stats, and ``mapping``'s names (autopilot name ->
        env key) for the stats it maps."""
        out: dict[str, float | None] = {**eval_metrics(self.episodes), **self.env_stats}
        for name, key in (mapping or {}).items():
            if key in self.env_stats:
                out[name] = self.env_stats[key]
        return out


def evaluate_policy(
    policy: Any, config: dict[str, Any], env_name: str, episodes: int, seed: int, env_settings: dict[str, Any]
) -> HeldOut:
    """``episodes`` held-out episodes on the evaluation env (``env_settings``, not the run's own when they
    differ), on an env of its own: one synchronous instance, so every step returns every agent (a training
    vecenv may batch asynchronously and hand back a different subset of agents each step)."""
    if env_name == BUILTIN_ENV:
        return HeldOut(evaluate_builtin(policy, env_settings, episodes, seed))
    eval_config = {**config, "env": env_settings, "vec": {"backend": "Serial", "num_envs": 1}}
    eval_env = make_vecenv(eval_config, env_name, seed)
    try:
        return evaluate_generic(policy, eval_env, episodes, seed)
    finally:
        close_vecenv(eval_env)


def evaluate_builtin(policy: Any, env_settings: dict[str, Any], episodes: int, seed: int) -> list[dict[str, Any]]:
    """Run the policy on fresh arenas seeded ``seed``; each drone flies exactly one episode."""
    import torch

    from autopilot.envs.drone_delivery import DroneDelivery

    env_kwargs = dict(env_settings)
    drones = int(env_kwargs.pop("num_drones", 8))
    env_kwargs.pop("num_envs", None)
    arenas = math.ceil(episodes / drones)
    env = DroneDelivery(
        num_envs=arenas, num_drones=drones, single_episode=True, record_episodes=True, seed=seed, **env_kwargs
    )
    obs, _ = env.reset(seed=seed)
    state = recurrent_state(policy, len(obs))
    with torch.no_grad():
        while env.active.any():
            action = _policy_action(policy, obs, state)
            obs, *_ = env.step(action)
    # Take the first ``episodes`` drones by index, not by finishing time: fast endings would bias the sample.
    chosen = sorted(env.episodes, key=lambda e: e["agent"])[:episodes]
    return [
        {
            "episode": i,
            "seed": seed,
            "success": e["delivered"],
            **{k: e[k] for k in ("delivered", "hover", "grip", "carry", "collision", "oob", "timeout")},
            "return": round(e["return"], 6),
            "length": e["length"],
        }
        for i, e in enumerate(chosen)
    ]


def evaluate_generic(policy: Any, vecenv: Any, episodes: int, seed: int, max_steps: int = 100_000) -> HeldOut:
    """Any PufferLib env: per-episode return and length tracked from rewards and dones (no outcome flags), and
    the env's logged stats (weighted by the episodes each log covers, ``n``), as PufferLib's training logs them.

    Episodes are taken by agent and round (each agent's first episode, then each one's second, ...), never by
    finishing time: the first episodes to end are the short ones, and taking those would bias the score.
    Some C envs end an episode without saying so (cartpole resets at its step limit with neither flag set):
    once the env's own logs count more ended episodes than the dones showed, the evaluation ends when those
    logs cover ``episodes`` episodes, and no per-episode records are kept (a tracked one may span several).
    C envs log every ``log_interval`` steps (128 as shipped), so an evaluation whose episodes are short can end
    before the first log and lose the env's own score: once the episodes are in, it steps on until the logs
    cover as many episodes, for at most as many steps again (at least ``LOG_GRACE_STEPS``)."""
    import torch

    obs, _ = vecenv.reset(seed=seed)
    n = vecenv.num_agents
    rounds = math.ceil(episodes / n)
    ret, length = np.zeros(n), np.zeros(n, dtype=np.int64)
    state = recurrent_state(policy, n)
    finished: list[list[tuple[float, int]]] = [[] for _ in range(n)]
    sums: dict[str, float] = {}
    weights: dict[str, float] = {}
    logged, signalled = 0.0, 0
    quota_at: int | None = None  # the step at which every agent had ended its rounds
    last_beat = time.monotonic()
    with torch.no_grad():
        for step in range(max_steps):
            obs, rewards, terminals, truncations, infos = vecenv.step(_policy_action(policy, obs, state))
            ret += rewards
            length += 1
            for i in np.flatnonzero(np.logical_or(terminals, truncations)):
                finished[i].append((float(ret[i]), int(length[i])))
                ret[i], length[i] = 0.0, 0
                signalled += 1
            logged += _add_logs(infos, sums, weights)
            if logged > signalled and logged >= episodes:
                break
            if quota_at is None and min(len(f) for f in finished) >= rounds:
                quota_at = step
            if quota_at is not None and (logged >= episodes or step - quota_at >= max(quota_at + 1, LOG_GRACE_STEPS)):
                break
            if time.monotonic() - last_beat >= HEARTBEAT_S:  # the loop stops a trial whose output stalls
                print(f"evaluating: {max(logged, signalled):.0f}/{episodes} episodes ended", flush=True)
                last_beat = time.monotonic()
    ordered = [finished[i][r] for r in range(rounds) for i in range(n) if r < len(finished[i])][:episodes]
    if logged > signalled:  # some ends were never flagged: a tracked "episode" may span several, so none is kept
        ordered = []
    records = [
        {"episode": k, "seed": seed, "return": round(ret_, 6), "length": len_} for k, (ret_, len_) in enumerate(ordered)
    ]
    stats = {f"environment/{k}": sums[k] / weights[k] for k in sums if weights[k] > 0}
    return HeldOut(records, stats, logged)


def _add_logs(infos: Any, sums: dict[str, float], weights: dict[str, float]) -> float:
    """Fold a step's logs (a list of dicts, or a dict) into running sums weighted by their episode count;
    returns the episodes they say ended (0 for logs without a count)."""
    logs = infos if isinstance(infos, list | tuple) else [infos]
    ended = 0.0
    for log in logs:
        if not isinstance(log, dict) or not log:
            continue
        weight = float(log.get("n", 1.0) or 0.0)
        if isinstance(log.get("n"), int | float | np.number):
            ended += weight
        for key, value in log.items():
            if key == "n" or isinstance(value, bool) or not isinstance(value, int | float | np.number):
                continue
            if math.isfinite(float(value)) and weight > 0:
                sums[key] = sums.get(key, 0.0) + float(value) * weight
                weights[key] = weights.get(key, 0.0) + weight
    return ended


def recurrent_state(policy: Any, agents: int) -> dict[str, Any]:
    """The inference state ``forward_eval`` expects: zeroed LSTM memory for a recurrent policy, carried across
    episode ends as PufferLib's own training and ``puffer eval`` carry it; empty for a feed-forward one."""
    import torch

    hidden = getattr(policy, "hidden_size", None)
    if not hasattr(policy, "lstm") or hidden is None:
        return {}
    device = next(policy.parameters()).device
    return {"lstm_h": torch.zeros(agents, hidden, device=device), "lstm_c": torch.zeros(agents, hidden, device=device)}


def _policy_action(policy: Any, obs: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Sample from the policy as it was trained (PPO's policies are stochastic; a mean action can stall)."""
    import pufferlib.pytorch
    import torch

    device = next(policy.parameters()).device
    logits, _ = policy.forward_eval(torch.as_tensor(obs).to(device), state)
    action, _, _ = pufferlib.pytorch.sample_logits(logits)
    action = action.cpu().numpy()
    if isinstance(logits, torch.distributions.Normal):
        action = np.clip(action, -1.0, 1.0)
    return action


def eval_metrics(episodes: list[dict[str, Any]]) -> dict[str, float | None]:
    """Rates over the evaluation episodes (unknown, i.e. absent, when the env has no such flag)."""
    from autopilot.envs.drone_delivery import RATE_NAMES

    out: dict[str, float | None] = {}
    if not episodes:
        return out
    for flag, name in RATE_NAMES.items():
        if flag in episodes[0]:
            out[name] = sum(bool(e[flag]) for e in episodes) / len(episodes)
    out["mean_reward"] = float(np.mean([e["return"] for e in episodes]))
    out["episode_length"] = float(np.mean([e["length"] for e in episodes]))
    return out


def evaluate_checkpoint(
    run_dir: Path, checkpoint: Path, episodes: int, seed: int, out: Path, stop: StopRequest
) -> dict[str, Any]:
    """Re-evaluate a run's checkpoint on ``episodes`` held-out episodes seeded ``seed``; writes ``out``."""
    import torch

    config = read_json(run_dir / CONFIG_FILE)
    env_name = config.get("base", {}).get("env_name") or BUILTIN_ENV
    import_pufferl(stop)
    seed_everything(seed)
    vecenv, policy = build_env_and_policy(config, env_name, seed)
    state = torch.load(checkpoint, map_location=config["train"].get("device", "cpu"))
    policy.load_state_dict({k.replace("module.", ""): v for k, v in state.items()})
    policy.eval()
    torch.manual_seed(seed)
    settings = (config.get("autopilot", {}).get("evaluation") or {}).get("env") or config.get("env", {})
    close_vecenv(vecenv)  # only its driver env was needed, to build the policy
    held_out = evaluate_policy(policy, config, env_name, episodes, seed, settings)
    lines = "".join(json.dumps(r) + "\n" for r in held_out.episodes)
    atomic_write_text(out, lines)
    mapping = dict(config.get("autopilot", {}).get("metrics") or {})
    return {"episodes": len(held_out.episodes), "seed": seed, "metrics": held_out.metrics(mapping), "out": str(out)}
