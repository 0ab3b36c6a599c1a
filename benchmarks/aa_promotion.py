"""A/A test of the claim over whole loops: every run is the same config (per-episode success with probability
p), re-runs are queued exactly when the loop would queue them, and a loop counts as a false claim when it ends
claiming its champion beats the baseline.

    .venv/bin/python -m benchmarks.aa_promotion --loops 200 --runs 20 --episodes 512
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.analysis.promotion import decide
from autopilot.loop.scheduler import confirmations_due
from autopilot.objective import Objective
from autopilot.workspace.records import RunRecord, RunView
from benchmarks.provenance import header


def make_run(
    runs: Path,
    i: int,
    successes: np.ndarray,
    parent: str | None,
    overrides: dict[str, Any] | None = None,
    steps: int | None = None,
) -> RunView:
    """A completed run on disk as the promotion rule reads it: its evaluation episodes and its summary."""
    run_id = f"2026-01-01T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z-{i:06x}"
    (runs / run_id).mkdir(parents=True)
    lines = "".join(json.dumps({"success": bool(s)}) + "\n" for s in successes)
    (runs / run_id / "eval_episodes.jsonl").write_text(lines)
    record = RunRecord(
        id=run_id,
        case_id=f"c{i}",
        state="complete",
        tags=["confirm"] if parent else [],
        parent_ids=[parent] if parent else [],
        created=f"2026-01-01T00:00:00.{i:06d}Z",
    )
    score = float(successes.mean())
    summary = {"metrics": {"success_rate": score}, "score": score, "feasible": True, "steps": steps}
    return RunView(record, overrides or {}, summary)


def one_loop(runs: Path, rng: np.random.Generator, n_runs: int, episodes: int, p: float, objective: Objective) -> bool:
    history: list[RunView] = []
    i = 0
    for _ in range(n_runs):
        i += 1
        history.append(make_run(runs, i, rng.random(episodes) < p, None))
        for waiting in confirmations_due(history, decide(history, objective, runs)):
            i += 1
            history.append(make_run(runs, i, rng.random(episodes) < p, waiting))
    claim = decide(history, objective, runs).claim
    return bool(claim and claim.better)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20, help="contenders per loop (confirmations come on top)")
    parser.add_argument("--episodes", type=int, default=512)
    parser.add_argument("--p", type=float, default=0.5, help="true per-episode success probability")
    parser.add_argument("--confidence", type=float, default=Objective().confidence)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    objective = Objective(confidence=args.confidence)
    started = time.monotonic()
    false = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.loops):
            false += one_loop(Path(tmp) / f"loop{k}", rng, args.runs, args.episodes, args.p, objective)
    rate = false / args.loops
    # Wilson 95% interval of the rate.
    z, n = 1.96, args.loops
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    print("\n".join(header()))
    print(
        f"A/A over {args.loops} loops of {args.runs} identical runs ({args.episodes} episodes, p={args.p}, "
        f"confidence {args.confidence}): {false} loops claimed an improvement = {rate:.1%} "
        f"(95% CI {max(0.0, centre - half):.1%}..{centre + half:.1%}); {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
