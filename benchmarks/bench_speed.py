"""Speed of the built-in task: env-only stepping on one core, and PPO training through the driver.

    .venv/bin/python -m benchmarks.bench_speed [--train-steps N]

Prints the machine, the command and the figures (targets: env >= 2M agent-steps/s with 1024 drones on one
core; training >= 150k steps/s on 2 cores with the default MLP policy).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from autopilot.envs.drone_delivery import DroneDelivery
from benchmarks.driver_run import run_driver
from benchmarks.provenance import header


def env_speed(num_envs: int, num_drones: int, steps: int = 400, repeats: int = 5) -> float:
    """Best of ``repeats`` timings of ``steps`` env steps with random actions (agent-steps per second)."""
    env = DroneDelivery(num_envs=num_envs, num_drones=num_drones, seed=0)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (env.num_agents, 4)).astype(np.float32)
    for _ in range(50):
        env.step(actions)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            env.step(actions)
        best = max(best, steps * env.num_agents / (time.perf_counter() - start))
    return best


def train_speed(total: int) -> dict[str, float]:
    summary, _ = run_driver("quick", {"train.total_timesteps": total, "autopilot.eval_episodes": 64})
    return {"steps": summary["steps"], "wall_s": summary["wall_s"], "sps": summary["metrics"]["sps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-steps", type=int, default=10_000_000)
    args = parser.parse_args()
    print("\n".join(header()))
    for num_envs, num_drones in ((128, 8), (1024, 1), (16, 64)):
        rate = env_speed(num_envs, num_drones)
        print(
            f"env only, 1 core: {num_envs} arenas x {num_drones} drones = {num_envs * num_drones} drones: "
            f"{rate / 1e6:.2f}M agent-steps/s (best of 5)"
        )
    result = train_speed(args.train_steps)
    print(
        f"PPO through the driver (baseline_quick, default MLP, {os.cpu_count()} cores): {result['steps']:,} steps "
        f"in {result['wall_s']:.1f}s = {result['sps'] / 1e3:.0f}k steps/s"
    )


if __name__ == "__main__":
    main()
