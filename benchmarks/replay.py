"""Pruning and pick rules judged on real recorded trainings, not on a model of them (the replay set).

    .venv/bin/python -m benchmarks.replay --studies 400 --first-seed 100

**Pruning.** A replayed study takes the recorded runs that have learning curves with the episodes behind each
point (benchmarks/data/drone_runs_v2.jsonl and drone_replicates.jsonl, or ``--data``), in a random order (or
``--order improving``: later trials tend to be better, as a model-based search's are), as its trials; a rule
sees each trial's real metrics lines one by one with the earlier trials as peers, exactly as the loop asks it,
and may stop it. Reported per rule: the share of steps it saved, how often it stopped a run that ended in the
top decile of the study's runs (by held-out success), and the best held-out success among the runs it let finish
against the best of all (regret).

**Pick.** Configs run on several training seeds (drone_replicates.jsonl plus the original run) stand in for a
study's trials: a replayed study draws ``--configs`` of them, one seed's run each as its trial, and the top
configs' re-runs as the loop's budget reserve queues them (another seed's run); a rule picks the champion, whose
true quality is the mean held-out success of that config's runs the study did not see. Rules: the loop's pick
(empirical-Bayes estimate with the seed rule) and the best single evaluation (what a user picking by hand, or
Optuna's ``best_trial``, takes).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.analysis.early_stopping import SuccessiveHalvingPruner
from autopilot.analysis.promotion import decide
from autopilot.analysis.stats import bootstrap_mean
from autopilot.loop.scheduler import final_reruns, reserve_trials
from autopilot.objective import Objective
from autopilot.workspace.records import RunRecord, RunView
from benchmarks.provenance import header
from benchmarks.surrogate import Run, load_runs, recorded_set


def make_run(
    runs: Path,
    i: int,
    successes: np.ndarray,
    parent: str | None,
    overrides: dict[str, Any] | None = None,
    steps: int | None = None,
) -> RunView:
    """A completed run on disk as the promotion rule reads it: its evaluation episodes and its summary."""
    run_id = f"2026-01-01T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z-{i:06x}"
    (runs / run_id).mkdir(parents=True)
    lines = "".join(json.dumps({"success": bool(s)}) + "\n" for s in successes)
    (runs / run_id / "eval_episodes.jsonl").write_text(lines)
    record = RunRecord(
        id=run_id,
        case_id=f"c{i}",
        state="complete",
        tags=["confirm"] if parent else [],
        parent_ids=[parent] if parent else [],
        created=f"2026-01-01T00:00:00.{i:06d}Z",
    )
    score = float(successes.mean())
    summary = {"metrics": {"success_rate": score}, "score": score, "feasible": True, "steps": steps}
    return RunView(record, overrides or {}, summary)


def lines_of(run: Run) -> list[dict[str, Any]]:
    """The run's metrics lines as the pruner reads them: success, the other rates, the episodes behind each."""
    return [
        {
            "step": max(1, int(f * run.steps)),
            "metrics": {
                "success_rate": v,
                "environment/episodes": e,
                **{name: values[i] for name, values in run.rates.items()},
            },
        }
        for i, (f, v, e) in enumerate(run.curve)
    ]


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


STARTUP = 9  # the baseline and a quarter of 32 trials: the default's start-up before its model proposes
TOWARD_BETTER = 0.7  # after it, how often an "improving" replay draws from the better half of the runs


