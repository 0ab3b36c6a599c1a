"""Tuning benchmark on a surrogate of the built-in task, fitted to real recorded runs (benchmarks/data/drone_runs.jsonl,
made by benchmarks/record_runs.py): every proposer runs whole studies, in minutes instead of hours.

    .venv/bin/python -m benchmarks.bench_surrogate --seeds 20 --trials 32 --batch-size 4 --target 0.5

Peers, each run the way its users run it: a registered proposer through the same simulated loop (NAME, and
NAME+sha with the loop's successive halving, NAME+optuna_sha with Optuna's SuccessiveHalvingPruner replayed),
``optuna_tpe_hyperband`` (a plain Optuna study: TPE with HyperbandPruner, a trial at a time, its best_trial
handed over) and ``ray_asha`` (Ray Tune: random search with ASHAScheduler, its best result handed over).

The surrogate: a config's true held-out success is a kernel-weighted average of the recorded runs' held-out
success, over the tune space scaled to [0, 1] (log keys on a log scale); the bandwidth is chosen by
leave-one-out error, and the fit is reported as the leave-one-out rank correlation on the recorded runs. A
simulated trial's evaluation draws that many episodes (Binomial) from its true success, so the promotion rule
sees the noise a real evaluation has. Each study is judged by what the tool would hand its user: the
champion picked by the promotion rule (confirmation re-runs queued as the loop queues them, and counted
against the budget), at its true success. Figures are medians over study seeds with paired (by study seed)
bootstrap intervals of the difference against the default proposer.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.analysis.early_stopping import SuccessiveHalvingPruner
from autopilot.analysis.promotion import confirmations_due, decide, final_reruns, reserve_trials
from autopilot.experiment import presets
from autopilot.experiment.schema import ProposerSpec
from autopilot.objective import Objective
from autopilot.proposers.auto import AutoProposer
from autopilot.proposers.base import Context
from autopilot.proposers.optuna_samplers import TPEProposer
from autopilot.proposers.registry import make_proposer
from autopilot.workspace.records import RunRecord, RunView
from benchmarks.aa_promotion import make_run
from benchmarks.provenance import header
from benchmarks.surrogate import SPACE, Surrogate, first_random_runs, load_runs, random_configs, recorded_set


def simulate(
    surrogate: Surrogate, overrides: dict[str, Any], steps: int, rng: np.random.Generator
) -> tuple[float, list[dict[str, Any]]]:
    """One simulated training: the success it reaches on its seed and its metrics lines (a real neighbour's
    curve, shifted to that success, with the episodes behind each point)."""
    achieved, curve = surrogate.train(overrides, rng)
    lines = [
        {"step": max(1, int(f * steps)), "metrics": {"success_rate": v, "environment/episodes": e}} for f, v, e in curve
    ]
    return achieved, lines


def one_study(
    name: str, seed: int, surrogate: Surrogate, trials: int, batch: int, steps: int, episodes: int, runs: Path
) -> dict[str, Any]:
    """One study with a budget of ``trials`` full trials' worth of environment steps. ``NAME+sha``: the same
    proposer with the loop's successive-halving pruner on the simulated learning curves (a pruned trial costs
    the steps it ran, and the budget buys more trials)."""
    proposer_name, _, variant = name.partition("+")
    rng = np.random.default_rng([seed, 7])
    objective = Objective()
    context = Context(
        space=SPACE,
        objective=objective,
        baseline=surrogate.baseline,
        options=ProposerSpec(),
        seed=seed,
        budget_trials=trials,
    )
    pruner = PRUNERS[variant](steps) if variant else None
    proposer = VARIANTS[proposer_name]() if proposer_name in VARIANTS else make_proposer(proposer_name)
    budget = trials * steps
    history: list[RunView] = []
    curves: dict[str, list[dict[str, Any]]] = {}
    truth: dict[str, float] = {}
    pruned_truth: list[float] = []
    curve: list[tuple[int, float]] = []
    used_steps, latency = 0, []
    while used_steps < budget:
        promotion = decide(history, objective, runs)
        pending_confirms = confirmations_due(history, promotion)
        trials_left = (budget - used_steps) // steps  # full trials the budget still buys
        if not pending_confirms and trials_left <= reserve_trials(trials):
            pending_confirms = final_reruns(promotion, max(1, trials_left))  # the loop's reserve
        if pending_confirms:  # the loop runs queued confirmations before anything new
            parent = next(v for v in history if v.id == pending_confirms[0])
            todo: list[tuple[dict[str, Any], str | None]] = [(dict(parent.overrides), parent.id)]
        else:
            started = time.perf_counter()
            room = trials_left - reserve_trials(trials) if trials_left > reserve_trials(trials) else batch
            proposals = proposer.propose(history, max(1, min(batch, room)), context)  # the loop's reserve
            latency.append(time.perf_counter() - started)
            todo = [(p.overrides, None) for p in proposals if SPACE.validate(p.overrides, surrogate.baseline).ok]
            if not todo:
                break
        for overrides, parent_id in todo:
            if used_steps >= budget:
                break
            achieved, lines = simulate(surrogate, overrides, steps, rng)
            i = len(history) + 1
            exempt = pruner is None or parent_id or (hasattr(pruner, "exempt") and pruner.exempt(i))
            stopped = None if exempt else prune_point(pruner, lines, steps, list(curves.values()))
            if stopped is not None:
                view = pruned_run(i, overrides)
                pruned_truth.append(surrogate.true_success(overrides))
                curves[view.id] = lines[: stopped + 1]
                used_steps += lines[stopped]["step"]
            else:
                p = surrogate.true_success(overrides)
                view = make_run(runs, i, rng.random(episodes) < achieved, parent_id, overrides, steps)
                truth[view.id] = p
                curves[view.id] = lines
                used_steps += steps
            history.append(view)
            champion = decide(history, objective, runs).champion
            curve.append((used_steps, truth[champion.id] if champion else 0.0))
    champion = decide(history, objective, runs).champion
    return {
        "proposer": name,
        "seed": seed,
        "exit_code": 0,
        "trials": len(history),
        "pruned": sum(v.state == "pruned" for v in history),
        "steps_used": used_steps,
        "champion_true": truth[champion.id] if champion else 0.0,
        "best_true_seen": max(truth.values(), default=0.0),
        # Pruned trials that were better than every trial that completed: the pruner stopped the eventual best.
        "pruned_the_best": any(p > max(truth.values(), default=0.0) for p in pruned_truth),
        "curve": curve,
        "latency_ms": 1000 * float(np.median(latency)) if latency else 0.0,
    }


def optuna_hyperband_study(seed: int, surrogate: Surrogate, trials: int, steps: int, episodes: int) -> dict[str, Any]:
    """Optuna as its users run it: one study, TPE with ``HyperbandPruner``, a trial at a time: ask, report the
    learning curve, ``should_prune``, tell the evaluation's success; the user is handed ``study.best_trial``."""
    import optuna
    from optuna.trial import TrialState

    from autopilot.proposers.optuna_samplers import distributions, startup_trials

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng([seed, 11])
    study = optuna.create_study(
        # Hyperband assigns trials to brackets by a hash of the study's name: a fixed name makes the study
        # reproducible (Optuna's docs ask for one); unnamed, each run drew its own assignment.
        study_name=f"optuna-tpe-hyperband-{seed}",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(
            seed=seed, multivariate=True, n_startup_trials=startup_trials_for(trials, startup_trials)
        ),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=RESOURCES),
    )
    dists = distributions(SPACE)
    budget = trials * steps
    used, curve, truth = 0, [], {}
    while used < budget:
        trial = study.ask(dists)
        overrides = dict(trial.params)
        achieved, lines = simulate(surrogate, overrides, steps, rng)
        pruned = False
        for resource, step, value in resource_points(lines, steps):
            trial.report(value, resource)
            if trial.should_prune():
                used += step
                study.tell(trial, state=TrialState.PRUNED)
                pruned = True
                break
        if not pruned:
            used += steps
            truth[trial.number] = surrogate.true_success(overrides)
            study.tell(trial, float(np.mean(rng.random(episodes) < achieved)))  # the evaluation's success rate
        done = [t for t in study.trials if t.state == TrialState.COMPLETE]
        curve.append((used, truth[study.best_trial.number] if done else 0.0))
    return {
        "proposer": "optuna_tpe_hyperband",
        "seed": seed,
        "exit_code": 0,
        "trials": len(study.trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in study.trials),
        "steps_used": used,
        "champion_true": truth[study.best_trial.number] if truth else 0.0,
        "best_true_seen": max(truth.values(), default=0.0),
        "pruned_the_best": None,
        "curve": curve,
        "latency_ms": 0.0,
    }


