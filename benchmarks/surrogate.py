"""A surrogate of the built-in task fitted to real recorded runs: what a tuner would see if it trained a config.

- **Mean landscape**: a Gaussian process with one length scale per key (scikit-learn, Matern 5/2 with ARD plus a
  white-noise term) on the logit of each config's held-out success, over the tune space scaled to [0, 1] (log
  keys on a log scale). Length scales are fitted by marginal likelihood, so a key the data say nothing about is
  flattened out instead of moving the landscape as much as the learning rate does.
- **Seed noise**: a trial's training seed moves its success by a draw in logit space whose spread is measured on
  configs recorded on several training seeds (the replicates in benchmarks/data/drone_replicates.jsonl and the
  re-runs among the random runs), per band of success: middling configs can collapse on one seed, good ones
  vary little. A config's *true* quality is its success averaged over seeds (what a user gets from it on a
  fresh seed).
- **Learning curves**: a simulated trial takes the real curve of a recorded run near it (drawn by the fitted
  kernel) and shifts it, growing with progress, so it ends at the trial's success: the early-vs-final relation
  and the curve noise are the real ones, not i.i.d. noise. The episodes behind each point come with it.

``fidelity()`` says how faithful the fit is (leave-one-out Spearman and MAE, top-decile recall, random configs'
success against the recorded random runs'); the benchmark prints it on every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.config import to_dotted
from autopilot.experiment import presets
from autopilot.proposers.sampling import to_unit
from autopilot.space import SearchSpace
from benchmarks.simulated import Training

DATA_DIR = Path(__file__).resolve().parent / "data"
# In the order recorded; a figure made before a set existed names how many it used (--random-sets).
RANDOM_DATA = (DATA_DIR / "drone_runs.jsonl", DATA_DIR / "drone_runs_v2.jsonl", DATA_DIR / "drone_runs_v3.jsonl")
REPLICATE_DATA = DATA_DIR / "drone_replicates.jsonl"
SPACE = SearchSpace.from_dict(presets.default_search_space(), presets.puffer_rules())
EPS = 1e-4


def coordinates(overrides: dict[str, Any], baseline: dict[str, Any]) -> np.ndarray:
    """A config as a point in [0, 1]^d over the tunable keys (log keys on a log scale)."""
    flat, base = to_dotted(overrides), to_dotted(baseline)
    return np.asarray([to_unit(p, flat.get(n, base.get(n))) for n, p in sorted(SPACE.params.items()) if p.tunable])


def tuned_keys() -> list[str]:
    return [n for n, p in sorted(SPACE.params.items()) if p.tunable]


def config_key(overrides: dict[str, Any]) -> str:
    """A config without its training seed: runs of the same config on other seeds share it."""
    flat = {k: v for k, v in to_dotted(overrides).items() if k != "train.seed"}
    return hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()[:16]


def logit(p: np.ndarray | float) -> Any:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def sigmoid(z: np.ndarray | float) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(z)))


@dataclass
class Run:
    """One recorded training: its config, held-out successes and curve (fractions of its steps)."""

    key: str
    overrides: dict[str, Any]
    successes: int
    episodes: int
    steps: int
    curve: list[tuple[float, float, float]]  # (fraction of steps, success rate, episodes behind it)
    replicate: bool
    rates: dict[str, list[float]] = field(default_factory=dict)  # grip_rate, carry_rate, ... at the curve's points

    @property
    def success(self) -> float:
        return self.successes / self.episodes


def recorded_set(text: str) -> Path:
    """An argparse type for an export of ``benchmarks.record_runs``: a missing file is a clear error, where
    ``load_runs`` alone would skip it and a benchmark would run on less data than its command says."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such recorded set")
    return path


def load_runs(
    paths: tuple[Path, ...] | None = None, replicates: int | None = None, random_sets: int | None = None
) -> list[Run]:
    """The recorded runs (by default the first ``random_sets`` random sets, all if None, and the replicates);
    ``replicates``: only the first that many lines of the replicate file (it grows while a recording runs, so a
    figure names how many it used)."""
    if paths is None:
        paths = (*RANDOM_DATA[:random_sets], REPLICATE_DATA)
    out = []
    for path in paths:
        if not path.exists():
            continue
        lines = path.read_text().splitlines()
        for line in lines[:replicates] if path == REPLICATE_DATA and replicates is not None else lines:
            r = json.loads(line) if line.strip() else None
            if not r or r.get("state") != "complete" or not r.get("eval_episodes") or not r.get("steps"):
                continue
            episodes = dict((int(s), e) for s, e in r.get("curve_episodes") or [])
            steps = int(r["steps"])
            curve = [(s / steps, float(v), float(episodes.get(int(s)) or 0.0)) for s, v in r["curve"]]
            overrides = {k: v for k, v in to_dotted(r["overrides"]).items() if k != "train.seed"}
            rates = {}
            for name, points in (r.get("curves") or {}).items():
                by_step = dict((int(s), float(v)) for s, v in points)
                if all(int(s) in by_step for s, _ in r["curve"]):
                    rates[name] = [by_step[int(s)] for s, _ in r["curve"]]
            out.append(
                Run(
                    config_key(overrides),
                    overrides,
                    int(r["eval_successes"]),
                    int(r["eval_episodes"]),
                    steps,
                    curve,
                    "replicate" in (r.get("tags") or []),
                    rates,
                )
            )
    return out


