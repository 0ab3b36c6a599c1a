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
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.analysis.early_stopping import SuccessiveHalvingPruner
from autopilot.analysis.promotion import confirmations_due, decide, final_reruns, reserve_trials
from autopilot.config import to_dotted
from autopilot.experiment import presets
from autopilot.experiment.schema import ProposerSpec
from autopilot.objective import Objective
from autopilot.proposers.base import Context
from autopilot.proposers.registry import make_proposer
from autopilot.space import Parameter, SearchSpace
from autopilot.workspace.records import RunRecord, RunView
from benchmarks.aa_promotion import make_run

DATA = Path(__file__).resolve().parent / "data" / "drone_runs.jsonl"
SPACE = SearchSpace.from_dict(presets.default_search_space(), presets.puffer_rules())


def coordinates(overrides: dict[str, Any], baseline: dict[str, Any]) -> np.ndarray:
    """A config as a point in [0, 1]^d over the tunable keys (log keys on a log scale)."""
    flat, base = to_dotted(overrides), to_dotted(baseline)
    out = []
    for name, p in sorted(SPACE.params.items()):
        if not p.tunable:
            continue
        out.append(_unit(p, flat.get(name, base.get(name))))
    return np.asarray(out)


def _unit(p: Parameter, value: Any) -> float:
    if p.type in ("bool", "categorical"):
        choices = [False, True] if p.type == "bool" else list(p.choices)
        return choices.index(value) / max(1, len(choices) - 1) if value in choices else 0.5
    low, high = p.tune_bounds()
    v = min(max(float(value), low), high)
    if (p.scale == "log" or p.type == "pow2") and low > 0:
        return (math.log(v) - math.log(low)) / (math.log(high) - math.log(low))
    return (v - low) / (high - low) if high > low else 0.5


GRID = np.linspace(0.05, 1.0, 20)


def _on_grid(curve: list[list[float]], total: int) -> np.ndarray:
    out = []
    for fraction in GRID:
        before = [v for step, v in curve if step <= fraction * total + 1]
        out.append(float(np.mean(before[-3:])) if before else 0.0)
    return np.asarray(out)


