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
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from benchmarks.surrogate import DATA_DIR, RANDOM_DATA, REPLICATE_DATA, config_key

SLICES = {"1M": DATA_DIR / "drone_slice_1m.jsonl", "5M": DATA_DIR / "drone_slice_5m.jsonl"}
BANDS = ((0.0, 0.05), (0.05, 0.3), (0.3, 0.6), (0.6, 1.01))


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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


def fidelity(
    table: dict[str, dict[Any, float]], replicates: list[dict[str, Any]], random_runs: list[dict[str, Any]]
) -> list[str]:
    """Each slice's runs are seed 1001; the reference is a config's mean over its other 2.5M runs."""
    by_id = {r["run_id"]: r for r in complete(random_runs)}
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
    for name, path in SLICES.items():
        runs = complete(read(path))
        pairs, with_full = [], []
        for r in runs:
            source = by_id.get(r["tags"][1])
            seeds = table.get(config_key(source["overrides"]), {}) if source else {}
            rest = [x for k, x in seeds.items() if k != 1001]
            if rest:
                pairs.append((success(r), statistics.mean(rest)))
            if 1001 in seeds:
                with_full.append((success(r), seeds[1001]))
        if len(pairs) < 5:
            lines.append(f"{name} slice: {len(runs)} runs recorded, too few to rank")
            continue
        rho = spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic
        same = spearmanr([a for a, _ in with_full], [b for _, b in with_full]).statistic
        top = sorted(range(len(with_full)), key=lambda i: -with_full[i][1])[:10]
        top_slice = sorted(range(len(with_full)), key=lambda i: -with_full[i][0])[:10]
        lines.append(
            f"{name} slice (seed 1001, {len(runs)} runs): Spearman {rho:.3f} against the mean over other seeds at "
            "2.5M, "
            f"{same:.3f} against the same seed at 2.5M; {len(set(top) & set(top_slice))} of the top 10 at 2.5M in its "
            f"top 10; median success {np.median([a for a, _ in with_full]):.3f} "
            f"(2.5M: {np.median([b for _, b in with_full]):.3f})"
        )
    lines += fidelity_pairs(table, random_runs)
    return lines


def fidelity_pairs(table: dict[str, dict[Any, float]], random_runs: list[dict[str, Any]]) -> list[str]:
    """Every pair of fidelities on the same training seed (1001), and the longest against the 2.5M mean over
    seeds: does a cheaper fidelity rank configs as the longer one does?"""
    by_id = {r["run_id"]: r for r in complete(random_runs)}
    at: dict[str, dict[str, float]] = {"2.5M": {}}
    means: dict[str, float] = {}
    for key, seeds in table.items():
        means[key] = statistics.mean(seeds.values())
        if 1001 in seeds:
            at["2.5M"][key] = seeds[1001]
    for name, path in SLICES.items():
        at[name] = {}
        for r in complete(read(path)):
            source = by_id.get(r["tags"][1])
            if source:
                at[name][config_key(source["overrides"])] = success(r)
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
    random_runs = [r for path in RANDOM_DATA for r in read(path)]
    replicates = read(REPLICATE_DATA)
    print(
        "files: " + ", ".join(f"{p.name} {len(read(p))} runs" for p in (*RANDOM_DATA, REPLICATE_DATA, *SLICES.values()))
    )
    table = seeds_by_config(random_runs, replicates)
    for line in [*landscape(random_runs), *seed_noise(table), *fidelity(table, replicates, random_runs)]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
