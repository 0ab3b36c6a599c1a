"""Trials in parallel on one machine: the local executor with two workers, each trial's math libraries at their
default thread count (a thread per core in every trial) against the executor's share (cores / workers).

    .venv/bin/python -m benchmarks.bench_workers [--steps 2000000] [--repeat 2]

Prints the machine, the command and the figures: the wall time for both trials and each trainer's steps/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from autopilot.config import deep_merge
from autopilot.executors.base import Job, TrialSpec
from autopilot.executors.local import THREAD_VARIABLES, LocalExecutor, usable_cores
from autopilot.executors.trainer_command import trainer_env
from autopilot.experiment.presets import baseline_config
from autopilot.experiment.schema import TrainerSpec
from benchmarks.provenance import header


def ready(spec: TrialSpec) -> Job:
    """A job whose trial needs no preparation."""
    return lambda: spec


def both(steps: int, threads: str | None) -> tuple[float, list[float]]:
    """Two trainings of the quick baseline at once (seeds 1 and 2) through a two-worker local executor; with
    ``threads`` set, every trial gets that thread count (as a user's own setting, which the executor keeps)."""
    with tempfile.TemporaryDirectory() as tmp:
        specs = []
        for seed in (1, 2):
            run_dir = Path(tmp) / f"seed{seed}"
            run_dir.mkdir()
            override = {"train": {"total_timesteps": steps, "seed": seed}}
            config = deep_merge(baseline_config("builtin", "drone_delivery", "quick"), override)
            (run_dir / "config.json").write_text(json.dumps(config))
            env = trainer_env(TrainerSpec(kind="builtin"), run_dir)
            env = {k: v for k, v in env.items() if k not in THREAD_VARIABLES}
            if threads is not None:
                env.update(dict.fromkeys(THREAD_VARIABLES, threads))
            argv = [sys.executable, "-m", "autopilot.trainers.puffer", "--run-dir", str(run_dir)]
            specs.append(TrialSpec(run_dir.name, argv, run_dir, env, 3600.0, 600.0))
        started = time.monotonic()
        jobs: list[Job] = [ready(s) for s in specs]
        LocalExecutor(workers=2).run(jobs, lambda *_: None, lambda *_: None, threading.Event())
        wall = time.monotonic() - started
        sps = [float(json.loads((s.run_dir / "trainer_summary.json").read_text())["metrics"]["sps"]) for s in specs]
        return wall, sps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    cores = usable_cores()
    print("\n".join(header()))
    print(f"two trials of {args.steps:,} steps at once, two workers, {cores} cores")
    for label, threads in (("default threads", str(cores)), ("the executor's share", None)):
        for _ in range(args.repeat):
            wall, sps = both(args.steps, threads)
            print(f"  {label:22s} both done in {wall:5.1f} s; trainers at {sps[0]:,.0f} and {sps[1]:,.0f} steps/s")


if __name__ == "__main__":
    main()
