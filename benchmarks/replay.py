"""Early stopping and the pick judged on real recorded trainings, not on a model of them, through the
product's own loop (``autopilot run --trials N`` on the simulated backend).

    .venv/bin/python -m benchmarks.replay --studies 100 --first-seed 1000

A replayed study is a whole study of the loop whose trials "train" by replaying recorded runs: the first new
config the loop proposes takes the first recorded config of the study's order (random, or ``--order improving``:
later trials tend to be better, as a model-based search's are), the next new config the next one, and a re-run
of a config (a confirmation, a final re-run: another training seed) takes another recorded seed of it. The runs
come from benchmarks/data/drone_runs_v2.jsonl and drone_replicates.jsonl (or ``--data``): their real metrics
lines (success, grip and carry rates, the episodes behind each point) are written one by one, the loop's
early-stopping rule reads them as it reads a trainer's, and its held-out episodes are the run's.

**Pruning** (``--rules``; every rule is an ``early_stopping`` section of autopilot.yaml): the share of the step
budget it saved, how often it stopped a run that ended in the top decile of the study's runs (by held-out
success), the regret of the best run it let finish against the best of all.

**Pick** (configs recorded on 3+ seeds): a study of ``--pick-trials`` trials; the champion's true quality is the
mean held-out success of its config's recorded runs the study did not see, against that of the best single
evaluation (what a user picking by hand, or Optuna's ``best_trial``, takes).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.analysis.stats import bootstrap_mean
from autopilot.config import to_dotted
from autopilot.experiment.loader import load
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records, read_config
from benchmarks.provenance import header
from benchmarks.simulated import Training, model_keys, simulated_study
from benchmarks.surrogate import Run, config_key, load_runs, recorded_set


def lines_of(run: Run) -> list[dict[str, Any]]:
    """The run's metrics lines as its trainer logged them: success, the other rates, the episodes behind each."""
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


class Replayed:
    """A landscape of recorded runs (the simulated backend's model): configs in ``order`` (groups of runs of
    one config on several seeds), handed out to the loop's configs as they first come."""

    sps = 200_000.0  # about the built-in task's speed on 2 cores: only the virtual clock reads it

    def __init__(self, order: list[list[Run]], seed: int) -> None:
        self.order = order
        self.rng = np.random.default_rng([seed, 31])
        self.group: dict[str, int] = {}  # the loop's config (without seed) -> its recorded group
        self.seen: dict[int, list[int]] = {}  # group -> indices of its runs handed out
        self.handed: dict[tuple[str, Any], tuple[int, Run]] = {}  # (config, training seed) -> (group, run)
        self.reused = 0  # re-runs that found no unseen recorded seed (handed a seen run again)

    @staticmethod
    def _key(overrides: dict[str, Any]) -> str:
        return config_key({k: v for k, v in overrides.items() if k != "train.total_timesteps"})

    def _group_of(self, overrides: dict[str, Any]) -> int:
        key = self._key(overrides)
        if key not in self.group:
            if len(self.group) == len(self.order):
                raise ValueError(f"the study took more configs than the recorded set holds ({len(self.order)})")
            self.group[key] = len(self.group)
        return self.group[key]

    def replayed(self, overrides: dict[str, Any]) -> tuple[int, Run] | None:
        """The recorded config (group) and run a trial of these overrides (its training seed included) replayed."""
        return self.handed.get((self._key(overrides), overrides.get("train.seed")))

    def train(self, overrides: dict[str, Any], steps: int, episodes: int, rng: np.random.Generator) -> Training:
        k = self._group_of(overrides)
        seen = self.seen.setdefault(k, [])
        unseen = [j for j in range(len(self.order[k])) if j not in seen]
        if unseen:
            j = int(self.rng.choice(unseen))
            seen.append(j)
        else:
            j = int(self.rng.integers(len(self.order[k])))
            self.reused += 1
        run = self.order[k][j]
        self.handed[(self._key(overrides), overrides.get("train.seed"))] = (k, run)
        flags = [{"success": i < run.successes} for i in range(run.episodes)]
        return Training(lines_of(run), flags, run.steps, self.sps)

    def true_quality(self, overrides: dict[str, Any]) -> float:
        """The mean held-out success of the config's recorded runs the study did not see (all, if it saw all)."""
        return self.truth(self._group_of(overrides))

    def truth(self, k: int) -> float:
        runs = self.order[k]
        unseen = [r.success for j, r in enumerate(runs) if j not in self.seen.get(k, [])]
        return float(np.mean(unseen or [r.success for r in runs]))


