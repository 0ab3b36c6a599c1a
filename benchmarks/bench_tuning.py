"""Tuning efficiency on the built-in drone task: whole studies per proposer, same budget in environment steps.

    .venv/bin/python -m benchmarks.bench_tuning [--proposers random tpe ga hybrid protein] [--seeds 3]
        [--trials 8] [--batch-size 4] [--steps 2000000] [--target 0.758 0.810] [--out benchmarks/results/bench]

Each study is a real `autopilot run` (quick baseline with --steps per trial) in its own workspace. Reports,
over study seeds: best success_rate at the budget (and its held-out re-evaluation), environment steps to
reach --target, the area under the best-so-far curve; the loop's own overhead per trial; and each proposer's
latency with a 500-run history. Writes OUT.md and OUT.png and prints the markdown.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.figure import Figure

from autopilot.analysis.promotion import decide
from autopilot.analysis.stats import bootstrap_mean
from autopilot.config import deep_merge, to_nested
from autopilot.objective import Objective
from autopilot.workspace.budget import steps_used
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records
from benchmarks.bench_surrogate import RESOURCES, auc, paired, ratio, resource_points, steps_to
from benchmarks.provenance import header

AUTOPILOT = str(Path(sys.executable).with_name("autopilot"))
HELD_OUT_SEED = 424242  # the champion's re-evaluation: fresh episodes on a seed no trial saw


def iso(t: str) -> float:
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def prepare(root: Path, seed: int, steps: int, episodes: int, settings: dict[str, Any] | None = None) -> None:
    """The study's workspace: the built-in task's quick baseline at ``steps`` steps, trained on seed 1 + seed;
    ``settings``: dotted keys of autopilot.yaml to set (``early_stopping.keep_fraction``, say)."""
    subprocess.run([AUTOPILOT, "init", str(root)], check=True, capture_output=True)
    path = root / "configs" / "baseline_quick.json"
    baseline = json.loads(path.read_text())
    baseline["train"]["total_timesteps"] = steps
    baseline["train"]["seed"] = 1 + seed  # study seeds vary the training seed too
    baseline["autopilot"]["save_strategy"] = "all"  # the held-out re-evaluation needs the champion's checkpoint
    path.write_text(json.dumps(baseline))
    experiment = yaml.safe_load((root / "autopilot.yaml").read_text())
    experiment["objective"]["evaluation"]["episodes"] = episodes
    experiment = deep_merge(experiment, to_nested(settings or {}))
    (root / "autopilot.yaml").write_text(yaml.safe_dump(experiment))


def study(
    root: Path,
    proposer: str,
    seed: int,
    trials: int,
    batch: int,
    steps: int,
    episodes: int,
    by_steps: bool = False,
    settings: dict[str, Any] | None = None,
) -> dict:
    """One real `autopilot run --trials N` study (``by_steps``: `--budget-steps N*steps`, the step budget Optuna's
    study gets); its result is the champion the tool hands the user."""
    if proposer == OPTUNA:
        return optuna_study(root, seed, trials, steps, episodes)
    prepare(root, seed, steps, episodes, settings)
    started = time.monotonic()
    argv = [AUTOPILOT, "run", "-w", str(root), "--proposer", proposer, "--seed", str(seed)]
    argv += ["--batch-size", str(batch)]
    argv += ["--budget-steps", str(trials * steps)] if by_steps else ["--trials", str(trials)]
    done = subprocess.run(argv, capture_output=True, timeout=7200)
    result = summarize(root, proposer, seed, done.returncode, time.monotonic() - started)
    return {**result, "budget": "steps" if by_steps else "trials", "settings": settings or {}}


OPTUNA = "optuna_tpe_hyperband"


def train_outside_the_loop(exp: Any, folder: Any, should_stop: Any = None) -> Any:
    """Train the config already written in ``folder`` with the study's trainer and limits, as the loop's local
    executor would, but recorded nowhere (a peer's trial, a re-training)."""
    import threading

    from autopilot.executors.base import TrialSpec
    from autopilot.executors.local import LocalExecutor
    from autopilot.executors.trainer_command import trainer_argv, trainer_env

    spec = TrialSpec(
        run_id=folder.id,
        argv=trainer_argv(exp.trainer, folder.path),
        run_dir=folder.path,
        env=trainer_env(exp.trainer, folder.path),
        timeout_s=exp.resources.timeout_minutes * 60,
        stall_s=exp.resources.stall_seconds,
        should_stop=should_stop,
    )
    return LocalExecutor(1).run_one(spec, lambda *_: None, threading.Event())


def held_out_success(exp: Any, checkpoint: Path) -> float | None:
    """A checkpoint's success on 256 episodes of the held-out seed, evaluated by the study's trainer beside it
    (the figure every champion is reported with); None when the evaluation wrote nothing."""
    from autopilot.executors.trainer_command import trainer_argv, trainer_env
    from autopilot.workspace.atomic import read_jsonl

    run_dir = checkpoint.parent.parent  # runs/<id>/checkpoints/model.pt -> runs/<id>
    out = run_dir / f"held-out-{HELD_OUT_SEED}.jsonl"
    argv = trainer_argv(exp.trainer, run_dir)
    argv += ["--eval-only", str(checkpoint), "--episodes", "256", "--seed", str(HELD_OUT_SEED), "--out", str(out)]
    subprocess.run(argv, capture_output=True, timeout=1200, env=trainer_env(exp.trainer, run_dir), cwd=run_dir)
    episodes = read_jsonl(out) if out.exists() else []
    return float(np.mean([e["success"] for e in episodes])) if episodes else None


def optuna_study(root: Path, seed: int, trials: int, steps: int, episodes: int) -> dict:
    """Optuna as its users run it, on the same trainer, tune ranges and step budget as the loop: TPE
    (multivariate, the tool's TPE start-up for this budget) with ``HyperbandPruner``, one trial at a time. Each
    trial reports success_rate once per twentieth of its steps, is stopped when ``should_prune`` says so, and
    returns its evaluation's success (the same episodes as the loop's); the user is handed ``study.best_trial``,
    re-evaluated like the loop's champion."""

    import optuna
    from optuna.trial import TrialState

    from autopilot.experiment.loader import load
    from autopilot.experiment.schema import ProposerSpec
    from autopilot.loop.prepare import Preparer
    from autopilot.proposers.base import Context
    from autopilot.proposers.optuna_samplers import distributions, startup_trials
    from autopilot.workspace.atomic import atomic_write_json, read_json, read_jsonl
    from autopilot.workspace.run_folder import RunFolder

    prepare(root, seed, steps, episodes)
    started = time.monotonic()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ws = Workspace(root)
    loaded = load(ws)
    exp = loaded.experiment
    startup = startup_trials(
        Context(exp.space, exp.objective, loaded.baseline, ProposerSpec(), 0, budget_trials=trials)
    )
    study = optuna.create_study(
        # Hyperband assigns trials to brackets by a hash of the study's name: a fixed name makes the study
        # reproducible (Optuna's docs ask for one); unnamed, each run drew its own assignment.
        study_name=f"optuna-tpe-hyperband-{seed}",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=startup),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=RESOURCES),
    )
    dists = distributions(exp.space)
    preparer = Preparer(loaded, Records(ws), exp.resources.timeout_minutes, exp.resources.stall_seconds)
    used, curve, folders = 0, [], {}
    while used < trials * steps:
        trial = study.ask(dists)
        checked = loaded.validate(dict(trial.params))
        if not checked.ok:  # a rule the ranges alone do not hold: a failed trial, as in a user's objective
            study.tell(trial, state=TrialState.FAIL)
            continue
        folder = RunFolder(root / "optuna" / f"trial-{trial.number:03d}")  # outside runs/: not the loop's
        folder.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder.config, preparer.effective_config(checked.normalized, [], OPTUNA)[0])
        folders[trial.number] = folder
        reported: set[int] = set()

        def should_stop(
            trial: optuna.Trial = trial, folder: RunFolder = folder, reported: set[int] = reported
        ) -> str | None:
            lines = [x for x in read_jsonl(folder.metrics) if "success_rate" in (x.get("metrics") or {})]
            for resource, _step, value in resource_points(lines, steps):
                if resource not in reported:
                    reported.add(resource)
                    trial.report(value, resource)
                    if trial.should_prune():
                        return f"pruned by HyperbandPruner at {resource}/{RESOURCES} of its steps"
            return None

        outcome = train_outside_the_loop(exp, folder, should_stop)
        lines = read_jsonl(folder.metrics)
        used += max((int(x.get("step") or 0) for x in lines), default=0)
        evals = read_jsonl(folder.eval_episodes) if folder.eval_episodes.exists() else []
        if outcome.stopped_by == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        elif outcome.exit_code == 0 and evals:
            study.tell(trial, float(np.mean([e["success"] for e in evals])))
        else:
            study.tell(trial, state=TrialState.FAIL)
        done = [t for t in study.trials if t.state == TrialState.COMPLETE]
        curve.append((used, study.best_value if done else 0.0))
    held_out = None
    if any(t.state == TrialState.COMPLETE for t in study.trials):
        best = folders[study.best_trial.number]
        held_out = held_out_success(exp, best.path / str(read_json(best.trainer_summary).get("checkpoint")))
    states = [t.state for t in study.trials]
    return {
        "proposer": OPTUNA,
        "seed": seed,
        "exit_code": 0,
        "trials": len(states),
        "pruned": states.count(TrialState.PRUNED),
        "failed": states.count(TrialState.FAIL),
        "steps_used": used,
        "curve": curve,
        "scores": [t.value for t in study.trials if t.state == TrialState.COMPLETE],
        "best": curve[-1][1] if curve else 0.0,
        "held_out": held_out,
        "runs": len(states),
        "wall_s": time.monotonic() - started,
        "overhead": [],
        "trainer": [],
    }


