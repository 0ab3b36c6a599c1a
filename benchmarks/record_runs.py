"""Record real trainings of the built-in task for the tuning surrogate: random configs over the default
search space's tune ranges, each a real `autopilot run` trial, with learning curves and held-out evaluation.

    .venv/bin/python -m benchmarks.record_runs --runs 160 --steps 2500000 --episodes 256 --work /tmp/record
    .venv/bin/python -m benchmarks.record_runs --export benchmarks/data/drone_runs.jsonl --work /tmp/record

The export is small (one JSON line per run: the overrides and training seed, the curves of every rate and
of the mean reward subsampled to at most 40 points with the episodes behind each, the held-out evaluation,
steps and wall time) and is committed; the workspace is not. The recording resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

from autopilot.workspace.atomic import read_jsonl
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records
from autopilot.workspace.run_folder import RunFolder

AUTOPILOT = str(Path(sys.executable).with_name("autopilot"))


def record(work: Path, runs: int, steps: int, episodes: int, seed: int) -> None:
    root = work / "ws"
    if not root.exists():
        subprocess.run([AUTOPILOT, "init", str(root)], check=True)
        path = root / "configs" / "baseline_quick.json"
        baseline = json.loads(path.read_text())
        baseline["train"]["total_timesteps"] = steps
        baseline["autopilot"]["save_strategy"] = "latest"  # the curves and evaluations are what is recorded
        path.write_text(json.dumps(baseline))
        experiment = yaml.safe_load((root / "autopilot.yaml").read_text())
        experiment["objective"]["evaluation"]["episodes"] = episodes
        experiment["guardrails"]["max_fail_rate"] = 1.0  # record failures too, never halt
        experiment["guardrails"]["max_common_failure_count"] = 10_000
        experiment["guardrails"]["max_critical_class_count"] = 10_000
        experiment["guardrails"]["safe_mode_fail_rate"] = 1.0
        (root / "autopilot.yaml").write_text(yaml.safe_dump(experiment))
    done = len(Records(Workspace(root)).history())
    batches = max(0, -(-(runs - done) // 4))
    subprocess.run(
        [
            AUTOPILOT,
            "run",
            "-w",
            str(root),
            "--proposer",
            "random",
            "--seed",
            str(seed),
            "--batch-size",
            "4",
            "--iterations",
            str(batches),
            "--workers",
            "1",
        ],
        check=False,
    )


RATES = ("success_rate", "grip_rate", "carry_rate", "hover_rate", "collision_rate", "mean_reward")
MAX_POINTS = 40  # per curve, evenly subsampled


def export(work: Path, out: Path) -> int:
    """One JSON line per run: the overrides and training seed, the learning curve of every rate and of the
    mean reward with the episodes behind each point (``curves``, ``curve_episodes``; ``curve`` is success alone,
    for the surrogate), the held-out evaluation counts, steps and wall time."""
    ws = Workspace(work / "ws")
    lines = []
    for view in Records(ws).history():
        folder = RunFolder(ws.runs / view.id)
        points = []
        for item in read_jsonl(folder.metrics):
            metrics = item.get("metrics") or {}
            if isinstance(item.get("step"), int) and isinstance(metrics.get("success_rate"), int | float):
                points.append(item)
        stride = max(1, len(points) // MAX_POINTS)
        points = points[::stride][-MAX_POINTS:]
        curves = {
            name: [[int(p["step"]), round(float(p["metrics"][name]), 4)] for p in points if name in p["metrics"]]
            for name in RATES
        }
        episodes = read_jsonl(folder.eval_episodes)
        lines.append(
            {
                "run_id": view.id,
                "state": view.state,
                "overrides": view.overrides,
                "train_seed": view.record.seed,
                "tags": view.record.tags,
                "curve": curves["success_rate"],
                "curves": curves,
                "curve_episodes": [[int(p["step"]), p["metrics"].get("environment/episodes")] for p in points],
                "eval_successes": sum(bool(e.get("success")) for e in episodes),
                "eval_episodes": len(episodes),
                "eval_rates": {k: v for k, v in view.metrics.items() if k in RATES},
                "steps": (view.summary or {}).get("steps"),
                "wall_s": view.record.wall_s,
                "selection": ((view.summary or {}).get("selection") or {}).get("chosen"),
            }
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(x, sort_keys=True) + "\n" for x in lines))
    print(f"{len(lines)} runs -> {out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/record"))
    parser.add_argument("--runs", type=int, default=160)
    parser.add_argument("--steps", type=int, default=2_500_000)
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--export", type=Path, help="write the recorded runs as JSON lines and exit")
    args = parser.parse_args()
    if args.export:
        return export(args.work, args.export)
    record(args.work, args.runs, args.steps, args.episodes, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
