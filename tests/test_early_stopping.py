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


def test_a_rung_where_the_quantile_is_the_worst_peer_prunes_nothing() -> None:
    """Early in a hard task most curves sit at zero: there is no ranking to prune by."""
    flat = [[(i, 0.0) for i in range(1, 11)] for _ in range(3)] + [curve(0.9)]
    assert decide([(5, 0.0), (6, 0.0)], peers=flat, min_delta=0.0) is None


def test_noise_aware_margin_spares_a_value_measured_on_few_episodes() -> None:
    """0.30 against a quantile of 0.4375: pruned when 3,000 episodes stand behind it (SE ~0.009), kept when 30 do
    (SE ~0.09, and two of them exceed the gap)."""
    many = [(5, 1000.0), (6, 1000.0), (4, 1000.0)]
    few = [(5, 10.0), (6, 10.0), (4, 10.0)]
    points = [(4, 0.3), (5, 0.3), (6, 0.3)]
    common = {"min_delta": 0.0, "min_se": 2.0, "smoothing": 3}
    assert decide(points, episodes=sorted(many), **common) is not None
    assert decide(points, episodes=sorted(few), **common) is None


def test_without_episode_counts_the_spread_of_the_smoothed_lines_is_the_noise() -> None:
    steady = [(4, 0.30), (5, 0.30), (6, 0.30)]
    jumpy = [(4, 0.0), (5, 0.9), (6, 0.0)]  # mean 0.30, but the lines disagree by far more than the gap
    common = {"min_delta": 0.0, "min_se": 2.0, "smoothing": 3}
    assert decide(steady, **common) is not None
    assert decide(jumpy, **common) is None


def test_every_nth_trial_is_exempt() -> None:
    from autopilot.analysis.early_stopping import SuccessiveHalvingPruner

    pruner = SuccessiveHalvingPruner("success_rate", exempt_every=4)
    assert [n for n in range(1, 13) if pruner.exempt(n)] == [4, 8, 12]
    assert not any(SuccessiveHalvingPruner("success_rate", exempt_every=0).exempt(n) for n in range(1, 13))


def test_a_weighted_signal_ranks_by_the_sum_of_its_metrics() -> None:
    """Success is zero for everyone at the rung; grip and carry already tell the runs apart."""
    from autopilot.analysis.early_stopping import SuccessiveHalvingPruner

    def lines(grip: float, upto: int = 10) -> list[dict[str, object]]:
        return [
            {"step": i, "metrics": {"success_rate": 0.0, "grip_rate": grip * i / 10, "carry_rate": grip * i / 20}}
            for i in range(1, upto + 1)
        ]

    peers = [lines(g) for g in (0.6, 0.7, 0.8, 0.9)]
    signal = (("success_rate", 1.0), ("carry_rate", 0.5), ("grip_rate", 0.25))
    plain = SuccessiveHalvingPruner("success_rate", rungs=(0.5,), min_delta=0.0, smoothing=1)
    dense = SuccessiveHalvingPruner("success_rate", rungs=(0.5,), min_delta=0.0, smoothing=1, signal=signal)
    assert plain.prune(lines(0.05, 6), 10, peers) is None  # success alone: all at zero, no ranking
    assert dense.prune(lines(0.05, 6), 10, peers) is not None
    assert dense.prune(lines(0.85, 6), 10, peers) is None