def summarize(root: Path, proposer: str, seed: int, exit_code: int, wall_s: float) -> dict:
    """A finished study's figures, from its workspace (also for a study run earlier: --adopt)."""
    ws = Workspace(root)
    views = Records(ws).history()
    board = json.loads((root / "leaderboard.json").read_text()) if (root / "leaderboard.json").exists() else {}
    champion = board.get("best")
    curve, used, overhead, trainer = [], 0, [], []
    by_id = {v.id: v for v in views}
    timeline = decide(views, Objective(), root / "runs").timeline
    champion_after = dict(timeline)
    current = 0.0
    for v in views:
        used += steps_used(ws, v)  # a pruned trial by the steps it ran, as the loop's budget counts it
        if v.id in champion_after:
            current = float(by_id[champion_after[v.id]].metrics.get("success_rate") or 0.0)
        curve.append((used, current))
        if v.record.ended and v.record.wall_s:
            overhead.append(iso(v.record.ended) - iso(v.record.created) - v.record.wall_s)
            trainer.append(v.record.wall_s)
    held_out = None
    retrained = retrain(root, champion) if champion and proposer == "pbt" else None
    if champion:
        subprocess.run(
            [AUTOPILOT, "eval", champion, "-w", str(root), "--episodes", "256", "--seed", str(HELD_OUT_SEED)],
            capture_output=True,
            timeout=1200,
        )
        out = root / "runs" / champion / "evals" / f"seed-{HELD_OUT_SEED}.jsonl"
        eps = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
        held_out = float(np.mean([e["success"] for e in eps])) if eps else None
    return {
        "proposer": proposer,
        "seed": seed,
        "exit_code": exit_code,
        "trials": len(views),
        "pruned": sum(v.state == "pruned" for v in views),
        "steps_used": used,
        "curve": curve,
        "scores": [
            float(v.metrics["success_rate"])
            for v in views
            if v.state == "complete" and isinstance(v.metrics.get("success_rate"), int | float)
        ],
        "best": curve[-1][1] if curve else 0.0,
        "held_out": held_out,
        "retrained": retrained,
        "runs": len(views),
        "wall_s": wall_s,
        "overhead": overhead,
        "trainer": trainer,
    }


