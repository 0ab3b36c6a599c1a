"""A budgeted study on a PufferLib C env from its shipped config: does the default search improve on it?

    .venv/bin/python -m benchmarks.bench_cenv --env puffer_cartpole --trials 32 --work /tmp/cenv-cartpole

The workspace comes from `autopilot init --trainer puffer --env ENV` (the env's own ini and [sweep]), sized
for a 2-core CPU: the env count and the batch divided by --shrink, the Serial backend, --steps per trial; the
hyperparameters stay as shipped. The study is a real `autopilot run --trials N`; a re-run of this command
finishes a study that was stopped, and only reports one that is done. At the end the shipped baseline and the
champion are re-evaluated on --episodes fresh episodes of a held-out seed, so the comparison does not rest on
the scores that chose the champion (the winner's curse). Prints the machine, the command and a markdown table;
writes OUT.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from autopilot.analysis.promotion import decide
from autopilot.experiment.loader import load
from autopilot.loop.reevaluate import ReevaluationError, reevaluate
from autopilot.workspace.budget import read_budget, steps_used, usage
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records, RunView
from benchmarks.provenance import header

AUTOPILOT = str(Path(sys.executable).with_name("autopilot"))
HELD_OUT_SEED = 424242


def init(root: Path, env: str, steps: int, shrink: int) -> None:
    """The env's workspace at 2-core size (hyperparameters as shipped); kept when it exists (resume)."""
    if root.exists():
        return
    subprocess.run([AUTOPILOT, "init", str(root), "--trainer", "puffer", "--env", env], check=True)
    path = root / "configs" / "baseline_quick.json"
    config = json.loads(path.read_text())
    train = config["train"]
    config["env"]["num_envs"] = max(1, int(config["env"].get("num_envs", 1)) // shrink)
    train["batch_size"] = max(train["bptt_horizon"], int(train["batch_size"]) // shrink)
    for key in ("minibatch_size", "max_minibatch_size"):
        train[key] = min(int(train[key]), train["batch_size"])
    train["total_timesteps"] = steps
    config.setdefault("autopilot", {})["save_strategy"] = "all"  # the baseline's checkpoint is re-evaluated too
    # Serial: two worker processes of a C env cost more than they give on 2 cores; the instance count is the
    # env's sizing, not a hyperparameter, so it is not tuned.
    config["vec"].update({"backend": "Serial", "num_envs": 2, "num_workers": 1, "batch_size": 2})
    path.write_text(json.dumps(config, indent=2))
    experiment = yaml.safe_load((root / "autopilot.yaml").read_text())
    experiment["search_space"]["vec.num_envs"]["tune"] = False
    # The trial length is this benchmark's sizing too (squared's sweep starts at 5M steps): widen the safe
    # range to hold it; it is not tuned.
    length = experiment["search_space"]["train.total_timesteps"]
    length["low"] = min(float(length["low"]), float(steps))
    # A minibatch must divide the shrunk batch: its tune range stops there (squared's sweep reaches 65,536).
    minibatch = experiment["search_space"].get("train.minibatch_size")
    if minibatch:
        cap = train["batch_size"]
        minibatch["high"], minibatch["low"] = min(minibatch["high"], cap), min(minibatch["low"], cap)
        if isinstance(minibatch.get("tune"), list):
            minibatch["tune"] = [min(bound, cap) for bound in minibatch["tune"]]
    (root / "autopilot.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False))


def study_done(ws: Workspace, trials: int) -> bool:
    budget = read_budget(ws)
    if budget is None or budget.trials != trials:
        return False
    return usage(ws, Records(ws).history(), budget).exhausted(budget)


def held_out(ws: Workspace, view: RunView, episodes: int) -> float | None:
    """The run's checkpoint on ``episodes`` fresh episodes of the held-out seed, as ``autopilot eval`` measures
    it (for a C env, its own logged stats)."""
    exp = load(ws, "quick").experiment
    try:
        value = reevaluate(ws, exp, view, episodes, HELD_OUT_SEED).metrics.get(exp.objective.metric)
    except ReevaluationError as exc:
        print(f"held-out evaluation of {view.id}: {exc}")
        return None
    return float(value) if isinstance(value, int | float) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="puffer_cartpole", help="a PufferLib env name (its ini is read)")
    parser.add_argument("--trials", type=int, default=32, help="the study's budget in trials (default 32)")
    parser.add_argument("--steps", type=int, default=1_048_576, help="environment steps per trial")
    parser.add_argument("--shrink", type=int, default=16, help="divide the shipped env count and batch by this")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="the study's seed")
    parser.add_argument("--episodes", type=int, default=512, help="held-out episodes for baseline and champion")
    parser.add_argument("--work", type=Path, required=True, help="the study's workspace (resumed when it exists)")
    parser.add_argument("--out", default=None, help="markdown output (default: WORK/bench_cenv.md)")
    args = parser.parse_args()
    init(args.work, args.env, args.steps, args.shrink)
    ws = Workspace(args.work)
    exit_code = 0
    if not study_done(ws, args.trials):  # a re-run of a finished study's budget would start a new study
        argv = [AUTOPILOT, "run", "-w", str(args.work), "--trials", str(args.trials)]
        argv += ["--batch-size", str(args.batch_size), "--seed", str(args.seed)]
        exit_code = subprocess.run(argv).returncode
    objective = load(ws, "quick").experiment.objective
    views = Records(ws).history()
    champion = decide(views, objective, ws.runs).champion
    baseline = next((v for v in views if "baseline" in v.record.tags), None)
    metric = objective.metric
    scores = [
        float(v.metrics[metric])
        for v in views
        if v.state == "complete" and isinstance(v.metrics.get(metric), int | float)
    ]
    lines = [
        *header(),
        "",
        f"{args.env}: {len(views)} trials ({sum(v.state == 'pruned' for v in views)} pruned, "
        f"{sum(v.state in ('failed', 'timeout') for v in views)} failed), "
        f"{sum(steps_used(ws, v) for v in views):,} steps, exit code {exit_code}; objective {metric} "
        f"({'max' if objective.maximize else 'min'}).",
        "",
        "| run | role | score in the study | held-out score |",
        "| --- | --- | --- | --- |",
    ]
    for role, view in (("shipped baseline", baseline), ("champion", champion)):
        if view is None:
            lines.append(f"| - | {role} | - | - |")
            continue
        score = view.metrics.get(metric)
        shown = f"{score:.4g}" if isinstance(score, int | float) else "-"
        again = held_out(ws, view, args.episodes)
        lines.append(
            f"| {view.id} | {role} | {shown} | {again:.4g} |"
            if again is not None
            else f"| {view.id} | {role} | {shown} | - |"
        )
    if scores:
        base = baseline.metrics.get(metric) if baseline else None
        better = [s for s in scores if isinstance(base, int | float) and (s > base if objective.maximize else s < base)]
        lines += [
            "",
            f"Completed trials' scores: median {np.median(scores):.4g}, "
            f"best {(max if objective.maximize else min)(scores):.4g}; {len(better)} better than the baseline's.",
        ]
    text = "\n".join(lines) + "\n"
    Path(args.out or args.work / "bench_cenv.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