class Surrogate:
    def __init__(self, rows: list[dict[str, Any]], baseline: dict[str, Any]) -> None:
        self.baseline = baseline
        self.x = np.stack([coordinates(r["overrides"], baseline) for r in rows])
        self.y = np.asarray([r["eval_successes"] / r["eval_episodes"] for r in rows])
        # Learning curves on a common grid of fractions of the step budget (the last 3 logs before each point).
        self.curves = np.stack([_on_grid(r["curve"], r["steps"]) for r in rows])
        self.bandwidth = min((0.05, 0.08, 0.12, 0.18, 0.25, 0.35), key=lambda h: self._loo_error(h))

    def _weights(self, points: np.ndarray, h: float) -> np.ndarray:
        d2 = ((points[:, None, :] - self.x[None, :, :]) ** 2).mean(axis=2)
        return np.exp(-d2 / (2 * h * h))

    def _loo(self, h: float) -> np.ndarray:
        w = self._weights(self.x, h)
        np.fill_diagonal(w, 0.0)
        return (w @ self.y) / np.maximum(w.sum(axis=1), 1e-12)

    def _loo_error(self, h: float) -> float:
        return float(np.mean((self._loo(h) - self.y) ** 2))

    def fit_quality(self) -> tuple[float, float]:
        """Leave-one-out rank correlation and mean absolute error on the recorded runs."""
        pred = self._loo(self.bandwidth)
        rho = spearman(pred, self.y)
        return rho, float(np.mean(np.abs(pred - self.y)))

    def true_curve(self, overrides: dict[str, Any]) -> np.ndarray:
        w = self._weights(coordinates(overrides, self.baseline)[None, :], self.bandwidth)[0]
        return np.clip((w @ self.curves) / max(w.sum(), 1e-12), 0.0, 1.0)

    def true_success(self, overrides: dict[str, Any]) -> float:
        w = self._weights(coordinates(overrides, self.baseline)[None, :], self.bandwidth)[0]
        return float(np.clip((w @ self.y) / max(w.sum(), 1e-12), 0.0, 1.0))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (average ranks for ties)."""

    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for value in np.unique(v):  # ties share their mean rank
            r[v == value] = r[v == value].mean()
        return r

    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


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
    proposer = make_proposer(proposer_name)
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
            todo = [(dict(parent.overrides), parent.id)]
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
            true_curve = surrogate.true_curve(overrides)
            noisy = np.clip(true_curve + rng.normal(0.0, 0.03, len(GRID)), 0.0, 1.0)
            lines = [
                {"step": int(f * steps), "metrics": {"success_rate": float(v)}}
                for f, v in zip(GRID, noisy, strict=True)
            ]
            i = len(history) + 1
            stopped = prune_point(pruner, lines, steps, list(curves.values())) if pruner and not parent_id else None
            if stopped is not None:
                view = pruned_run(i, overrides)
                pruned_truth.append(surrogate.true_success(overrides))
                curves[view.id] = lines[: stopped + 1]
                used_steps += lines[stopped]["step"]
            else:
                p = surrogate.true_success(overrides)
                view = make_run(runs, i, rng.random(episodes) < p, parent_id, overrides, steps)
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
        direction="maximize",
        sampler=optuna.samplers.TPESampler(
            seed=seed, multivariate=True, n_startup_trials=startup_trials_for(trials, startup_trials)
        ),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=len(GRID)),
    )
    dists = distributions(SPACE)
    budget = trials * steps
    used, curve, truth = 0, [], {}
    while used < budget:
        trial = study.ask(dists)
        overrides = dict(trial.params)
        noisy = np.clip(surrogate.true_curve(overrides) + rng.normal(0.0, 0.03, len(GRID)), 0.0, 1.0)
        pruned = False
        for k, (fraction, value) in enumerate(zip(GRID, noisy, strict=True)):
            trial.report(float(value), k + 1)
            if trial.should_prune():
                used += int(fraction * steps)
                study.tell(trial, state=TrialState.PRUNED)
                pruned = True
                break
        if not pruned:
            used += steps
            p = surrogate.true_success(overrides)
            truth[trial.number] = p
            study.tell(trial, float(np.mean(rng.random(episodes) < p)))  # the evaluation's success rate
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
        noisy = np.clip(surrogate.true_curve(config) + rng.normal(0.0, 0.03, len(GRID)), 0.0, 1.0)
        for fraction, value in zip(GRID, noisy, strict=True):
            tune.report({"success_rate": float(value), "steps": int(fraction * steps)})

    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 2 / batch}),
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="success_rate",
            mode="max",
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=len(GRID), grace_period=2),
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
    finished = [r for r in every if r.metrics and int(r.metrics.get("steps", 0)) >= int(GRID[-1] * steps)]
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
    "optuna_sha": OptunaSuccessiveHalving,
}


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
    area, prev_s, prev_b = 0.0, 0, 0.0
    for s, b in curve:
        area += (s - prev_s) * prev_b
        prev_s, prev_b = s, b
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
        # The first is the default a user gets: hybrid, with the loop's successive halving (on for a budgeted
        # study); then the peers as their users run them.
        default=["hybrid+sha", "random", "tpe", "optuna_tpe_hyperband", "cmaes", "ray_asha", "hybrid"],
        help="NAME (a registered proposer), NAME+sha, NAME+optuna_sha, optuna_tpe_hyperband or ray_asha",
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="study seeds FIRST..FIRST+SEEDS-1 (develop on 0-59, report on 100+)"
    )
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=256, help="evaluation episodes per simulated trial")
    parser.add_argument("--target", type=float, default=0.5)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, help="write the per-study results as JSON here")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["state"] == "complete" and r["eval_episodes"]]
    steps = int(np.median([r["steps"] for r in rows]))
    baseline = presets.baseline_config("builtin", "drone_delivery", "quick")
    baseline["train"]["total_timesteps"] = steps
    surrogate = Surrogate(rows, baseline)
    rho, mae = surrogate.fit_quality()
    print(f"machine: {platform.node()} {platform.machine()} Python {platform.python_version()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"surrogate: {len(rows)} recorded runs of {steps:,} steps; bandwidth {surrogate.bandwidth}; leave-one-out "
        f"Spearman {rho:.3f}, mean absolute error {mae:.3f}; recorded success: median "
        f"{np.median(surrogate.y):.3f}, max {surrogate.y.max():.3f}"
    )
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
        f"\nbudget {args.trials} trials x {steps:,} steps = {budget:,} steps; {args.seeds} study seeds; "
        f"target {args.target}; differences are {default} minus the peer, paired by study seed; steps to "
        f"target count a study that never reached it as twice the budget ({2 * budget:,})"
    )
    print(
        f"| proposer | champion's true success at budget | {default} minus peer | steps to target (median) | "
        f"{default} / peer | AUC of champion-so-far | studies | latency (ms) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")

    def capped(r: dict[str, Any]) -> float:
        return min(steps_to(r["curve"], args.target), 2.0 * budget)

    for name in args.proposers:
        rs = sorted((r for r in results if r["proposer"] == name), key=lambda r: r["seed"])
        champ = [r["champion_true"] for r in rs]
        reach = [capped(r) for r in rs]
        area = [auc(r["curve"], budget) for r in rs]
        ours = [base[r["seed"]] for r in rs]
        never = sum(x >= 2.0 * budget for x in reach)
        pruned = sum(r["pruned"] for r in rs)
        lost = "n/a" if any(r["pruned_the_best"] is None for r in rs) else sum(r["pruned_the_best"] for r in rs)
        studies = (
            f"exit codes {sorted({r['exit_code'] for r in rs})}, {min(r['trials'] for r in rs)}-"
            f"{max(r['trials'] for r in rs)} trials ({pruned} pruned; "
            f"the best pruned in {lost})"
        )
        print(
            f"| {name} | {np.median(champ):.3f} | "
            f"{'-' if name == default else paired([o['champion_true'] for o in ours], champ, rng)} | "
            f"{np.median(reach):.3g} ({never} of {len(rs)} never) | "
            f"{'-' if name == default else ratio([capped(o) for o in ours], reach, rng)} | "
            f"{np.median(area):.3f} | {studies}, {max(r['steps_used'] for r in rs):,} steps max | "
            f"{np.median([r['latency_ms'] for r in rs]):.0f} |"
        )
    if args.out:
        args.out.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
