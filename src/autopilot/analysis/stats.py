"""Bootstrap confidence intervals and verdicts from per-episode evaluation outcomes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
# Verdicts use a stricter interval than the one shown for a single run: two-sided 97.5%, so a config compared
# with itself is called improved or regressed in about 2.5% of comparisons (the A/A test checks <= 5%).
VERDICT_CONFIDENCE = 0.975
RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def bootstrap_mean(values: np.ndarray, seed: int = 0) -> Interval:
    """Percentile bootstrap of the mean (seeded, so the same data always gives the same interval)."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    means = values[idx].mean(axis=1)
    alpha = (1 - CONFIDENCE) / 2
    return Interval(
        float(values.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)), len(values)
    )


def bootstrap_difference(
    a: np.ndarray, b: np.ndarray, seed: int = 0, confidence: float = VERDICT_CONFIDENCE
) -> Interval:
    """Interval of mean(a) - mean(b), resampling both independently."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    ma = a[rng.integers(0, len(a), size=(RESAMPLES, len(a)))].mean(axis=1)
    mb = b[rng.integers(0, len(b), size=(RESAMPLES, len(b)))].mean(axis=1)
    diff = ma - mb
    alpha = (1 - confidence) / 2
    return Interval(
        float(a.mean() - b.mean()),
        float(np.quantile(diff, alpha)),
        float(np.quantile(diff, 1 - alpha)),
        min(len(a), len(b)),
    )


def verdict(diff: Interval, maximize: bool = True) -> str:
    """improved / regressed when the interval of the difference excludes zero, else inconclusive."""
    if diff.low > 0:
        return "improved" if maximize else "regressed"
    if diff.high < 0:
        return "regressed" if maximize else "improved"
    return "inconclusive"


def normal_difference(a: np.ndarray, b: np.ndarray, confidence: float) -> Interval:
    """Two-sided interval of mean(a) - mean(b) from the normal approximation (Welch's standard error).

    Used by the promotion rule, whose levels get strict (a tail of 1e-4 and below) where a percentile
    bootstrap of a few thousand resamples cannot resolve the tail; with hundreds of episodes per side the
    mean difference is close to normal.
    """
    from statistics import NormalDist

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff = float(a.mean() - b.mean())
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))) if min(len(a), len(b)) > 1 else np.inf
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    return Interval(diff, diff - z * se, diff + z * se, min(len(a), len(b)))
