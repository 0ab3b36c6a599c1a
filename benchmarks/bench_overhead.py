"""The loop's own cost per trial: a study of a trivial command trainer (the scaffold's example optimiser, which
evaluates a quadratic and exits), one worker, with an empty history and with hundreds of earlier runs.

    .venv/bin/python -m benchmarks.bench_overhead --trials 30 --history 0 500

The figure is (the study's wall time - the trainers' own wall times) / trials: what proposing, validating,
preparing, settling, analysing, picking and recording cost the loop, per trial. The earlier runs are copies of
a finished run under new run ids (the loop reads them as history: pick, budget, proposer, early stopping).
The report is rendered as ``autopilot run`` renders it (at most every 30 s, and once at the end).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from autopilot.experiment.loader import load
from autopilot.experiment.scaffold import scaffold
from autopilot.ids import new_run_id
from autopilot.loop.orchestrator import Loop, RunOptions
from autopilot.loop.progress import Progress
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records
from benchmarks.provenance import header


def quiet_loop(ws: Workspace, **options: object) -> Loop:
    progress = Progress(ws, "score", live=False)
    progress.message = lambda text: None  # type: ignore[method-assign]
    return Loop(load(ws), RunOptions(**options), progress=progress)  # type: ignore[arg-type]


def grow_history(ws: Workspace, runs: int) -> None:
    """``runs`` copies of the workspace's first finished run, each under a new run id and creation time."""
    records = Records(ws)
    [source] = [v for v in records.history() if v.state == "complete"][:1]
    start = time.time() - 2 * runs  # in the past: the copies come before the study's own runs
    for k in range(runs):
        stamp = start + 2 * k
        run_id = new_run_id(f"copy{k}", 0, now=stamp)
        target = ws.runs / run_id
        shutil.copytree(ws.runs / source.id, target)
        record = json.loads((target / "run.json").read_text())
        created = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        record.update(id=run_id, case_id=f"copy{k}", created=created)
        (target / "run.json").write_text(json.dumps(record))


def measure(root: Path, history: int, trials: int, seed: int) -> dict[str, float]:
    scaffold(root, "command")
    ws = Workspace(root)
    quiet_loop(ws, iterations=1, seed=seed).run()  # the baseline: one finished run to copy
    grow_history(ws, history)
    before = {v.id for v in Records(ws).history()}
    started = time.monotonic()
    result = quiet_loop(ws, iterations=None, trials=trials, seed=seed).run()
    wall = time.monotonic() - started
    new = [v for v in Records(ws).history() if v.id not in before]
    trainer = sum(v.record.wall_s or 0.0 for v in new)
    return {
        "history": history,
        "exit_code": result.exit_code,
        "trials": len(new),
        "wall_s": wall,
        "trainer_s": trainer,
        "loop_s_per_trial": (wall - trainer) / max(1, len(new)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--history", type=int, nargs="+", default=[0, 500], help="earlier runs in the workspace")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("\n".join(header()))
    print("| earlier runs | exit code | trials | study wall (s) | trainers' wall (s) | loop's own s / trial |")
    print("| --- | --- | --- | --- | --- | --- |")
    for history in args.history:
        with tempfile.TemporaryDirectory() as tmp:
            m = measure(Path(tmp) / "ws", history, args.trials, args.seed)
        print(
            f"| {m['history']} | {m['exit_code']} | {m['trials']} | {m['wall_s']:.1f} | {m['trainer_s']:.1f} | "
            f"{m['loop_s_per_trial']:.3f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