def half_of(key: str) -> str:
    """Configs split in two halves by their key: develop on one, report on a surrogate fitted to the other."""
    return "A" if int(key, 16) % 2 == 0 else "B"


class Surrogate:
    def __init__(
        self, runs: list[Run], baseline: dict[str, Any], half: str = "all", bootstrap: int | None = None
    ) -> None:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        self.baseline = baseline
        self.runs = [r for r in runs if half == "all" or half_of(r.key) == half]
        groups: dict[str, list[Run]] = {}
        for r in self.runs:
            groups.setdefault(r.key, []).append(r)
        self.keys = sorted(groups)
        if bootstrap is not None:  # a refit on configs drawn with replacement: is a conclusion the fit's alone?
            pick = np.random.default_rng([bootstrap, 5]).integers(0, len(self.keys), len(self.keys))
            self.keys = [self.keys[i] for i in pick]
        self.groups = groups
        self.x = np.stack([coordinates(groups[k][0].overrides, baseline) for k in self.keys])
        successes = np.asarray([sum(r.successes for r in groups[k]) for k in self.keys], dtype=float)
        episodes = np.asarray([sum(r.episodes for r in groups[k]) for k in self.keys], dtype=float)
        self.observed = successes / episodes
        self.z = logit((successes + 0.5) / (episodes + 1.0))
        self.seed_sd = seed_noise(groups)
        self.ceiling = float(self.z.max()) + 0.5
        d = self.x.shape[1]
        kernel = ConstantKernel(4.0, (1e-2, 1e3)) * Matern(
            length_scale=np.full(d, 0.5), length_scale_bounds=(0.05, 100.0), nu=2.5
        ) + WhiteKernel(1.0, (1e-3, 20.0))
        # Standardised here rather than with normalize_y, so the leave-one-out below needs no private attributes.
        self.z_mean, self.z_scale = float(self.z.mean()), float(self.z.std()) or 1.0
        self.gp = GaussianProcessRegressor(kernel, normalize_y=False, n_restarts_optimizer=1, random_state=0)
        self.gp.fit(self.x, (self.z - self.z_mean) / self.z_scale)
        self.length_scales = np.asarray(self.gp.kernel_.k1.k2.length_scale, dtype=float)
        # The curve pool: recorded runs with curves, and where they sit.
        counted = [r for r in self.runs if len(r.curve) >= 4 and any(e > 0 for _, _, e in r.curve)]
        self.pool = counted or [r for r in self.runs if len(r.curve) >= 4]
        self.pool_x = np.stack([coordinates(r.overrides, baseline) for r in self.pool])
        # The runs that logged the funnel's curves (every recorded set since the second did).
        self.funnel_pool = [r for r in self.pool if {"grip_rate", "carry_rate"} <= set(r.rates)]
        self.funnel_x = np.asarray([coordinates(r.overrides, baseline) for r in self.funnel_pool])
        nodes, weights = np.polynomial.hermite_e.hermegauss(21)
        self._gh = (nodes, weights / weights.sum())

    # -- the landscape -------------------------------------------------------------------------------------
    def mean_logit(self, points: np.ndarray) -> np.ndarray:
        """The GP's mean, bent softly under a ceiling half a logit above the best recorded config: beyond the
        data the fit would extrapolate a trend, and nothing recorded says configs that good exist."""
        mu = np.asarray(self.gp.predict(np.atleast_2d(points))) * self.z_scale + self.z_mean
        return self.ceiling - np.logaddexp(0.0, self.ceiling - mu)

    def true_success(self, overrides: dict[str, Any]) -> float:
        """The config's success averaged over training seeds."""
        return float(self.true_of(self.mean_logit(coordinates(overrides, self.baseline))[0]))

    def true_of(self, mu: float | np.ndarray) -> Any:
        nodes, weights = self._gh
        mu = np.asarray(mu)
        return (sigmoid(mu[..., None] + self.sd_at(mu)[..., None] * nodes) * weights).sum(axis=-1)

    def sd_at(self, mu: np.ndarray | float) -> Any:
        """The seed noise at mean logit ``mu``: interpolated between the bands' centres, flat beyond them."""
        centres, sds = zip(*self.seed_sd, strict=True)
        return np.interp(mu, centres, sds)

    def train(
        self, overrides: dict[str, Any], rng: np.random.Generator
    ) -> tuple[float, list[tuple[float, float, float]]]:
        """One training on a fresh seed: the success it reaches and its learning curve."""
        achieved, neighbour = self._draw(overrides, rng, self.pool, self.pool_x)
        shift = achieved - neighbour.success
        curve = [(f, float(np.clip(v + shift * f, 0.0, 1.0)), e) for f, v, e in neighbour.curve]
        return achieved, curve

    def _draw(
        self, overrides: dict[str, Any], rng: np.random.Generator, pool: list[Run], pool_x: np.ndarray
    ) -> tuple[float, Run]:
        """A training's success on a fresh seed, and the recorded run (near it, by the fitted kernel) whose
        curve it takes."""
        x = coordinates(overrides, self.baseline)
        mu = self.mean_logit(x)[0]
        achieved = float(sigmoid(mu + rng.normal(0.0, float(self.sd_at(mu)))))
        d2 = (((pool_x - x) / self.length_scales) ** 2).sum(axis=1)
        nearest = np.argsort(d2)[:5]
        w = np.exp(-(d2[nearest] - d2[nearest].min()) / 2)
        return achieved, pool[int(rng.choice(nearest, p=w / w.sum()))]

    def train_funnel(
        self, overrides: dict[str, Any], rng: np.random.Generator
    ) -> tuple[float, list[tuple[float, float, float, dict[str, float]]]]:
        """As :meth:`train`, with the grip and carry curves the early-stopping signal reads: the neighbour is drawn
        from the recorded runs that logged them, every rate is shifted as its success is, and the funnel holds
        (grip >= carry >= success)."""
        if not self.funnel_pool:
            raise ValueError("no recorded run in this fit logged grip and carry curves (every set since v2 does)")
        achieved, neighbour = self._draw(overrides, rng, self.funnel_pool, self.funnel_x)
        shift = achieved - neighbour.success
        curve = []
        for i, (f, v, e) in enumerate(neighbour.curve):
            success = float(np.clip(v + shift * f, 0.0, 1.0))
            carry = max(success, float(np.clip(neighbour.rates["carry_rate"][i] + shift * f, 0.0, 1.0)))
            grip = max(carry, float(np.clip(neighbour.rates["grip_rate"][i] + shift * f, 0.0, 1.0)))
            curve.append((f, success, e, {"carry_rate": carry, "grip_rate": grip}))
        return achieved, curve

    # -- how faithful it is ----------------------------------------------------------------------------------
    def loo(self) -> np.ndarray:
        """Leave-one-out predicted logits at the fitted hyperparameters (the closed form for a GP)."""
        k = self.gp.kernel_(self.x) + np.eye(len(self.x)) * self.gp.alpha
        inv = np.linalg.inv(k)
        y = (self.z - self.z_mean) / self.z_scale
        pred = y - (inv @ y) / np.diag(inv)
        return pred * self.z_scale + self.z_mean

    def fidelity(self, random_configs: list[dict[str, Any]], data_random: np.ndarray) -> dict[str, Any]:
        loo_success = self.true_of(self.loo())
        rho = spearman(loo_success, self.observed)
        mae = float(np.mean(np.abs(loo_success - self.observed)))
        rng = np.random.default_rng(3)
        mus = self.mean_logit(np.stack([coordinates(c, self.baseline) for c in random_configs]))
        truth = self.true_of(mus)
        seen = sigmoid(mus + rng.normal(0.0, 1.0, len(mus)) * self.sd_at(mus))
        seen = rng.binomial(256, seen) / 256
        maxes = [seen[rng.integers(0, len(seen), len(data_random))].max() for _ in range(200)]
        return {
            "configs": len(self.keys),
            "runs": len(self.runs),
            "replicated_configs": sum(len(self.groups[k]) >= 2 for k in set(self.keys)),
            "loo_spearman": rho,
            "loo_mae": mae,
            "top_decile_recall": top_decile_recall(loo_success, self.observed),
            "seed_sd_logit": [(round(float(sigmoid(c)), 2), round(sd, 2)) for c, sd in self.seed_sd],
            "random_true": _dist(truth),
            "random_seen": {**_dist(seen), "max": float(np.median(maxes))},
            "data_random": _dist(data_random),
            "p90": float(np.quantile(truth, 0.9)),
            "p98": float(np.quantile(truth, 0.98)),
            "length_scales": dict(zip(tuned_keys(), (round(float(s), 2) for s in self.length_scales), strict=True)),
        }