# Candidate settings of the default, measured before one becomes it (NAME+PRUNER works with these too).
VARIANTS: dict[str, Any] = {
    "auto_near": lambda: AutoProposer(near_share=0.5, startup_fraction=0.2),  # half the start-up near the baseline
    "auto_sobol": lambda: AutoProposer(startup_fraction=0.2),  # a fifth of the budget as start-up
    "auto_quarter": lambda: AutoProposer(near_share=0.25, startup_fraction=0.2),
    "auto_tpe": lambda: AutoProposer(startup_fraction=0.0, model=TPEProposer()),  # TPE's own random start-up
}

RESOURCES = 20  # Optuna's and Tune's resource: twentieths of the step budget


def resource_points(lines: list[dict[str, Any]], steps: int) -> list[tuple[int, int, float]]:
    """(resource, step, value): the last metrics line in each twentieth of the budget, as a trial reports
    once per resource unit to Optuna's and Tune's pruners."""
    out: dict[int, tuple[int, float]] = {}
    for x in lines:
        resource = min(RESOURCES, max(1, math.ceil(RESOURCES * x["step"] / steps)))
        out[resource] = (int(x["step"]), float(x["metrics"]["success_rate"]))
    return [(r, step, v) for r, (step, v) in sorted(out.items())]


def startup_trials_for(trials: int, rule: Any) -> int:
    """The same random start-up the tool's TPE uses for this budget."""
    return int(rule(Context(SPACE, Objective(), {}, ProposerSpec(), seed=0, budget_trials=trials)))


