"""Tuning benchmark on a surrogate of the built-in task, fitted to real recorded runs (benchmarks/data/, made by
benchmarks/record_runs.py): whole studies in seconds instead of hours, each run by the product's own loop.

    .venv/bin/python -m benchmarks.bench_surrogate --first-seed 100 --seeds 100

A study of a registered proposer (NAME) is ``autopilot run --budget-steps`` on a workspace of the built-in task,
its trials trained by a simulated backend (benchmarks/simulated.py) instead of the PufferLib driver: the
product's scheduler, early-stopping rule and signal, one proposal per free worker, the objective's evaluation
episodes and the pick, unchanged. ``NAME+nostop`` turns early stopping off; ``NAME+success`` ranks trials at the
rungs by success alone instead of the shipped signal (``LOOP_VARIANTS`` has the early-stopping variants). Peers as
their users run them: ``optuna_tpe_hyperband`` (a plain Optuna study: TPE with HyperbandPruner, a trial at a
time, its best_trial handed over), ``dehb`` (DEHB over three fidelities, its incumbent handed over) and
``ray_asha`` (Ray Tune: random search with ASHAScheduler, its best result handed over).

The surrogate (benchmarks/surrogate.py): a Gaussian process over the tune space on the logit of held-out
success, seed noise measured on replicated configs, and real learning curves (success, grip, carry) of a
recorded neighbour shifted to the simulated trial's success. A trial's evaluation draws its episodes from its
success. Each study is judged by what the tool hands its user: its champion, at its true success (averaged
over training seeds), and by the area under the champion-so-far true-success curve over the step budget.
Figures are medians over study seeds with paired (by study seed) bootstrap intervals against the first
proposer.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.experiment import presets
from autopilot.experiment.schema import ProposerSpec
from autopilot.objective import Objective
from autopilot.proposers.base import Context
from benchmarks.landscapes import LANDSCAPES
from benchmarks.provenance import header
from benchmarks.simulated import simulated_study
from benchmarks.surrogate import (
    SPACE,
    Surrogate,
    SurrogateModel,
    first_random_runs,
    load_runs,
    random_configs,
    recorded_set,
)


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


def loop_study(name: str, seed: int, trials: int, steps: int, workers: int, work: Path) -> dict[str, Any]:
    """One study of ``autopilot run --budget-steps TRIALS*STEPS`` on the simulated backend (``NAME+VARIANT``:
    the proposer with a variant of the experiment, see ``LOOP_VARIANTS``)."""
    proposer, _, variant = name.partition("+")
    study = simulated_study(
        _LANDSCAPE[0] if _LANDSCAPE else SurrogateModel(_SURROGATE[0]),
        proposer,
        seed,
        work,
        budget_steps=trials * steps,
        steps=steps,
        workers=workers,
        configure=LOOP_VARIANTS[variant] if variant else None,
    )
    return {**study, "proposer": name}


def _no_early_stopping(data: dict[str, Any]) -> None:
    data["early_stopping"]["enabled"] = False


def _rank_by_success(data: dict[str, Any]) -> None:
    data["early_stopping"]["signal"] = {}


def _set(**changes: Any) -> Any:
    def configure(data: dict[str, Any]) -> None:
        data["early_stopping"].update(changes)

    return configure


LOOP_VARIANTS: dict[str, Any] = {
    "nostop": _no_early_stopping,
    "success": _rank_by_success,
    "keep25": _set(keep_fraction=0.25),
    "early": _set(rungs=[0.15, 1 / 3, 0.5, 0.75]),
    "keep25se1": _set(keep_fraction=0.25, min_se=1.0),
    "keep25early": _set(keep_fraction=0.25, rungs=[0.15, 1 / 3, 0.5, 0.75]),
    "keep25se1early": _set(keep_fraction=0.25, min_se=1.0, rungs=[0.15, 1 / 3, 0.5, 0.75]),
}
_SURROGATE: list[Surrogate] = []  # the fitted surrogate, inherited by the worker processes
_LANDSCAPE: list[Any] = []  # or a synthetic landscape (--landscape), a Model of benchmarks/simulated.py


def optuna_hyperband_study(
    seed: int, surrogate: Surrogate | None, trials: int, steps: int, episodes: int
) -> dict[str, Any]:
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
        evaluated, lines, true = peer_training(surrogate, overrides, steps, episodes, rng)
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
            truth[trial.number] = true
            study.tell(trial, evaluated)
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


def peer_training(
    surrogate: Surrogate | None, overrides: dict[str, Any], steps: int, episodes: int, rng: np.random.Generator
) -> tuple[float, list[dict[str, Any]], float]:
    """A peer's trial of ``overrides``: the evaluation's success rate (``episodes`` held-out episodes), the
    metrics lines, and the config's true quality; trained as the loop's simulated backend trains it."""
    if _LANDSCAPE:
        training = _LANDSCAPE[0].train(overrides, steps, episodes, rng)
        evaluated = float(np.mean([bool(e["success"]) for e in training.episodes]))
        return evaluated, training.lines, _LANDSCAPE[0].true_quality(overrides)
    assert surrogate is not None  # the surrogate is fitted whenever no landscape is given
    achieved, lines = simulate(surrogate, overrides, steps, rng)
    return float(np.mean(rng.random(episodes) < achieved)), lines, surrogate.true_success(overrides)


def dehb_study(seed: int, surrogate: Surrogate | None, trials: int, steps: int, episodes: int) -> dict[str, Any]:
    """DEHB (differential evolution with Hyperband, ``pip install dehb``) as its users run it: ask a config and
    a fidelity (steps, three rungs a factor eta = 3 apart), train for that many steps, tell 1 - success at that
    fidelity (the evaluation's at the full budget, the learning curve's below it) with the steps as cost;
    the user is handed ``get_incumbents()``, the best fitness seen at any fidelity."""
    import ConfigSpace as CS
    from loguru import logger

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # dask's distributed warns about pynvml on import
        from dehb import DEHB

    logger.remove()  # DEHB logs every bracket through loguru
    space = CS.ConfigurationSpace(seed=seed)
    for name, p in sorted(SPACE.params.items()):
        if not p.tunable:
            continue
        if p.type in ("bool", "categorical"):
            space.add(CS.Categorical(name, [False, True] if p.type == "bool" else list(p.choices)))
            continue
        low, high = p.tune_bounds()
        log = p.scale == "log" and low > 0
        if p.type == "int":
            space.add(CS.Integer(name, (int(low), int(high)), log=log))
        else:
            space.add(CS.Float(name, (float(low), float(high)), log=log))
    rng = np.random.default_rng([seed, 13])
    with tempfile.TemporaryDirectory() as out:
        optimizer = DEHB(
            cs=space,
            min_fidelity=RESOURCES / 9,
            max_fidelity=RESOURCES,
            eta=3,
            n_workers=1,
            seed=seed,
            output_path=out,
            save_freq=None,
        )
        budget = trials * steps
        used, curve, truth, best = 0, [], {}, None
        count = 0
        while used < budget:
            job = optimizer.ask()
            overrides = dict(job["config"])
            evaluated, lines, true = peer_training(surrogate, overrides, steps, episodes, rng)
            fidelity = float(job["fidelity"])
            cost = round(steps * fidelity / RESOURCES)
            if fidelity >= RESOURCES:
                value = evaluated
            else:
                value = next((v for r, _, v in reversed(resource_points(lines, steps)) if r <= fidelity), 0.0)
            used += cost
            count += 1
            optimizer.tell(job, {"fitness": 1.0 - value, "cost": cost})
            key = json.dumps(overrides, sort_keys=True, default=str)
            truth[key] = true
            incumbent, _ = optimizer.get_incumbents()
            best = json.dumps(dict(incumbent), sort_keys=True, default=str)
            curve.append((used, truth[best]))
    return {
        "proposer": "dehb",
        "seed": seed,
        "exit_code": 0,
        "trials": count,
        "pruned": 0,  # DEHB's low-fidelity jobs are trainings of their own, not stopped ones
        "steps_used": used,
        "champion_true": truth[best] if best else 0.0,
        "best_true_seen": max(truth.values(), default=0.0),
        "pruned_the_best": None,
        "curve": curve,
        "latency_ms": 0.0,
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


def iqm(values: list[float], rng: np.random.Generator) -> str:
    """The interquartile mean (the mean of the middle half; rliable's summary of a few noisy runs) with a
    bootstrap 95% interval over study seeds."""

    def middle_mean(x: np.ndarray) -> float:
        x = np.sort(x)
        cut = len(x) // 4
        return float(np.mean(x[cut : len(x) - cut]))

    a = np.asarray(values)
    boots = [middle_mean(a[rng.integers(0, len(a), len(a))]) for _ in range(2000)]
    low, high = np.quantile(boots, [0.025, 0.975])
    return f"{middle_mean(a):.3f} [{low:.3f}, {high:.3f}]"


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


def run_study(job: tuple[str, int, int, int, int, int, str]) -> dict[str, Any]:
    """One study of one tool on one study seed (in a worker process: the surrogate is inherited)."""
    name, seed, trials, steps, workers, episodes, tmp = job
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        if name == "optuna_tpe_hyperband":
            study = optuna_hyperband_study(seed, _SURROGATE[0] if _SURROGATE else None, trials, steps, episodes)
        elif name == "dehb":
            study = dehb_study(seed, _SURROGATE[0] if _SURROGATE else None, trials, steps, episodes)
        elif name == "ray_asha":
            study = ray_asha_study(seed, _SURROGATE[0], trials, workers, steps, Path(work))
        else:
            study = loop_study(name, seed, trials, steps, workers, Path(work))
    return {**study, "seconds": time.monotonic() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--proposers",
        nargs="+",
        # The first is the default a user gets; then the peers as their users run them.
        default=["auto", "optuna_tpe_hyperband", "random", "tpe"],
        help="NAME (a registered proposer, through the loop), NAME+VARIANT (" + ", ".join(LOOP_VARIANTS) + "), "
        "optuna_tpe_hyperband, dehb, ray_asha",
    )
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="study seeds FIRST..FIRST+SEEDS-1 (develop on 0-59, report on 100+)"
    )
    parser.add_argument("--trials", type=int, default=32, help="the step budget, in trials of the baseline's length")
    parser.add_argument("--workers", type=int, default=1, help="trials at once (the loop's resources.workers)")
    parser.add_argument(
        "--episodes", type=int, default=512, help="evaluation episodes of a peer's trial (the loop: its objective's)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="studies run at once (processes)")
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
    parser.add_argument(
        "--landscape",
        choices=sorted(LANDSCAPES),
        help="a synthetic landscape of another shape instead of the surrogate (benchmarks/landscapes.py)",
    )
    args = parser.parse_args()
    if args.landscape:
        return landscape_main(args)
    runs_data = load_runs(replicates=args.replicates, random_sets=args.random_sets)
    runs_data += load_runs(tuple(args.add_data)) if args.add_data else []
    steps = int(np.median([r.steps for r in runs_data]))
    baseline = presets.baseline_config("builtin", "drone_delivery", "quick")
    baseline["train"]["total_timesteps"] = steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn notes length scales at their bound: a key that does not matter
        surrogate = Surrogate(runs_data, baseline, half=args.half, bootstrap=args.refit)
    _SURROGATE[:] = [surrogate]
    fit = surrogate.fidelity(random_configs(2000), first_random_runs(runs_data))
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
    results = run_all(args, steps)
    print_table(results, args.proposers, args.trials * steps, args)
    if args.out:
        args.out.write_text(json.dumps({"fidelity": fit, "studies": results}))
    return 0


def landscape_main(args: argparse.Namespace) -> int:
    """The same comparison on a synthetic landscape (no surrogate is fitted)."""
    _LANDSCAPE[:] = [LANDSCAPES[args.landscape]()]
    steps = 2_500_000
    print("\n".join(header()))
    print(f"landscape: {args.landscape}: {' '.join((LANDSCAPES[args.landscape].__doc__ or '').split())}")
    results = run_all(args, steps)
    print_table(results, args.proposers, args.trials * steps, args)
    if args.out:
        args.out.write_text(json.dumps({"landscape": args.landscape, "studies": results}))
    return 0


def run_all(args: argparse.Namespace, steps: int) -> list[dict[str, Any]]:
    """Every tool's studies on every study seed, ``--jobs`` at a time."""
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.proposers:
            jobs = [(name, seed, args.trials, steps, args.workers, args.episodes, tmp) for seed in seeds]
            started = time.monotonic()
            if name == "ray_asha" or args.jobs <= 1:
                done = [run_study(job) for job in jobs]
            else:
                with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
                    done = pool.map(run_study, jobs)
            results += done
            per = np.median([r["seconds"] for r in done])
            took = time.monotonic() - started
            print(f"  {name}: {len(done)} studies in {took:.0f} s ({per:.1f} s a study)", flush=True)
    return results


def print_table(results: list[dict[str, Any]], names: list[str], budget: int, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    default = names[0]
    base = {r["seed"]: r for r in results if r["proposer"] == default}
    print(
        f"\nbudget {args.trials} trials x {budget // args.trials:,} steps = {budget:,} steps, {args.workers} "
        f"worker(s); study seeds {args.first_seed}-{args.first_seed + args.seeds - 1}; differences are {default} "
        "minus the peer, paired by study seed (median, bootstrap 95% interval); anytime area: the champion-so-far's "
        "true success averaged over the step budget"
    )
    print(
        f"| tool | champion's true success | IQM | {default} minus tool | champion / best tried | anytime area | "
        f"{default} minus tool | studies |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        rs = sorted((r for r in results if r["proposer"] == name), key=lambda r: r["seed"])
        ours = [base[r["seed"]] for r in rs]
        champ = [r["champion_true"] for r in rs]
        area = [auc(r["curve"], budget) for r in rs]
        share = [r["champion_true"] / r["best_true_seen"] if r["best_true_seen"] else 1.0 for r in rs]
        versus = "-" if name == default else paired([o["champion_true"] for o in ours], champ, rng)
        versus_area = "-" if name == default else paired([auc(o["curve"], budget) for o in ours], area, rng)
        studies = (
            f"exit codes {sorted({r['exit_code'] for r in rs})}; {min(r['trials'] for r in rs)}-"
            f"{max(r['trials'] for r in rs)} trials, {sum(r['pruned'] for r in rs)} pruned; "
            f"{min(r['steps_used'] for r in rs):,}-{max(r['steps_used'] for r in rs):,} steps"
        )
        print(
            f"| {name} | {np.median(champ):.3f} | {iqm(champ, rng)} | {versus} | {np.median(share):.2f} | "
            f"{np.median(area):.3f} | {versus_area} | {studies} |"
        )


if __name__ == "__main__":
    sys.exit(main())
