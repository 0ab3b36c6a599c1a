"""Record real trainings of the built-in task for the tuning surrogate: random configs over the default
search space's tune ranges, each a real `autopilot run` trial, with learning curves and held-out evaluation.

    .venv/bin/python -m benchmarks.record_runs --runs 160 --steps 2500000 --episodes 256 --work /tmp/record
    .venv/bin/python -m benchmarks.record_runs --replicate RUNS.jsonl --configs 40 --work /tmp/rep
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
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from autopilot.ids import case_id_for
from autopilot.workspace.atomic import atomic_write_text, read_jsonl
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Case, Records
from autopilot.workspace.run_folder import RunFolder

AUTOPILOT = str(Path(sys.executable).with_name("autopilot"))


def init_workspace(root: Path, steps: int, episodes: int) -> None:
    """A workspace whose baseline trains ``steps`` steps and whose guardrails never halt the recording."""
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


def record(work: Path, runs: int, steps: int, episodes: int, seed: int, proposer: str) -> None:
    root = work / "ws"
    init_workspace(root, steps, episodes)
    done = len(Records(Workspace(root)).history())
    batches = max(0, -(-(runs - done) // 4))
    subprocess.run(
        [
            AUTOPILOT,
            "run",
            "-w",
            str(root),
            "--proposer",
            proposer,
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


def pick_spread(runs: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` complete runs spread over the quality range: half evenly by rank, half evenly by held-out
    success (the data are skewed to zero, so ranks alone would pick mostly failures)."""
    done = sorted(
        (r for r in runs if r.get("state") == "complete" and r.get("eval_episodes")),
        key=lambda r: (r["eval_successes"] / r["eval_episodes"], r["run_id"]),
    )
    chosen: dict[str, dict[str, Any]] = {}
    for i in range(count // 2):
        run = done[round(i * (len(done) - 1) / max(1, count // 2 - 1))]
        chosen.setdefault(run["run_id"], run)
    top = done[-1]["eval_successes"] / done[-1]["eval_episodes"]
    for i in range(count):
        if len(chosen) >= count:
            break
        target = top * i / max(1, count - 1)
        rest = [r for r in done if r["run_id"] not in chosen]
        run = min(rest, key=lambda r: abs(r["eval_successes"] / r["eval_episodes"] - target))
        chosen[run["run_id"]] = run
    return sorted(chosen.values(), key=lambda r: r["run_id"])


def recorded_replicates(export_path: Path | None) -> set[tuple[str, int]]:
    """(source run id, training seed) of the replicates an earlier export holds complete: a recording whose
    workspace is gone resumes from its committed export instead of re-running them."""
    if export_path is None:
        return set()
    return {
        (r["tags"][1], r["train_seed"])
        for r in read_jsonl(export_path)
        if r.get("state") == "complete" and len(r["tags"]) > 1
    }


def replicate(
    work: Path,
    source: Path,
    configs: int,
    seeds: list[int],
    steps: int,
    episodes: int,
    skip: Collection[tuple[str, int]] = (),
) -> None:
    """Re-run ``configs`` recorded configs (spread over the quality range) on each of ``seeds``, seed-major so
    a stopped recording still holds every config on the first seeds. Cases are queued in cases/pending/ and
    run by one `autopilot run` iteration; a case already run or queued, or in ``skip``, is not queued again."""
    root = work / "ws"
    init_workspace(root, steps, episodes)
    ws = Workspace(root)
    records = Records(ws)
    known = {v.record.case_id for v in records.history()} | {c.case_id for c in records.pending_cases()}
    picked = pick_spread([json.loads(line) for line in source.read_text().splitlines() if line.strip()], configs)
    for seed in seeds:
        for run in picked:
            case_id = case_id_for(seed, 0, 0, {"replicate": run["run_id"], **run["overrides"]})
            if case_id in known or (run["run_id"], seed) in skip:
                continue
            records.write_case(
                Case(
                    case_id=case_id,
                    overrides={**run["overrides"], "train.seed": seed},
                    tags=["replicate", run["run_id"]],
                    proposer="replicate",
                    reasoning=f"replicate of {run['run_id']} on train.seed={seed}",
                )
            )
    subprocess.run([AUTOPILOT, "run", "-w", str(root), "--iterations", "1", "--workers", "1"], check=False)


RATES = ("success_rate", "grip_rate", "carry_rate", "hover_rate", "collision_rate", "mean_reward")
MAX_POINTS = 40  # per curve, evenly subsampled


def export(work: Path, out: Path, merge: bool = False) -> int:
    """One JSON line per run: the overrides and training seed, the learning curve of every rate and of the
    mean reward with the episodes behind each point (``curves``, ``curve_episodes``; ``curve`` is success alone,
    for the surrogate), the held-out evaluation counts, steps and wall time. ``merge``: keep ``out``'s lines, in
    their order, and append the runs it does not hold (a recording resumed in a new workspace)."""
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
    kept = read_jsonl(out) if merge else []
    held = {x["run_id"] for x in kept}
    lines = [x for x in lines if x["run_id"] not in held]
    atomic_write_text(out, "".join(json.dumps(x, sort_keys=True) + "\n" for x in [*kept, *lines]))
    print(f"{len(lines)} runs -> {out}" + (f" (after its {len(kept)})" if merge else ""))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/record"))
    parser.add_argument("--runs", type=int, default=160)
    parser.add_argument("--steps", type=int, default=2_500_000)
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--proposer", default="random", help="random, or optuna:QMCSampler for a Sobol share")
    parser.add_argument("--replicate", type=Path, help="re-run configs of this export on --train-seeds instead")
    parser.add_argument("--configs", type=int, default=40, help="with --replicate: how many configs")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[1001, 1002, 1003, 1004])
    parser.add_argument(
        "--skip-recorded",
        type=Path,
        help="with --replicate: an earlier export whose complete replicates are not run again",
    )
    parser.add_argument("--export", type=Path, help="write the recorded runs as JSON lines and exit")
    parser.add_argument("--merge", action="store_true", help="with --export: append to the file the runs it lacks")
    args = parser.parse_args()
    if args.export:
        return export(args.work, args.export, args.merge)
    if args.replicate:
        skip = recorded_replicates(args.skip_recorded)
        replicate(args.work, args.replicate, args.configs, args.train_seeds, args.steps, args.episodes, skip)
    else:
        record(args.work, args.runs, args.steps, args.episodes, args.seed, args.proposer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