def ray_asha_study(seed: int, surrogate: Surrogate, trials: int, batch: int, steps: int, runs: Path) -> dict[str, Any]:
    """Ray Tune as its users run it: random search (``BasicVariantGenerator``) with ``ASHAScheduler`` over the
    simulated learning curves, ``batch`` trials at a time, stopped once the study has used the step budget; the
    user is handed ``get_best_result(scope="last")``, the trial with the best last reported value."""
    import os

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local study: no token file left in ~/.ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    budget = trials * steps
    space: dict[str, Any] = {}
    for name, p in sorted(SPACE.params.items()):
        if not p.tunable:
            continue
        if p.type in ("bool", "categorical"):
            space[name] = tune.choice([False, True] if p.type == "bool" else list(p.choices))
            continue
        low, high = p.tune_bounds()
        if p.type == "pow2":
            powers = range(math.ceil(math.log2(max(low, 1))), int(math.log2(high)) + 1)
            space[name] = tune.choice([2**k for k in powers])
        elif p.type == "int":
            space[name] = (tune.lograndint if p.scale == "log" and low > 0 else tune.randint)(int(low), int(high) + 1)
        else:
            space[name] = (tune.loguniform if p.scale == "log" and low > 0 else tune.uniform)(float(low), float(high))
    used: dict[str, int] = {}
    last: dict[str, tuple[float, dict[str, Any]]] = {}
    curve: list[tuple[int, float]] = []

    class Budget(tune.Stopper):
        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            used[trial_id] = int(result["steps"])
            last[trial_id] = (float(result["success_rate"]), dict(result["config"]))
            best = max(last.values(), key=lambda t: t[0])
            curve.append((sum(used.values()), surrogate.true_success(best[1])))
            return False

        def stop_all(self) -> bool:
            return sum(used.values()) >= budget

    def trainable(config: dict[str, Any]) -> None:
        rng = np.random.default_rng([seed, abs(hash(json.dumps(config, sort_keys=True))) % 2**31])
        _, lines = simulate(surrogate, config, steps, rng)
        for _, step, value in resource_points(lines, steps):
            tune.report({"success_rate": value, "steps": step})

    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 2 / batch}),
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="success_rate",
            mode="max",
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=RESOURCES, grace_period=2),
            search_alg=BasicVariantGenerator(random_state=seed, max_concurrent=batch),
            num_samples=8 * trials,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(stop=Budget(), storage_path=str(runs), verbose=0),
    )
    results = tuner.fit()
    best = results.get_best_result(metric="success_rate", mode="max", scope="last")
    champion = surrogate.true_success(best.config or {})
    every = [results[i] for i in range(len(results))]
    finished = [
        r for r in every if r.metrics and int(r.metrics.get("steps", 0)) >= steps * (RESOURCES - 1) // RESOURCES
    ]
    return {
        "proposer": "ray_asha",
        "seed": seed,
        # fit() returned with a best result: the study ran. Tune lists the trials the budget's stop_all cut
        # before their first report as errors (no result file); they are not failures of the study.
        "exit_code": 0,
        "unstarted": len(results.errors),
        "trials": len(results),
        "pruned": len(results) - len(finished),
        "steps_used": sum(used.values()),
        "champion_true": champion,
        "best_true_seen": max((surrogate.true_success(c) for _, c in last.values()), default=0.0),
        "pruned_the_best": None,  # not told apart: Tune's trials cut by the budget's stop_all look the same
        "curve": curve,
        "latency_ms": 0.0,
    }