RETRAIN_SEED = 777_777  # the schedule's re-training from scratch: a training seed no study used


def retrain(root: Path, run_id: str) -> dict[str, Any] | None:
    """Run ``run_id``'s hyperparameter schedule (its lineage, ``autopilot export schedule``) again from scratch on a
    new training seed, segment by segment, each continuing the last one's checkpoint, with the study's trainer;
    the final policy is evaluated as the champion is (256 episodes on the held-out seed). None when a segment
    failed."""

    from autopilot.analysis.lineage import schedule
    from autopilot.experiment.loader import load
    from autopilot.loop.prepare import Preparer
    from autopilot.workspace.atomic import atomic_write_json, read_json
    from autopilot.workspace.records import read_config
    from autopilot.workspace.run_folder import RunFolder

    ws = Workspace(root)
    loaded = load(ws)
    exp = loaded.experiment
    history = Records(ws).history()
    preparer = Preparer(loaded, Records(ws), exp.resources.timeout_minutes, exp.resources.stall_seconds)
    checkpoint: Path | None = None
    steps = 0
    segments = schedule(history, run_id, exp.space)
    for k, segment in enumerate(segments):
        asked = (read_config(root / "runs" / segment["run_id"]) or {}).get("train", {}).get("total_timesteps")
        overrides = {**segment["hyperparameters"], "train.total_timesteps": asked, "train.seed": RETRAIN_SEED + k}
        checked = loaded.validate(overrides)  # the rules derive the batch sizes again
        if not checked.ok:
            return None
        folder = RunFolder(root / "retrain" / f"segment-{k:02d}")  # outside runs/: not the loop's
        folder.path.mkdir(parents=True, exist_ok=True)
        config = preparer.effective_config(checked.normalized, [], "retrain")[0]
        if checkpoint is not None:
            config["train"]["load_model_path"] = str(checkpoint)
        atomic_write_json(folder.config, config)
        outcome = train_outside_the_loop(exp, folder)
        if outcome.exit_code != 0 or not folder.trainer_summary.exists():
            return None
        summary = read_json(folder.trainer_summary)
        checkpoint = folder.path / str(summary.get("checkpoint"))
        steps += int(summary.get("steps") or 0)
    if checkpoint is None:
        return None
    return {"segments": len(segments), "steps": steps, "held_out": held_out_success(exp, checkpoint)}


