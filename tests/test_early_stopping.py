from __future__ import annotations

from autopilot.analysis.early_stopping import prune_decision, value_at


def curve(final: float, n: int = 10) -> list[tuple[int, float]]:
    return [(i, final * i / n) for i in range(1, n + 1)]


PEERS = [curve(0.8), curve(0.85), curve(0.9), curve(0.95)]


def decide(points: list[tuple[int, float]], peers: list[list[tuple[int, float]]] = PEERS, **kw: object) -> str | None:
    options = {"rungs": [0.5], "keep_fraction": 0.5, "min_trials": 4, "min_delta": 0.05, "smoothing": 1}
    options.update(kw)
    return prune_decision(points, 10, peers, **options)  # type: ignore[arg-type]


def test_a_trial_clearly_behind_at_a_rung_is_pruned() -> None:
    assert decide(curve(0.1)[:6]) is not None


def test_before_the_rung_nothing_is_decided() -> None:
    assert decide(curve(0.1)[:4]) is None


def test_too_few_peers_means_no_pruning() -> None:
    assert decide(curve(0.1)[:6], peers=PEERS[:3]) is None


def test_within_min_delta_of_the_quantile_survives() -> None:
    # The peers' median at step 5 is 0.4375; 0.4 is below it but not clearly.
    assert decide([(5, 0.4), (6, 0.41)]) is None


def test_minimised_objectives_prune_the_high_ones() -> None:
    peers = [curve(-0.8), curve(-0.85), curve(-0.9), curve(-0.95)]
    assert decide(curve(-0.95)[:6], peers=peers, maximize=False) is None  # lower is better: kept
    assert decide([(5, 2.0), (6, 2.0)], peers=peers, maximize=False) is not None


def test_smoothing_averages_the_last_values() -> None:
    assert value_at([(1, 0.0), (2, 1.0), (3, 0.5)], 3, smoothing=2) == 0.75
    assert value_at([(4, 0.2)], 3, smoothing=2) is None
