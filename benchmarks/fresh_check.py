"""The surrogate against real runs it never saw: a random set recorded after every choice and report was made.

    .venv/bin/python -m benchmarks.fresh_check --data benchmarks/data/drone_runs_v4.jsonl

Leave-one-out figures (printed by every ``bench_surrogate`` run) judge the fit on the data it was tuned on; this
fits the surrogate exactly as the report did (every recorded random, Sobol and replicate run) and predicts the
fresh runs' held-out success from their configs alone. It prints the out-of-sample rank correlation, mean
absolute error and top-decile recall (bootstrap 95% intervals over the fresh runs), and whether the landscape the
benchmark's targets were set on (median, share above 0.5, 90th and 98th percentile, max) holds on new draws.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

from autopilot.experiment import presets
from benchmarks.provenance import header
from benchmarks.surrogate import (
    Surrogate,
    first_random_runs,
    load_runs,
    random_configs,
    recorded_set,
    spearman,
    top_decile_recall,
)


def interval(values: list[float]) -> str:
    low, high = np.quantile(values, [0.025, 0.975])
    return f"[{low:.3f}, {high:.3f}]"


def landscape(v: np.ndarray) -> str:
    q90, q98 = np.quantile(v, [0.9, 0.98])
    return (
        f"median {np.median(v):.3f}, share above 0.5 {np.mean(v > 0.5):.2f}, "
        f"90th percentile {q90:.3f}, 98th {q98:.3f}, max {v.max():.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=recorded_set, required=True, help="an export of benchmarks.record_runs")
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap resamples of the fresh runs")
    args = parser.parse_args()
    fitted_on = load_runs()
    fresh = load_runs((args.data,))
    if len(fresh) < 10:
        parser.error(f"--data {args.data}: {len(fresh)} complete runs; at least 10 are needed")
    seen_keys = {r.key for r in fitted_on}
    steps = int(np.median([r.steps for r in fitted_on]))
    fresh_steps = int(np.median([r.steps for r in fresh]))
    if abs(fresh_steps - steps) > 0.1 * steps:  # a 1M or 5M slice is another landscape, not a check of this one
        parser.error(f"--data {args.data}: its runs trained {fresh_steps:,} steps, the fitted runs {steps:,}")
    baseline = presets.baseline_config("builtin", "drone_delivery", "quick")
    baseline["train"]["total_timesteps"] = steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn notes length scales at their bound: a key that does not matter
        surrogate = Surrogate(fitted_on, baseline)
    fit = surrogate.fidelity(random_configs(2000), first_random_runs(fitted_on))
    predicted = np.array([surrogate.true_success(r.overrides) for r in fresh])
    observed = np.array([r.success for r in fresh])
    rng = np.random.default_rng(0)
    boots: dict[str, list[float]] = {"rho": [], "mae": [], "recall": []}
    for _ in range(args.boot):
        i = rng.integers(0, len(fresh), len(fresh))
        boots["rho"].append(spearman(predicted[i], observed[i]))
        boots["mae"].append(float(np.mean(np.abs(predicted[i] - observed[i]))))
        boots["recall"].append(top_decile_recall(predicted[i], observed[i]))
    earlier = first_random_runs(fitted_on)
    print("\n".join(header()))
    print(
        f"fitted on {fit['runs']} recorded runs of {fit['configs']} configs (as the report); fresh: {len(fresh)} "
        f"runs of {args.data.name}, {sum(r.key in seen_keys for r in fresh)} of them configs the fit has seen"
    )
    print()
    print("| fidelity | out of sample (fresh runs) | leave-one-out (fitted runs) |")
    print("| --- | --- | --- |")
    rho = spearman(predicted, observed)
    mae = float(np.mean(np.abs(predicted - observed)))
    recall = top_decile_recall(predicted, observed)
    print(f"| Spearman with the recorded success | {rho:.3f} {interval(boots['rho'])} | {fit['loo_spearman']:.3f} |")
    print(f"| mean absolute error | {mae:.3f} {interval(boots['mae'])} | {fit['loo_mae']:.3f} |")
    print(f"| top-decile recall | {recall:.2f} {interval(boots['recall'])} | {fit['top_decile_recall']:.2f} |")
    print()
    print(f"fresh random runs, recorded:   {landscape(observed)}")
    print(f"earlier random and Sobol runs: {landscape(earlier)}")
    print(
        f"the surrogate's random configs (true success): median {fit['random_true']['median']:.3f}, share above "
        f"0.5 {fit['random_true']['above_0.5']:.2f}, 90th percentile {fit['p90']:.3f}, 98th {fit['p98']:.3f}"
    )
    print(f"fresh runs predicted by the surrogate: {landscape(predicted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