def landscape_targets(results: list[dict]) -> list[float]:
    """Targets at the 90th and 98th percentile of the random studies' trial scores (random configs at this
    fidelity, as the studies measured them); 0.5 when too few random trials were run."""
    scores = [s for r in results if r["proposer"] == "random" for s in r.get("scores", [])]
    return [float(np.quantile(scores, 0.9)), float(np.quantile(scores, 0.98))] if len(scores) >= 50 else [0.5]


def retrained_lines(results: list[dict]) -> list[str]:
    """Each population study's champion against its schedule re-trained from scratch on a new seed."""
    rows = [r for r in results if r.get("retrained")]
    if not rows:
        return []
    out = [
        "",
        "The champion's hyperparameter schedule re-trained from scratch on a new training seed (its segments in "
        "turn, each from the last one's checkpoint), evaluated as the champion is:",
        "",
        "| study seed | segments | steps | champion's held-out success | re-trained, held-out success |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in sorted(rows, key=lambda r: r["seed"]):
        again = r["retrained"]
        shown = "failed" if again["held_out"] is None else f"{again['held_out']:.3f}"
        out.append(f"| {r['seed']} | {again['segments']} | {again['steps']:,} | {r['held_out']} | {shown} |")
    return out


def paired_lines(results: list[dict], names: list[str], targets: list[float]) -> list[str]:
    """The first proposer against each other one, study seed by study seed (paired bootstrap intervals)."""
    ours = {r["seed"]: r for r in results if r["proposer"] == names[0]}
    rng = np.random.default_rng(0)
    out = [
        "",
        f"Paired by study seed, {names[0]} minus each peer: champion's held-out success, champion's score in the "
        "study; steps to each target as a ratio of medians (a study that never reached it counts as infinite).",
        "",
        "| peer | seeds | held-out success, difference | score in study, difference | "
        + " | ".join(f"steps to {t:.3f}, ratio" for t in targets)
        + " |",
        "| --- | --- | --- | --- |" + " --- |" * len(targets),
    ]
    for name in names[1:]:
        seeds = sorted(s for s in ours if any(r["proposer"] == name and r["seed"] == s for r in results))
        theirs = {r["seed"]: r for r in results if r["proposer"] == name}
        both = [s for s in seeds if ours[s]["held_out"] is not None and theirs[s]["held_out"] is not None]
        if len(seeds) < 2:
            out.append(f"| {name} | {len(seeds)} | - | - |" + " - |" * len(targets))
            continue
        held = paired([ours[s]["held_out"] for s in both], [theirs[s]["held_out"] for s in both], rng) if both else "-"
        score = paired([ours[s]["best"] for s in seeds], [theirs[s]["best"] for s in seeds], rng)
        steps = []
        for target in targets:
            a = [steps_to(ours[s]["curve"], target) for s in seeds]
            b = [steps_to(theirs[s]["curve"], target) for s in seeds]
            steps.append(ratio(a, b, rng) if np.isfinite(np.median(a)) and np.isfinite(np.median(b)) else "-")
        out.append(f"| {name} | {len(seeds)} | {held} | {score} | " + " | ".join(steps) + " |")
    return out


def latency(names: list[str], n_history: int = 500, reps: int = 3) -> dict[str, float]:
    """Milliseconds for a batch of 4 with ``n_history`` runs behind it, as the loop calls a proposer it keeps:
    each call sees the 4 runs of the previous batch as new."""
    from autopilot.experiment.schema import ProposerSpec
    from autopilot.proposers.registry import make_proposer
    from autopilot.testing import context, random_history  # a synthetic history over the default space

    history = random_history(n_history + 4 * reps)
    out = {}
    for name in names:
        proposer = make_proposer(name)
        proposer.propose(
            history[: n_history - 4], 4, context(seed=1, options=ProposerSpec())
        )  # the batch before, and warm imports
        start = time.perf_counter()
        for r in range(reps):
            proposer.propose(history[: n_history + 4 * r], 4, context(seed=2 + r, options=ProposerSpec()))
        out[name] = (time.perf_counter() - start) / reps * 1000
    return out


def ci(values: list[float]) -> str:
    finite = [v for v in values if np.isfinite(v)]
    if len(finite) < len(values):
        return f"median {np.median(values):.3g} ({len(values) - len(finite)} of {len(values)} never reached)"
    interval = bootstrap_mean(np.asarray(finite))
    return f"{np.median(finite):.3g} (mean {interval.mean:.3g}, 95% CI {interval.low:.3g}..{interval.high:.3g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proposers", nargs="+", default=["random", "tpe", "ga", "hybrid", "protein"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2_000_000)
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument(
        "--target",
        type=float,
        nargs="+",
        help="success levels to reach (default: the 90th and 98th percentile of random's trials); e.g. the "
        "recorded landscape's, from `python -m benchmarks.recorded`",
    )
    parser.add_argument(
        "--loop-budget",
        choices=["trials", "steps"],
        default="trials",
        help="the loop's studies run --trials N (default) or --budget-steps N x --steps, the budget Optuna's gets",
    )
    parser.add_argument("--first-seed", type=int, default=0, help="study seeds FIRST .. FIRST + SEEDS - 1")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="set a dotted key of each loop study's autopilot.yaml (a YAML value): early_stopping.keep_fraction=0.33",
    )
    parser.add_argument("--out", default="benchmarks/results/bench")
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--latency", nargs="*", help="proposers to time (default: --proposers but protein)")
    parser.add_argument("--adopt", nargs="*", default=[], metavar="NAME:SEED:DIR", help="count a finished study")
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    settings = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--set {item!r}: expected KEY=VALUE, e.g. early_stopping.keep_fraction=0.33")
        settings[key] = yaml.safe_load(value)
    lines = [
        *header(),
        "",
    ]
    if not args.latency_only:
        # Every study's figures go to OUT.jsonl as it ends; a re-run skips the studies already there, so a long
        # benchmark can be stopped and resumed. Seed-major order: a stopped run still has paired studies.
        done_path = Path(f"{args.out}.jsonl")
        done_path.parent.mkdir(parents=True, exist_ok=True)
        results = [json.loads(line) for line in done_path.read_text().splitlines()] if done_path.exists() else []
        for spec in args.adopt:  # NAME:SEED:DIR, a study whose workspace already exists
            name, seed_text, folder = spec.split(":", 2)
            results.append(summarize(Path(folder), name, int(seed_text), 0, float("nan")))
            with done_path.open("a") as out:
                out.write(json.dumps(results[-1]) + "\n")
        with tempfile.TemporaryDirectory() as tmp:
            for seed in seeds:
                for name in args.proposers:
                    if any(r["proposer"] == name and r["seed"] == seed for r in results):
                        continue
                    r = study(
                        Path(tmp) / f"{name}-{seed}",
                        name,
                        seed,
                        args.trials,
                        args.batch_size,
                        args.steps,
                        args.episodes,
                        by_steps=args.loop_budget == "steps",
                        settings=settings,
                    )
                    print(
                        f"{name} seed {seed}: exit {r['exit_code']}, {r['trials']} trials ({r['pruned']} pruned), "
                        f"{r['steps_used']:,} "
                        f"steps; champion {r['best']:.3f}, held-out {r['held_out']}; {r['wall_s']:.0f}s",
                        flush=True,
                    )
                    results.append(r)
                    with done_path.open("a") as out:
                        out.write(json.dumps(r) + "\n")
        results = [r for r in results if r["proposer"] in args.proposers and r["seed"] in seeds]
        budget = args.trials * args.steps
        targets = args.target if args.target is not None else landscape_targets(results)
        lines += [
            f"Budget: {args.trials} trials x {args.steps:,} steps = {budget:,} environment steps per study; "
            f"{args.seeds} study seeds; targets (success_rate) {', '.join(f'{t:.3f}' for t in targets)}"
            + (
                ""
                if args.target is not None or len(targets) < 2
                else ": the 90th and 98th percentile of random's trials"
            )
            + ".",
            "",
            "| proposer | champion's success_rate at budget | champion's held-out success | steps to "
            f"{targets[0]:.3f} | AUC of champion-so-far | per study: exit code, trials, steps |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        fig = Figure(figsize=(8, 4))
        ax = fig.subplots()
        for name in args.proposers:
            rs = [r for r in results if r["proposer"] == name]
            if not rs:
                lines.append(f"| {name} | not run | - | - | - | - |")
                continue
            held = [r["held_out"] for r in rs if r["held_out"] is not None]
            lines.append(
                f"| {name} | {ci([r['best'] for r in rs])} | {ci(held) if held else '-'} | "
                f"{ci([steps_to(r['curve'], targets[0]) for r in rs])} | "
                f"{ci([auc(r['curve'], budget) for r in rs])} | "
                + "; ".join(f"{r['exit_code']}, {r['trials']} ({r['pruned']} pruned), {r['steps_used']:,}" for r in rs)
                + " |"
            )
            grid = np.linspace(0, budget, 50)
            mean = np.mean([[([b for s, b in r["curve"] if s <= g] or [0.0])[-1] for g in grid] for r in rs], axis=0)
            ax.step(grid, mean, where="post", label=name)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(f"champion's success_rate (mean of {args.seeds} seeds)")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.savefig(f"{args.out}.png", dpi=90, bbox_inches="tight")
        lines += paired_lines(results, args.proposers, targets)
        lines += retrained_lines(results)
        overhead = [o for r in results for o in r["overhead"]]
        trainer = [t for r in results for t in r["trainer"]]
        if trainer:
            lines += [
                "",
                f"Loop overhead outside the trainer process: median {np.median(overhead):.2f} s per trial, "
                f"{sum(overhead) / sum(trainer):.1%} of trainer time ({len(trainer)} trials).",
            ]
    names = args.latency or [n for n in args.proposers if n not in ("protein", OPTUNA)]
    lat = latency(names)
    lines += [
        "",
        "Proposer latency, batch of 4 with a 500-run history: "
        + ", ".join(f"{n} {ms:.0f} ms" for n, ms in lat.items())
        + ".",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
