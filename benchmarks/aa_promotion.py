"""A/A test of the claim over whole studies: every config is the same (per-episode success with probability
p), each study is the product's own loop (``autopilot run --trials N``, the default proposer, its
confirmations and final re-runs) on the simulated backend, and a study counts as a false claim when it ends
claiming its champion beats the baseline.

    .venv/bin/python -m benchmarks.aa_promotion --loops 200 --runs 20 --episodes 512
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.analysis.promotion import decide
from autopilot.experiment.loader import load
from autopilot.objective import Objective
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records
from benchmarks.provenance import header
from benchmarks.simulated import Training, simulated_study

STEPS = 1_000_000


class Flat:
    """Every config the same: success p on every episode, a flat learning curve at p."""

    sps = 100_000.0

    def __init__(self, p: float) -> None:
        self.p = p

    def true_quality(self, overrides: dict[str, Any]) -> float:
        return self.p

    def train(self, overrides: dict[str, Any], steps: int, episodes: int, rng: np.random.Generator) -> Training:
        lines = [{"step": steps * k // 10, "metrics": {"success_rate": self.p}} for k in range(1, 11)]
        rows = [{"success": bool(s)} for s in rng.random(episodes) < self.p]
        return Training(lines, rows, steps, self.sps)


def one_loop(job: tuple[int, int, int, float, float, str]) -> tuple[bool, int, int]:
    """One study: (it claimed an improvement, its exit code, its trials)."""
    seed, runs, episodes, p, confidence, tmp = job

    def configure(data: dict[str, Any]) -> None:
        data["objective"]["evaluation"]["episodes"] = episodes
        data["objective"]["confidence"] = confidence

    with tempfile.TemporaryDirectory(dir=tmp) as work:
        study = simulated_study(Flat(p), "auto", seed, Path(work), trials=runs, steps=STEPS, configure=configure)
        loaded = load(Workspace(Path(work) / f"auto-{seed}"))
        history = Records(loaded.workspace).history()
        claim = decide(history, loaded.experiment.objective, loaded.workspace.runs).claim
    return bool(claim and claim.better), study["exit_code"], study["trials"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20, help="the trial budget of each study (--trials)")
    parser.add_argument("--episodes", type=int, default=512, help="the objective's evaluation episodes")
    parser.add_argument("--p", type=float, default=0.5, help="true per-episode success probability")
    parser.add_argument("--confidence", type=float, default=Objective().confidence)
    parser.add_argument("--seed", type=int, default=0, help="study seeds SEED..SEED+LOOPS-1")
    parser.add_argument("--jobs", type=int, default=2, help="studies run at once (processes)")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(args.seed + k, args.runs, args.episodes, args.p, args.confidence, tmp) for k in range(args.loops)]
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            done = pool.map(one_loop, jobs)
    false = sum(claimed for claimed, _, _ in done)
    rate = false / args.loops
    # Wilson 95% interval of the rate.
    z, n = 1.96, args.loops
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    print("\n".join(header()))
    print(
        f"A/A over {args.loops} studies of {args.runs} trials of one config ({args.episodes} episodes, p={args.p}, "
        f"confidence {args.confidence}), each run by the loop: {false} claimed an improvement = {rate:.1%} "
        f"(95% CI {max(0.0, centre - half):.1%}..{centre + half:.1%}); exit codes "
        f"{sorted({code for _, code, _ in done})}, {min(t for _, _, t in done)}-{max(t for _, _, t in done)} "
        f"trials; {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