def top_decile_recall(predicted: np.ndarray, observed: np.ndarray) -> float:
    """The share of the observed top tenth that the prediction also puts in its top tenth."""
    top = max(1, round(0.1 * len(observed)))
    return len(set(np.argsort(-observed)[:top]) & set(np.argsort(-predicted)[:top])) / top


def _dist(v: np.ndarray) -> dict[str, float]:
    return {"median": float(np.median(v)), "above_0.5": float(np.mean(v > 0.5)), "max": float(np.max(v))}


# Seed noise is estimated separately for configs by their mean success: a good config varies little from seed to
# seed, a middling one can collapse on one seed (measured on the replicates: logit spreads from ~0.2 to over 2).
NOISE_BINS = ((0.02, 0.25), (0.25, 0.6), (0.6, 0.98))
DEFAULT_NOISE = 0.8


def seed_noise(groups: dict[str, list[Run]]) -> list[tuple[float, float]]:
    """The spread a training seed adds, in logit space, as (mean logit of the bin, sd) per band of success: the
    pooled within-config variance of configs run on at least two seeds, less what the evaluation's binomial
    noise explains (delta method). Configs at ~0 or ~1 say nothing in logit space and are left out; a band with
    fewer than 5 degrees of freedom takes DEFAULT_NOISE."""
    out = []
    for low, high in NOISE_BINS:
        within, dof, centres = 0.0, 0, []
        for runs in groups.values():
            if len(runs) < 2:
                continue
            p = np.asarray([(r.successes + 0.5) / (r.episodes + 1.0) for r in runs])
            if not low < p.mean() <= high:
                continue
            z = logit(p)
            binomial = float(np.mean([1.0 / (r.episodes * q * (1 - q)) for r, q in zip(runs, p, strict=True)]))
            within += max(0.0, float(z.var(ddof=1)) - binomial) * (len(runs) - 1)
            dof += len(runs) - 1
            centres.append(float(z.mean()))
        centre = float(np.mean(centres)) if centres else float(logit((low + high) / 2))
        out.append((centre, math.sqrt(within / dof) if dof >= 5 else DEFAULT_NOISE))
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (average ranks for ties)."""

    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for value in np.unique(v):  # ties share their mean rank
            r[v == value] = r[v == value].mean()
        return r

    return float(np.corrcoef(ranks(np.asarray(a)), ranks(np.asarray(b)))[0, 1])


def random_configs(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Configs drawn as the random proposer draws them (Optuna's RandomSampler over the tune ranges)."""
    import optuna

    from autopilot.proposers.optuna_samplers import distributions

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    dists = distributions(SPACE)
    return [dict(study.ask(dists).params) for _ in range(count)]