def study_order(pool: list[Run], trials: int, seed: int, order: str) -> list[Run]:
    """The runs a replayed study takes, in turn: a random order (random search), or an improving one, as a
    model-based search orders them: after a random start-up, most trials come from the better half of the runs
    (draws with replacement), so later trials tend to beat earlier ones and a rank rule has less to stop."""
    rng = np.random.default_rng([seed, 23])
    if order == "random":
        return [pool[i] for i in rng.permutation(len(pool))[:trials]]
    ranked = sorted(range(len(pool)), key=lambda i: pool[i].success)
    chosen = list(rng.permutation(len(pool))[:STARTUP])
    while len(chosen) < trials:
        better = rng.random() < TOWARD_BETTER
        chosen.append(int(rng.choice(ranked[len(ranked) // 2 :])) if better else int(rng.integers(len(pool))))
    return [pool[i] for i in chosen]


def replay_pruning(
    pool: list[Run], rule: SuccessiveHalvingPruner | None, trials: int, seed: int, order: str = "random"
) -> dict[str, Any]:
    study = study_order(pool, trials, seed, order)
    peers: list[list[dict[str, Any]]] = []
    used = full = 0
    stopped_idx: set[int] = set()
    for i, run in enumerate(study, start=1):
        lines = lines_of(run)
        full += run.steps
        at = None if rule is None or rule.exempt(i) else prune_point(rule, lines, run.steps, peers)
        if at is None:
            used += run.steps
            peers.append(lines)
        else:
            used += lines[at]["step"]
            peers.append(lines[: at + 1])
            stopped_idx.add(i - 1)
    finals = np.asarray([r.success for r in study])
    top = set(np.argsort(-finals)[: max(1, len(finals) // 10)])
    kept = [finals[i] for i in range(len(study)) if i not in stopped_idx]
    return {
        "saved": 1.0 - used / full,
        "top_stopped": len(top & stopped_idx),
        "top": len(top),
        "regret": float(finals.max() - max(kept, default=0.0)),
        "stopped": len(stopped_idx),
    }


def replay_pick(groups: list[list[Run]], configs: int, seed: int, episodes_dir: Path) -> dict[str, float]:
    rng = np.random.default_rng([seed, 29])
    chosen = [groups[i] for i in rng.choice(len(groups), size=min(configs, len(groups)), replace=False)]
    seen: dict[int, list[int]] = {}
    history: list[RunView] = []
    objective = Objective()
    runs_dir = episodes_dir / f"s{seed}"
    by_id: dict[str, int] = {}

    def run_once(k: int, parent: str | None) -> None:
        left = [j for j in range(len(chosen[k])) if j not in seen.setdefault(k, [])]
        j = int(rng.choice(left))
        seen[k].append(j)
        r = chosen[k][j]
        successes = np.zeros(r.episodes, dtype=bool)
        successes[: r.successes] = True
        view = make_run(runs_dir, len(history) + 1, successes, parent, {"config": k})
        by_id[view.id] = k
        history.append(view)

    for k in range(len(chosen)):
        run_once(k, None)
    for run_id in final_reruns(decide(history, objective, runs_dir), reserve_trials(len(chosen) + 3)):
        k = by_id[run_id]
        if len(seen[k]) < len(chosen[k]) - 1:  # keep at least one run unseen: the truth
            run_once(k, run_id)
    champion = decide(history, objective, runs_dir).champion
    raw = max(history, key=lambda v: (v.score or 0.0, v.id))

    def truth(k: int) -> float:
        unseen = [r.success for j, r in enumerate(chosen[k]) if j not in seen[k]]
        return float(np.mean(unseen))

    best = max(truth(k) for k in range(len(chosen)))
    return {
        "loop": truth(by_id[champion.id]) if champion else 0.0,
        "raw": truth(by_id[raw.id]),
        "best": best,
    }


def interval(values: list[float], rng: np.random.Generator) -> str:
    v = np.asarray(values)
    boots = [np.median(v[rng.integers(0, len(v), len(v))]) for _ in range(2000)]
    low, high = np.quantile(boots, [0.025, 0.975])
    return f"{np.median(v):+.3f} [{low:+.3f}, {high:+.3f}] (mean {v.mean():+.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=400)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=32, help="runs per replayed pruning study")
    parser.add_argument("--configs", type=int, default=12, help="configs per replayed pick study")
    parser.add_argument("--replicates", type=int, help="use the first N lines of the replicate data (default all)")
    parser.add_argument(
        "--random-sets", type=int, help="use the first N recorded random sets (default all; 2 before v3 was recorded)"
    )
    parser.add_argument("--rules", nargs="+", default=["none", "sha", "nsha", "nsha1"])
    parser.add_argument(
        "--order", choices=["random", "improving"], default="random", help="the order a replayed study takes its runs"
    )
    parser.add_argument(
        "--data",
        type=recorded_set,
        nargs="+",
        help="recorded runs to replay instead of the 2.5M-step set (benchmarks/data/drone_slice_1m.jsonl, say)",
    )
    args = parser.parse_args()
    runs = load_runs(tuple(args.data) if args.data else None, args.replicates, args.random_sets)
    pool = [r for r in runs if len(r.curve) >= 4 and any(e > 0 for _, _, e in r.curve) and r.rates]
    print("\n".join(header()))
    seeds = range(args.first_seed, args.first_seed + args.studies)
    print(
        f"\npruning: {len(pool)} real runs with curves; {args.studies} replayed studies of {args.trials} runs "
        f"({args.order} order)"
    )
    print("| rule | steps saved (mean) | top-decile runs stopped | regret of the best kept (mean) | stopped / study |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.rules:
        rule = None if name == "none" else PRUNERS[name](0)
        out = [replay_pruning(pool, rule, args.trials, s, args.order) for s in seeds]
        top = sum(o["top_stopped"] for o in out)
        of = sum(o["top"] for o in out)
        print(
            f"| {name} | {np.mean([o['saved'] for o in out]):.1%} | {top} of {of} ({top / of:.1%}) | "
            f"{np.mean([o['regret'] for o in out]):.4f} | {np.mean([o['stopped'] for o in out]):.1f} |"
        )
    groups_by: dict[str, list[Run]] = {}
    for r in runs:
        groups_by.setdefault(r.key, []).append(r)
    groups = [g for g in groups_by.values() if len(g) >= 3]
    if len(groups) < args.configs:
        print(f"\npick: {len(groups)} configs with 3+ seeds, fewer than --configs {args.configs}: not run")
        return 0
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        out = [replay_pick(groups, args.configs, s, Path(tmp)) for s in seeds]
    print(
        f"\npick: {len(groups)} configs with 3+ seeds ({sum(len(g) for g in groups)} runs); {args.studies} replayed "
        f"studies of {args.configs} configs plus the budget's re-runs; truth = the mean of the config's unseen runs"
    )
    diff = np.asarray([o["loop"] - o["raw"] for o in out])
    mean = bootstrap_mean(diff)
    print(f"loop's champion minus best single evaluation: {interval(list(diff), rng)}")
    print(
        f"  the picks differ in {int(np.sum(diff != 0))} of {len(diff)} studies: the loop's better in "
        f"{int(np.sum(diff > 0))}, worse in {int(np.sum(diff < 0))}; mean {mean.mean:+.4f} "
        f"[{mean.low:+.4f}, {mean.high:+.4f}]"
    )
    print(
        f"champion / best config in the study (median): loop {np.median([o['loop'] / o['best'] for o in out]):.2f}, "
        f"best single evaluation {np.median([o['raw'] / o['best'] for o in out]):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
