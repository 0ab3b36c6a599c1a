"""Calibration of the built-in task: baseline_full against a tuned and two bad configs, same budget.

    .venv/bin/python -m benchmarks.calibrate [--seeds 1 2] [--steps 12000000]

Each config trains through the driver with the full budget and is evaluated on 512 held-out episodes;
prints a markdown table (success rate with its 95% bootstrap interval, wall time).
"""

from __future__ import annotations

import argparse

import numpy as np

from autopilot.analysis.stats import bootstrap_mean
from benchmarks.driver_run import run_driver
from benchmarks.provenance import header

CONFIGS = {
    "baseline_full": {},
    "tuned (update_epochs 2, learning_rate 0.005)": {"train.update_epochs": 2, "train.learning_rate": 0.005},
    "bad: learning_rate 1e-5": {"train.learning_rate": 1e-5},
    "bad: ent_coef 0.5": {"train.ent_coef": 0.5},
}


def run(override: dict, seed: int, steps: int) -> dict:
    summary, episodes = run_driver("full", {**override, "train.seed": seed, "train.total_timesteps": steps})
    ci = bootstrap_mean(np.array([e["success"] for e in episodes], dtype=float))
    return {"success": ci, "wall_s": summary["wall_s"], "steps": summary["steps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--steps", type=int, default=12_000_000)
    args = parser.parse_args()
    print("\n".join(header()))
    print("| config | seed | steps | wall (s) | success_rate [95% CI] |")
    print("| --- | --- | --- | --- | --- |")
    for name, override in CONFIGS.items():
        for seed in args.seeds:
            r = run(override, seed, args.steps)
            ci = r["success"]
            print(
                f"| {name} | {seed} | {r['steps']:,} | {r['wall_s']:.0f} | {ci.mean:.3f} [{ci.low:.3f}, "
                f"{ci.high:.3f}] |",
                flush=True,
            )


if __name__ == "__main__":
    main()
