"""What the recorded trainings say about the built-in task, before any surrogate is fitted to them:

- **the landscape**: random configs' held-out success (median, share above 0.5, 90th/98th percentiles, max);
- **seed noise**: configs trained on several seeds (the replicates, 2.5M steps): the spread a tuner faces per
  band of success, how often a config's first run ranks like its re-runs (Spearman between seeds), and the
  winner's curse (the top configs of a first run, re-run);
- **fidelity**: how a config trained for 1M or 5M steps ranks against the same configs at 2.5M, judged by the
  configs' true quality (their mean over the *other* training seeds at 2.5M, so a shared seed cannot flatter
  a slice), beside the same figure for a single 2.5M run: a cheaper fidelity that ranks about as well as one
  full run does is good enough for a study.

    .venv/bin/python -m benchmarks.recorded
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from autopilot.workspace.atomic import read_jsonl
from benchmarks.surrogate import DATA_DIR, RANDOM_DATA, REPLICATE_DATA, config_key

SLICES = {"1M": DATA_DIR / "drone_slice_1m.jsonl", "5M": DATA_DIR / "drone_slice_5m.jsonl"}
BANDS = ((0.0, 0.05), (0.05, 0.3), (0.3, 0.6), (0.6, 1.01))


def success(run: dict[str, Any]) -> float:
    return float(run["eval_successes"]) / float(run["eval_episodes"])


def complete(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if r.get("state") == "complete" and r.get("eval_episodes")]


def landscape(random_runs: list[dict[str, Any]]) -> list[str]:
    first: dict[str, float] = {}
    for r in complete(random_runs):  # a config's first run: later runs of it are re-runs, not random draws
        first.setdefault(config_key(r["overrides"]), success(r))
    values = np.asarray(list(first.values()))
    return [
        f"random configs: {len(values)} (first run of each config)",
        f"  held-out success: median {np.median(values):.3f}, share above 0.5 {np.mean(values > 0.5):.2f}, "
        f"90th percentile {np.quantile(values, 0.9):.3f}, 98th {np.quantile(values, 0.98):.3f}, max {values.max():.3f}",
    ]


def seeds_by_config(random_runs: list[dict[str, Any]], replicates: list[dict[str, Any]]) -> dict[str, dict[Any, float]]:
    """config -> {training seed (or "first" for its random run): success} at 2.5M steps."""
    by_id = {r["run_id"]: r for r in complete(random_runs)}
    out: dict[str, dict[Any, float]] = defaultdict(dict)
    for r in complete(replicates):
        source = by_id.get(r["tags"][1])
        if source is None:
            continue
        key = config_key(source["overrides"])
        out[key]["first"] = success(source)
        out[key][r["train_seed"]] = success(r)
    return out


def seed_noise(table: dict[str, dict[Any, float]]) -> list[str]:
    counts: dict[int, int] = defaultdict(int)
    for seeds in table.values():
        counts[len(seeds)] += 1
    lines = [
        f"replicated configs: {len(table)}; by runs per config: "
        + ", ".join(f"{n} runs: {counts[n]}" for n in sorted(counts))
    ]
    lines.append("  seed spread per band of a config's mean success (sd of its runs; configs with 3+ runs):")
    for low, high in BANDS:
        sds = [
            statistics.stdev(s.values())
            for s in table.values()
            if len(s) >= 3 and low <= statistics.mean(s.values()) < high
        ]
        if sds:
            lines.append(
                f"    mean in [{low:.2f}, {min(high, 1.0):.2f}): {len(sds)} configs, median sd {np.median(sds):.3f}, "
                f"max {max(sds):.3f}"
            )
    trained = sorted({s for v in table.values() for s in v if s != "first"})
    for a, b in zip(["first", *trained], trained, strict=False):
        both = [(v[a], v[b]) for v in table.values() if a in v and b in v]
        if len(both) >= 5:
            rho = spearmanr([x for x, _ in both], [y for _, y in both]).statistic
            label = "the first run" if a == "first" else f"seed {a}"
            lines.append(f"  Spearman between {label} and seed {b}: {rho:.3f} ({len(both)} configs)")
    ranked = sorted((v for v in table.values() if len(v) >= 3), key=lambda v: -v["first"])[:10]
    if ranked:
        drops = [statistics.mean(x for k, x in v.items() if k != "first") - v["first"] for v in ranked]
        lines.append(
            f"  winner's curse: the {len(ranked)} configs whose first run scored highest score "
            f"{statistics.mean(drops):+.3f} on re-runs (mean; {sum(d < 0 for d in drops)} of {len(ranked)} lower)"
        )
    return lines


def slice_successes(
    slices: dict[str, list[dict[str, Any]]], random_runs: list[dict[str, Any]]
) -> dict[str, dict[str, float]]:
    """fidelity -> {config: success} of each slice's runs (seed 1001), keyed like ``seeds_by_config``."""
    by_id = {r["run_id"]: r for r in complete(random_runs)}
    out: dict[str, dict[str, float]] = {}
    for name, runs in slices.items():
        out[name] = {}
        for r in complete(runs):
            source = by_id.get(r["tags"][1])
            if source:
                out[name][config_key(source["overrides"])] = success(r)
    return out