STARTUP = 9  # the baseline and a quarter of 32 trials: the default's start-up before its model proposes
TOWARD_BETTER = 0.7  # after it, how often an "improving" order draws from the better half of the configs


def study_order(pool: list[list[Run]], length: int, seed: int, order: str) -> list[list[Run]]:
    """The recorded configs a replayed study takes, in turn: a random order (random search), or an improving
    one, as a model-based search orders them: after a random start-up, most configs come from the better half
    (draws with replacement), so later trials tend to beat earlier ones and a rank rule has less to stop."""
    rng = np.random.default_rng([seed, 23])
    if order == "random":
        return [pool[i] for i in rng.permutation(len(pool))[:length]]
    ranked = sorted(range(len(pool)), key=lambda i: float(np.mean([r.success for r in pool[i]])))
    chosen = list(rng.permutation(len(pool))[:STARTUP])
    while len(chosen) < length:
        better = rng.random() < TOWARD_BETTER
        chosen.append(int(rng.choice(ranked[len(ranked) // 2 :])) if better else int(rng.integers(len(pool))))
    return [pool[i] for i in chosen]


def _no_stopping(data: dict[str, Any]) -> None:
    data["early_stopping"]["enabled"] = False


def _success_only(data: dict[str, Any]) -> None:
    data["early_stopping"]["signal"] = {}


def _margin(data: dict[str, Any]) -> None:
    data["early_stopping"].update(rungs=[0.5, 0.75], min_delta=0.05, min_se=0.0, exempt_every=0, signal={})


def _harder(data: dict[str, Any]) -> None:
    data["early_stopping"].update(keep_fraction=0.25, rungs=[0.15, 1 / 3, 0.5, 0.75])


# Each rule is an early_stopping section of autopilot.yaml: nsha_dense is the shipped one (the scaffold's),
# nsha the same on success alone, sha an absolute margin of 0.05 at half and three quarters, keep25early the
# shipped one keeping a quarter at each rung, with a rung at 15% (bench_surrogate's auto+keep25early).
RULES: dict[str, Callable[[dict[str, Any]], None] | None] = {
    "none": _no_stopping,
    "sha": _margin,
    "nsha": _success_only,
    "nsha_dense": None,
    "keep25early": _harder,
}
_POOL: list[list[list[Run]]] = []  # [pruning pool, pick pool], inherited by the worker processes


def replay_study(job: tuple[str, str, int, int, str, str]) -> dict[str, Any]:
    """One replayed study through the loop: its pruning figures and its pick."""
    kind, rule, seed, trials, order, tmp = job
    pool = _POOL[0] if kind == "pruning" else _POOL[1]
    model = Replayed(study_order(pool, 4 * trials, seed, order), seed)
    steps = int(np.median([r.steps for g in pool for r in g]))
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        study = simulated_study(model, "random", seed, Path(work), trials=trials, steps=steps, configure=RULES[rule])
        ws = load(Workspace(Path(work) / f"random-{seed}")).workspace
        trained = []  # (state, the recorded config, the recorded run, the score the loop saw, run id)
        for view in Records(ws).history():
            replayed = model.replayed(model_keys(to_dotted(read_config(ws.runs / view.id) or {})))
            if replayed is not None:
                trained.append((view.state, *replayed, view.score, view.id))
    finals = np.asarray([t[2].success for t in trained])
    stopped = {i for i, t in enumerate(trained) if t[0] == "pruned"}
    top = set(np.argsort(-finals)[: max(1, len(finals) // 10)])
    kept = [finals[i] for i in range(len(finals)) if i not in stopped]
    complete = [t for t in trained if t[0] == "complete" and t[3] is not None]
    raw = max(complete, key=lambda t: (t[3], t[4]), default=None)
    raw_truth = model.truth(raw[1]) if raw else 0.0
    return {
        "exit_code": study["exit_code"],
        "trials": study["trials"],
        "steps_used": study["steps_used"],
        # against the steps its trials' recorded runs took to their ends
        "saved": 1.0 - study["steps_used"] / max(1, sum(t[2].steps for t in trained)),
        "top_stopped": len(top & stopped),
        "top": len(top),
        "regret": float(finals.max() - max(kept, default=0.0)) if len(finals) else 0.0,
        "stopped": len(stopped),
        "reused": model.reused,
        "loop": study["champion_true"],
        "raw": raw_truth,
        "best": max((model.truth(k) for k in set(model.group.values())), default=0.0),
    }


def interval(values: list[float], rng: np.random.Generator) -> str:
    v = np.asarray(values)
    boots = [np.median(v[rng.integers(0, len(v), len(v))]) for _ in range(2000)]
    low, high = np.quantile(boots, [0.025, 0.975])
    return f"{np.median(v):+.3f} [{low:+.3f}, {high:+.3f}] (mean {v.mean():+.3f})"


def run_all(jobs: list[tuple[str, str, int, int, str, str]], processes: int) -> list[dict[str, Any]]:
    if processes <= 1:
        return [replay_study(job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return pool.map(replay_study, jobs)


def studies_line(out: list[dict[str, Any]]) -> str:
    """Every study's exit code, trials and steps, in brief."""
    codes = sorted({o["exit_code"] for o in out})
    trials = [o["trials"] for o in out]
    steps = [o["steps_used"] for o in out]
    return (
        f"exit codes {codes}, {min(trials)}-{max(trials)} trials, {min(steps) / 1e6:.1f}M-{max(steps) / 1e6:.1f}M "
        f"steps; re-runs with no unseen recorded seed: {sum(o['reused'] for o in out)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--trials", type=int, default=32, help="trials per replayed pruning study (--trials of the loop)"
    )
    parser.add_argument("--pick-trials", type=int, default=16, help="trials per replayed pick study")
    parser.add_argument("--replicates", type=int, help="use the first N lines of the replicate data (default all)")
    parser.add_argument(
        "--random-sets", type=int, help="use the first N recorded random sets (default all; 2 before v3 was recorded)"
    )
    parser.add_argument("--rules", nargs="+", choices=list(RULES), default=list(RULES))
    parser.add_argument(
        "--order", choices=["random", "improving"], default="random", help="the order a replayed study takes configs"
    )
    parser.add_argument(
        "--data",
        type=recorded_set,
        nargs="+",
        help="recorded runs to replay instead of the 2.5M-step set (benchmarks/data/drone_slice_1m.jsonl, say)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="studies run at once (processes)")
    args = parser.parse_args()
    runs = load_runs(tuple(args.data) if args.data else None, args.replicates, args.random_sets)
    groups_by: dict[str, list[Run]] = {}
    for r in runs:
        if len(r.curve) >= 4 and any(e > 0 for _, _, e in r.curve) and r.rates:
            groups_by.setdefault(r.key, []).append(r)
    pool = list(groups_by.values())
    picks = [g for g in pool if len(g) >= 3]
    _POOL[:] = [pool, picks]
    print("\n".join(header()))
    seeds = range(args.first_seed, args.first_seed + args.studies)
    with tempfile.TemporaryDirectory() as tmp:
        print(
            f"\npruning: {sum(len(g) for g in pool)} real runs with curves ({len(pool)} configs); {args.studies} "
            f"studies of the loop, --trials {args.trials}, configs in {args.order} order"
        )
        rows = []
        for name in args.rules:
            out = run_all([("pruning", name, s, args.trials, args.order, tmp) for s in seeds], args.jobs)
            top = sum(o["top_stopped"] for o in out)
            of = sum(o["top"] for o in out)
            rows.append(
                f"| {name} | {np.mean([o['saved'] for o in out]):.1%} | {top} of {of} ({top / max(1, of):.1%}) | "
                f"{np.mean([o['regret'] for o in out]):.4f} | {np.mean([o['stopped'] for o in out]):.1f} | "
                f"{studies_line(out)} |"
            )
        print(
            "| rule | steps saved (mean) | top-decile runs stopped | regret of the best kept (mean) | stopped / study "
            "| studies |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        print("\n".join(rows))
        if len(picks) < args.pick_trials:
            print(f"\npick: {len(picks)} configs with 3+ seeds, fewer than --pick-trials {args.pick_trials}: not run")
            return 0
        out = run_all([("pick", "nsha_dense", s, args.pick_trials, "random", tmp) for s in seeds], args.jobs)
    print(
        f"\npick: {len(picks)} configs with 3+ seeds ({sum(len(g) for g in picks)} runs); {args.studies} studies of "
        f"the loop, --trials {args.pick_trials}, the shipped early stopping; truth = the mean of its unseen runs"
    )
    print(f"  {studies_line(out)}")
    diff = np.asarray([o["loop"] - o["raw"] for o in out])
    mean = bootstrap_mean(diff)
    print(f"loop's champion minus best single evaluation: {interval(list(diff), np.random.default_rng(0))}")
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