class OptunaSuccessiveHalving:
    """Optuna's ``SuccessiveHalvingPruner`` asked the loop's question: the finished and pruned trials are replayed
    into a study with their intermediate values and the rung values Optuna would have recorded for them
    (``completed_rung_k``: the value at the first step past each rung), this trial's lines are reported, then
    ``should_prune``."""

    def __init__(self, steps: int, reduction_factor: int = 2) -> None:
        self.min_resource = max(1, steps // 8)
        self.reduction_factor = reduction_factor

    def rung_values(self, lines: list[dict[str, Any]]) -> dict[str, float]:
        out: dict[str, float] = {}
        rung = 0
        for x in lines:
            while int(x["step"]) >= self.min_resource * self.reduction_factor**rung:
                out[f"completed_rung_{rung}"] = float(x["metrics"]["success_rate"])
                rung += 1
        return out

    def prune(self, lines: list[dict[str, Any]], total: int, peers: list[list[dict[str, Any]]]) -> str | None:
        import optuna
        from optuna.trial import TrialState, create_trial

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        pruner = optuna.pruners.SuccessiveHalvingPruner(
            min_resource=self.min_resource, reduction_factor=self.reduction_factor
        )
        study = optuna.create_study(direction="maximize", pruner=pruner)
        for peer in peers:
            values = {int(x["step"]): float(x["metrics"]["success_rate"]) for x in peer}
            done = max(values) >= total
            study.add_trial(
                create_trial(
                    state=TrialState.COMPLETE if done else TrialState.PRUNED,
                    value=values[max(values)] if done else None,
                    intermediate_values=values,
                    system_attrs=self.rung_values(peer),
                )
            )
        trial = study.ask()
        for key, value in self.rung_values(lines[:-1]).items():  # rungs it passed before this line
            study._storage.set_trial_system_attr(trial._trial_id, key, value)
        for x in lines:
            trial.report(float(x["metrics"]["success_rate"]), int(x["step"]))
        return "optuna successive halving" if trial.should_prune() else None


# Variants of a proposer: NAME+sha (the loop's successive halving, its default rungs), NAME+sha3 (rungs at a
# quarter, half and three quarters), NAME+optuna_sha (Optuna's).
PRUNERS: dict[str, Any] = {
    "sha": lambda steps: SuccessiveHalvingPruner("success_rate"),
    "sha3": lambda steps: SuccessiveHalvingPruner("success_rate", rungs=(0.25, 0.5, 0.75)),
    "sha_a": lambda steps: SuccessiveHalvingPruner("success_rate", rungs=(0.1, 0.25, 0.5, 0.75), min_delta=0.0),
    "sha_b": lambda steps: SuccessiveHalvingPruner(
        "success_rate", rungs=(0.1, 0.25, 0.5, 0.75), keep_fraction=1 / 3, min_delta=0.0
    ),
    "sha_c": lambda steps: SuccessiveHalvingPruner("success_rate", rungs=(0.25, 0.5, 0.75), min_delta=0.01),
    # noise-aware: rank only, 2 standard errors, rungs at a third, half and three quarters, 1 trial in 4 exempt
    "nsha": lambda steps: SuccessiveHalvingPruner(
        "success_rate", rungs=(1 / 3, 0.5, 0.75), min_delta=0.0, min_se=2.0, exempt_every=4
    ),
    "nsha1": lambda steps: SuccessiveHalvingPruner(
        "success_rate", rungs=(1 / 3, 0.5, 0.75), min_delta=0.0, min_se=1.0, exempt_every=4
    ),
    # the same, ranking by a denser early signal: success plus half the carry rate and a quarter of the grip rate
    "nsha_dense": lambda steps: SuccessiveHalvingPruner(
        "success_rate",
        rungs=(1 / 3, 0.5, 0.75),
        min_delta=0.0,
        min_se=2.0,
        exempt_every=4,
        signal=(("success_rate", 1.0), ("carry_rate", 0.5), ("grip_rate", 0.25)),
    ),
    "optuna_sha": OptunaSuccessiveHalving,
}
# nsha_dense keeping a third at each rung (Hyperband's reduction factor 3): a candidate, measured and rejected
PRUNERS["nsha_dense_k33"] = lambda steps: replace(PRUNERS["nsha_dense"](steps), keep_fraction=1 / 3)


def prune_point(pruner: Any, lines: list[dict[str, Any]], steps: int, peers: list[list[dict[str, Any]]]) -> int | None:
    """The index of the line at which the pruner stops this trial, or None: asked after every line, as the
    local executor asks every few seconds."""
    for k in range(len(lines)):
        if pruner.prune(lines[: k + 1], steps, peers):
            return k
    return None


def pruned_run(i: int, overrides: dict[str, Any]) -> RunView:
    record = RunRecord(id=f"2026-01-01T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z-{i:06x}", case_id=f"c{i}")
    record.state = "pruned"
    return RunView(record, overrides, None)


def steps_to(curve: list[tuple[int, float]], target: float) -> float:
    return next((float(s) for s, b in curve if b >= target), math.inf)


def auc(curve: list[tuple[int, float]], budget: int) -> float:
    """Area under the best-so-far curve over [0, budget], normalised to [0, 1] (a last trial may overrun)."""
    area, prev_s, prev_b = 0.0, 0, 0.0
    for s, b in curve:
        area += (min(s, budget) - prev_s) * prev_b
        prev_s, prev_b = min(s, budget), b
    return (area + (budget - prev_s) * prev_b) / budget


def paired(ours: list[float], theirs: list[float], rng: np.random.Generator) -> str:
    """Median of the paired differences (ours - theirs) with a bootstrap 95% interval."""
    d = np.asarray(ours) - np.asarray(theirs)
    finite = np.where(np.isfinite(d), d, np.sign(d) * 1e18)
    boots = [np.median(finite[rng.integers(0, len(d), len(d))]) for _ in range(2000)]
    low, high = np.quantile(boots, [0.025, 0.975])
    return f"{np.median(finite):+.3g} [{low:+.3g}, {high:+.3g}]"


def ratio(ours: list[float], theirs: list[float], rng: np.random.Generator) -> str:
    """median(ours) / median(theirs), with a paired bootstrap 95% interval."""
    a, b = np.asarray(ours), np.asarray(theirs)
    point = np.median(a) / np.median(b)
    boots = []
    for _ in range(2000):
        idx = rng.integers(0, len(a), len(a))
        boots.append(np.median(a[idx]) / np.median(b[idx]))
    low, high = np.quantile(boots, [0.025, 0.975])
    return f"{point:.2f}x [{low:.2f}, {high:.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--proposers",
        nargs="+",
        # The first is the default a user gets, with the loop's early stopping (on for a budgeted study); then
        # the peers as their users run them.
        default=["auto+nsha", "optuna_tpe_hyperband", "random", "tpe+sha", "hybrid+sha"],
        help="NAME (a registered proposer), NAME+PRUNER (" + ", ".join(PRUNERS) + "), optuna_tpe_hyperband, ray_asha",
    )
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="study seeds FIRST..FIRST+SEEDS-1 (develop on 0-59, report on 100+)"
    )
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=256, help="evaluation episodes per simulated trial")
    parser.add_argument(
        "--half", choices=["all", "A", "B"], default="all", help="fit to this half of the recorded configs only"
    )
    parser.add_argument("--replicates", type=int, help="use the first N lines of the replicate data (default all)")
    parser.add_argument(
        "--random-sets", type=int, help="use the first N recorded random sets (default all; 2 before v3 was recorded)"
    )
    parser.add_argument("--refit", type=int, help="fit to a bootstrap resample of the configs (its seed)")
    parser.add_argument(
        "--add-data",
        type=recorded_set,
        nargs="+",
        default=[],
        help="recorded sets to fit on besides the default ones (e.g. benchmarks/data/drone_runs_v4.jsonl)",
    )
    parser.add_argument("--out", type=Path, help="write the per-study results as JSON here")
    args = parser.parse_args()
    runs_data = load_runs(replicates=args.replicates, random_sets=args.random_sets)
    runs_data += load_runs(tuple(args.add_data)) if args.add_data else []
    steps = int(np.median([r.steps for r in runs_data]))
    baseline = presets.baseline_config("builtin", "drone_delivery", "quick")
    baseline["train"]["total_timesteps"] = steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn notes length scales at their bound: a key that does not matter
        surrogate = Surrogate(runs_data, baseline, half=args.half, bootstrap=args.refit)
    fit = surrogate.fidelity(random_configs(2000), first_random_runs(runs_data))
    targets = (fit["p90"], fit["p98"])
    print("\n".join(header()))
    print(
        f"surrogate: {fit['runs']} recorded runs of ~{steps:,} steps, {fit['configs']} configs "
        f"({fit['replicated_configs']} on 2+ seeds), half {args.half}, refit {args.refit}; leave-one-out Spearman "
        f"{fit['loo_spearman']:.3f}, MAE {fit['loo_mae']:.3f}, top-decile recall {fit['top_decile_recall']:.2f}; "
        f"seed noise (success, logit sd) {fit['seed_sd_logit']}"
    )
    for label, d in (("data, random runs", fit["data_random"]), ("surrogate, random configs", fit["random_seen"])):
        print(f"  {label}: median {d['median']:.3f}, share above 0.5 {d['above_0.5']:.2f}, max {d['max']:.3f}")
    print(f"  length scales (large = the key hardly matters): {fit['length_scales']}")
    print(f"  targets: the landscape's 90th percentile {targets[0]:.3f}, 98th {targets[1]:.3f}")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.proposers:
            started = time.monotonic()
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                runs = Path(tmp) / f"{name}-{seed}"
                if name == "optuna_tpe_hyperband":
                    study = optuna_hyperband_study(seed, surrogate, args.trials, steps, args.episodes)
                elif name == "ray_asha":
                    study = ray_asha_study(seed, surrogate, args.trials, args.batch_size, steps, runs)
                else:
                    study = one_study(name, seed, surrogate, args.trials, args.batch_size, steps, args.episodes, runs)
                results.append(study)
            print(f"  {name}: {args.seeds} studies in {time.monotonic() - started:.0f} s", flush=True)
    budget = args.trials * steps
    rng = np.random.default_rng(0)
    default = args.proposers[0]
    base = {r["seed"]: r for r in results if r["proposer"] == default}
    print(
        f"\nbudget {args.trials} trials x {steps:,} steps = {budget:,} steps; study seeds {args.first_seed}-"
        f"{args.first_seed + args.seeds - 1}; differences are {default} minus the peer, paired by study seed; "
        f"steps to a target count a study that never reached it as twice the budget ({2 * budget:,})"
    )
    print(
        f"| proposer | champion's true success (median) | {default} minus peer | champion / best tried | "
        f"steps to p90 | {default} / peer | steps to p98 | {default} / peer | studies |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")

    def capped(r: dict[str, Any], target: float) -> float:
        return min(steps_to(r["curve"], target), 2.0 * budget)

    for name in args.proposers:
        rs = sorted((r for r in results if r["proposer"] == name), key=lambda r: r["seed"])
        champ = [r["champion_true"] for r in rs]
        ours = [base[r["seed"]] for r in rs]
        share = [r["champion_true"] / r["best_true_seen"] if r["best_true_seen"] else 1.0 for r in rs]
        cells = []
        for target in targets:
            reach = [capped(r, target) for r in rs]
            never = sum(x >= 2.0 * budget for x in reach)
            versus = "-" if name == default else ratio([capped(o, target) for o in ours], reach, rng)
            cells += [f"{np.median(reach):.3g} ({never} never)", versus]
        pruned = sum(r["pruned"] for r in rs)
        lost = "n/a" if any(r["pruned_the_best"] is None for r in rs) else sum(r["pruned_the_best"] for r in rs)
        studies = (
            f"exit codes {sorted({r['exit_code'] for r in rs})}; {min(r['trials'] for r in rs)}-"
            f"{max(r['trials'] for r in rs)} trials, {pruned} pruned (the best pruned in {lost}); "
            f"{max(r['steps_used'] for r in rs):,} steps max"
        )
        versus = "-" if name == default else paired([o["champion_true"] for o in ours], champ, rng)
        print(
            f"| {name} | {np.median(champ):.3f} | {versus} | {np.median(share):.2f} | {' | '.join(cells)} | {studies} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"fidelity": fit, "studies": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