def fidelity(table: dict[str, dict[Any, float]], at: dict[str, dict[str, float]]) -> list[str]:
    """Each slice's runs are seed 1001; the reference is a config's mean over its other 2.5M runs."""
    lines = []
    one_full: tuple[list[float], list[float]] = ([], [])
    for seeds in table.values():
        rest = [x for k, x in seeds.items() if k != 1001]
        if 1001 in seeds and rest:
            one_full[0].append(seeds[1001])
            one_full[1].append(statistics.mean(rest))
    if len(one_full[0]) >= 5:
        rho = spearmanr(*one_full).statistic
        lines.append(
            f"one 2.5M run (seed 1001) against the config's mean over its other seeds: Spearman {rho:.3f} "
            f"({len(one_full[0])} configs)"
        )
    for name, by_config in at.items():
        pairs, with_full = [], []
        for key, value in by_config.items():
            seeds = table.get(key, {})
            rest = [x for k, x in seeds.items() if k != 1001]
            if rest:
                pairs.append((value, statistics.mean(rest)))
            if 1001 in seeds:
                with_full.append((value, seeds[1001]))
        if len(pairs) < 5:
            lines.append(f"{name} slice: {len(by_config)} configs recorded, too few to rank")
            continue
        rho = spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic
        same = spearmanr([a for a, _ in with_full], [b for _, b in with_full]).statistic
        top = sorted(range(len(with_full)), key=lambda i: -with_full[i][1])[:10]
        top_slice = sorted(range(len(with_full)), key=lambda i: -with_full[i][0])[:10]
        lines.append(
            f"{name} slice (seed 1001, {len(by_config)} configs): Spearman {rho:.3f} against the mean over other "
            f"seeds at 2.5M, {same:.3f} against the same seed at 2.5M; {len(set(top) & set(top_slice))} of the top "
            f"10 at 2.5M in its top 10; median success {np.median([a for a, _ in with_full]):.3f} "
            f"(2.5M: {np.median([b for _, b in with_full]):.3f})"
        )
    return lines + fidelity_pairs(table, at)


def fidelity_pairs(table: dict[str, dict[Any, float]], slices: dict[str, dict[str, float]]) -> list[str]:
    """Every pair of fidelities on the same training seed (1001), and the longest against the 2.5M mean over
    seeds: does a cheaper fidelity rank configs as the longer one does?"""
    at = {"2.5M": {key: seeds[1001] for key, seeds in table.items() if 1001 in seeds}, **slices}
    means = {key: statistics.mean(seeds.values()) for key, seeds in table.items()}
    names = sorted((n for n in at if len(at[n]) >= 5), key=lambda n: float(n[:-1]))
    lines = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            keys = sorted(set(at[a]) & set(at[b]))
            rho = spearmanr([at[a][k] for k in keys], [at[b][k] for k in keys]).statistic
            top_b = set(sorted(keys, key=lambda k: -at[b][k])[:10])
            top_a = set(sorted(keys, key=lambda k: -at[a][k])[:10])
            lines.append(
                f"{a} against {b}, seed 1001: Spearman {rho:.3f}, {len(top_a & top_b)} of {b}'s top 10 in {a}'s "
                f"({len(keys)} configs)"
            )
    if names and names[-1] != "2.5M":
        longest = at[names[-1]]
        keys = sorted(set(longest) & set(means))
        rho = spearmanr([means[k] for k in keys], [longest[k] for k in keys]).statistic
        lines.append(f"2.5M mean over seeds against {names[-1]}: Spearman {rho:.3f} ({len(keys)} configs)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    files = {path: read_jsonl(path) for path in (*RANDOM_DATA, REPLICATE_DATA, *SLICES.values())}
    print("files: " + ", ".join(f"{path.name} {len(runs)} runs" for path, runs in files.items()))
    random_runs = [r for path in RANDOM_DATA for r in files[path]]
    table = seeds_by_config(random_runs, files[REPLICATE_DATA])
    at = slice_successes({name: files[path] for name, path in SLICES.items()}, random_runs)
    for line in [*landscape(random_runs), *seed_noise(table), *fidelity(table, at)]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