def first_random_runs(runs: list[Run]) -> np.ndarray:
    """The recorded random configs' held-out success, one run per config (no re-runs, no replicates)."""
    seen: dict[str, float] = {}
    for r in runs:
        if not r.replicate:
            seen.setdefault(r.key, r.success)
    return np.asarray(list(seen.values()))


class SurrogateModel:
    """The surrogate as a landscape for the simulated backend (benchmarks/simulated.py): a training's metrics
    lines (success, grip, carry and the episodes behind them) and its evaluation episodes."""

    def __init__(self, surrogate: Surrogate, sps: float = 120_000.0) -> None:
        self.surrogate = surrogate
        self.sps = sps  # the built-in task's training speed on 2 cores, about (a 2.5M-step trial in ~21 s)

    def true_quality(self, overrides: dict[str, Any]) -> float:
        return self.surrogate.true_success(overrides)

    def train(self, overrides: dict[str, Any], steps: int, episodes: int, rng: np.random.Generator) -> Training:
        achieved, curve = self.surrogate.train_funnel(overrides, rng)
        lines = [
            {
                "step": max(1, int(f * steps)),
                "metrics": {"success_rate": v, **rates, "environment/episodes": e},
            }
            for f, v, e, rates in curve
        ]
        final = curve[-1][3] if curve else {}
        success = rng.random(episodes) < achieved
        # The funnel per episode: a delivered episode was carried and gripped; the others carry and grip at the
        # rates that make the totals the curve's last ones.
        carry_rest = _rest(final.get("carry_rate", achieved), achieved)
        carry = success | (rng.random(episodes) < carry_rest)
        grip_rest = _rest(final.get("grip_rate", achieved), float(carry.mean()))
        grip = carry | (rng.random(episodes) < grip_rest)
        rows = [
            {"success": bool(s), "carry": bool(c), "grip": bool(g)}
            for s, c, g in zip(success, carry, grip, strict=True)
        ]
        return Training(lines, rows, steps, self.sps)


def _rest(rate: float, below: float) -> float:
    """The chance an episode not counted in ``below`` counts in ``rate`` (rate >= below)."""
    return float(np.clip((rate - below) / (1.0 - below), 0.0, 1.0)) if below < 1.0 else 0.0
