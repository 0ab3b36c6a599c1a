"""Statistics, verdicts, the promotion rule and the behavioural analysis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autopilot.analysis.behavior import analyse_behavior, learning_signals
from autopilot.analysis.promotion import configs, decide
from autopilot.analysis.stats import bootstrap_difference, bootstrap_mean, verdict
from autopilot.analysis.summary import map_metrics
from autopilot.experiment.behavior_rules import DEFAULT_RULES, RuleError, parse_rules
from autopilot.loop.scheduler import confirmations_due, final_reruns, reserve_trials
from autopilot.objective import Objective
from autopilot.workspace.records import RunRecord, RunView


def test_a_config_compared_with_itself_is_rarely_called_different() -> None:
    """A/A check: two samples of the same success probability; improved or regressed in at most 5%."""
    rng = np.random.default_rng(0)
    trials, wrong = 400, 0
    for t in range(trials):
        a = rng.random(512) < 0.6
        b = rng.random(512) < 0.6
        wrong += verdict(bootstrap_difference(a, b, seed=t)) != "inconclusive"
    assert wrong / trials <= 0.05, wrong / trials


def test_a_real_difference_is_detected() -> None:
    rng = np.random.default_rng(1)
    detected = sum(
        verdict(bootstrap_difference(rng.random(512) < 0.7, rng.random(512) < 0.55, seed=t)) == "improved"
        for t in range(50)
    )
    assert detected >= 45


def test_bootstrap_interval_covers_the_mean_and_is_seeded() -> None:
    values = np.array([1.0] * 30 + [0.0] * 70)
    ci = bootstrap_mean(values, seed=3)
    assert ci.low < 0.3 < ci.high and ci.mean == 0.3 and ci.n == 100
    assert bootstrap_mean(values, seed=3) == ci


def test_verdict_direction_for_minimised_metrics() -> None:
    diff = bootstrap_difference(np.zeros(200), np.ones(200))
    assert verdict(diff, maximize=True) == "regressed"
    assert verdict(diff, maximize=False) == "improved"


# ---------------------------------------------------------------- promotion


def make_run(
    runs: Path,
    i: int,
    success: float,
    n: int = 512,
    tags: list[str] | None = None,
    parent: str | None = None,
    seed: int = 1,
    feasible: bool = True,
) -> RunView:
    run_id = f"2026-01-01T0000{i:02d}Z-{i:06x}"
    folder = runs / run_id
    folder.mkdir(parents=True)
    k = round(success * n)
    episodes = [{"success": j < k} for j in range(n)]
    (folder / "eval_episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    record = RunRecord(
        id=run_id,
        case_id=f"c{i}",
        state="complete",
        tags=tags or [],
        parent_ids=[parent] if parent else [],
        seed=seed,
        created=f"2026-01-01T00:00:{i:02d}Z",
    )
    return RunView(record, {}, {"metrics": {"success_rate": k / n}, "score": k / n, "feasible": feasible})


def test_the_best_estimate_is_picked_with_its_evidence(tmp_path: Path) -> None:
    history = [make_run(tmp_path, 1, 0.40), make_run(tmp_path, 2, 0.44)]
    result = decide(history, Objective(), tmp_path)
    assert result.champion is history[1]  # no significance needed: the better estimate is the better bet
    assert "best estimate" in result.evidence[history[1].id]
    assert result.timeline == [(history[0].id, history[0].id), (history[1].id, history[1].id)]


def test_a_better_estimate_on_fewer_seeds_waits_for_a_rerun_then_pooled_evidence_decides(tmp_path: Path) -> None:
    base = make_run(tmp_path, 1, 0.50)
    base_again = make_run(tmp_path, 2, 0.50, tags=["confirm"], parent=base.id, seed=99)
    lucky = make_run(tmp_path, 3, 0.56)
    result = decide([base, base_again, lucky], Objective(), tmp_path)
    assert result.champion is base and result.awaiting_confirmation == [lucky.id]  # 1 seed against 2
    assert confirmations_due([base, base_again, lucky], result) == [lucky.id]
    agrees = make_run(tmp_path, 4, 0.58, tags=["confirm"], parent=lucky.id, seed=98)
    result = decide([base, base_again, lucky, agrees], Objective(), tmp_path)
    assert result.champion is lucky and result.awaiting_confirmation == []
    disagrees = make_run(tmp_path, 5, 0.40, tags=["confirm"], parent=lucky.id, seed=97)
    assert decide([base, base_again, lucky, disagrees], Objective(), tmp_path).champion is base


def test_one_lucky_seed_is_shrunk_more_than_a_mean_over_three(tmp_path: Path) -> None:
    steady = make_run(tmp_path, 1, 0.60)
    reruns = [make_run(tmp_path, i, s, tags=["confirm"], parent=steady.id, seed=i) for i, s in ((2, 0.58), (3, 0.62))]
    lucky = make_run(tmp_path, 4, 0.70)
    others = [make_run(tmp_path, i, 0.2 + 0.05 * i) for i in range(5, 9)]
    groups = {c.root.id: c for c in configs([steady, *reruns, lucky, *others], Objective())}
    pull = {k: abs(c.estimate - c.mean) for k, c in groups.items()}
    assert pull[lucky.id] > pull[steady.id] > 0


def test_feasible_beats_infeasible_whatever_the_score(tmp_path: Path) -> None:
    fast_but_crashy = make_run(tmp_path, 1, 0.9, feasible=False)
    safe = make_run(tmp_path, 2, 0.3)
    assert decide([fast_but_crashy, safe], Objective(), tmp_path).champion is safe


def test_a_clear_improvement_is_claimed_and_a_small_one_is_not(tmp_path: Path) -> None:
    base, better = make_run(tmp_path, 1, 0.40), make_run(tmp_path, 2, 0.60)
    claim = decide([base, better], Objective(), tmp_path).claim
    assert claim is not None and claim.better and claim.baseline_id == base.id
    assert "better than the baseline" in claim.describe("success_rate")
    other = tmp_path / "b"
    result = decide([make_run(other, 1, 0.60), make_run(other, 2, 0.62)], Objective(), other)
    assert result.champion is not None and result.claim is not None and result.claim.better is False


def test_a_loop_of_identical_configs_rarely_claims_an_improvement(tmp_path: Path) -> None:
    """A/A over whole loops: 10 configs of one success probability (256 episodes each) with the re-runs the
    loop would queue. Any pick is as good as another; at most 5% of loops may claim to beat the baseline."""
    rng = np.random.default_rng(7)
    loops, false_claims = 40, 0
    for loop_index in range(loops):
        runs = tmp_path / f"loop{loop_index}"
        history: list[RunView] = []
        for i in range(1, 11):
            history.append(make_run(runs, i * 2, float(rng.binomial(256, 0.5)) / 256, n=256))
            for waiting in confirmations_due(history, decide(history, Objective(), runs)):
                confirm = float(rng.binomial(256, 0.5)) / 256
                history.append(make_run(runs, i * 2 + 1, confirm, n=256, tags=["confirm"], parent=waiting))
        claim = decide(history, Objective(), runs).claim
        false_claims += bool(claim and claim.better)
    assert false_claims / loops <= 0.05


def test_the_last_trials_of_a_budget_rerun_the_top_configs_fewest_seeds_first(tmp_path: Path) -> None:
    history = [make_run(tmp_path, i, s) for i, s in ((1, 0.3), (2, 0.7), (3, 0.5), (4, 0.6))]
    history.append(make_run(tmp_path, 5, 0.7, tags=["confirm"], parent=history[1].id, seed=9))
    promotion = decide(history, Objective(), tmp_path)
    assert final_reruns(promotion, slots=2) == [history[3].id, history[2].id]  # 0.6 and 0.5 have one seed
    assert reserve_trials(32) == 3 and reserve_trials(8) == 1


# ---------------------------------------------------------------- behaviour


def rates(**overrides: float | None) -> dict[str, float | None]:
    base: dict[str, float | None] = {
        "hover_rate": 0.8,
        "grip_rate": 0.9,
        "carry_rate": 0.8,
        "success_rate": 0.7,
        "collision_rate": 0.05,
        "oob_rate": 0.02,
        "timeout_rate": 0.23,
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("metrics", "focus", "severity"),
    [
        (rates(grip_rate=0.01, success_rate=0.0), "diagnostic_grip", "critical"),
        (rates(collision_rate=0.45), "fix_stability", "warning"),
        (rates(oob_rate=0.25), "fix_stability", "warning"),
        (rates(grip_rate=0.3, success_rate=0.1), "improve_grip", "warning"),
        (rates(grip_rate=0.9, success_rate=0.2), "improve_carrying", "warning"),
        (rates(), "optimize_performance", "ok"),
    ],
)
def test_every_next_focus_is_reachable(metrics: dict[str, float | None], focus: str, severity: str) -> None:
    result = analyse_behavior(metrics, [], "success_rate")
    assert (result["next_focus"], result["severity"]) == (focus, severity)
    assert result["insights"] and result["not_evaluated"] == []
    assert list(result["metrics_summary"])[:4] == ["hover_rate", "grip_rate", "carry_rate", "success_rate"]


def test_missing_metrics_are_unknown_not_zero() -> None:
    result = analyse_behavior({"mean_reward": 3.0}, [], "mean_reward")
    assert result["next_focus"] == "optimize_performance"  # only the rule without conditions applies
    assert any(line.startswith("not_gripping: grip_rate unknown") for line in result["not_evaluated"])
    assert result["metrics_summary"]["grip_rate"] is None


def test_a_mapping_applies_where_its_key_was_reported_and_never_hides_a_reported_name() -> None:
    mapping = {"episode_length": "environment/episode_length", "score": "environment/score"}
    # The held-out evaluation reports episode_length itself and the env's score under its PufferLib key.
    metrics = map_metrics({"episode_length": 41.0, "environment/score": 0.5}, mapping)
    assert metrics["episode_length"] == 41.0 and metrics["score"] == 0.5
    assert map_metrics({"episode_length": 41.0, "environment/episode_length": 40.0}, mapping)["episode_length"] == 40.0
    assert map_metrics({}, mapping)["score"] is None  # unknown, so a missing objective is reported as missing


def test_learning_signals() -> None:
    flat = [
        {"step": i, "metrics": {"success_rate": 0.1}, "losses": {"entropy": 5.0 - i * 0.6, "approx_kl": 0.0}}
        for i in range(8)
    ]
    insights = learning_signals(flat, "success_rate")
    assert any(i.startswith("flat learning curve") for i in insights)
    assert any(i.startswith("entropy collapsed") for i in insights)
    assert any("clipping never engages" in i for i in insights)
    rising = [
        {"step": i, "metrics": {"success_rate": i / 10}, "losses": {"entropy": 5.0, "approx_kl": 0.01}}
        for i in range(8)
    ]
    assert learning_signals(rising, "success_rate") == []


def test_rule_tables_are_validated() -> None:
    parse_rules(DEFAULT_RULES)
    with pytest.raises(RuleError) as err:
        parse_rules(
            [{"name": "x", "when": [{"metric": "grip_rate", "under": 0.1}], "severity": "bad", "next_focus": "fly"}]
        )
    assert err.value.errors == [
        "analysis.behavior_rules[0].severity: must be one of critical, warning, ok, got 'bad'",
        "analysis.behavior_rules[0].next_focus: must be one of diagnostic_grip, improve_grip, improve_carrying, "
        "fix_stability, optimize_performance, got 'fly'",
        "analysis.behavior_rules[0].when[0]: must be {metric: NAME, below: X} or {metric: NAME, at_least: X}",
    ]


def test_a_step_budget_counts_its_trials_left_in_baseline_trials_rounded_up() -> None:
    from autopilot.workspace.budget import Budget, Usage

    steps_only, both = Budget(None, 30, "t"), Budget(4, 30, "t")
    assert Usage(2, 23).trials_left(steps_only, 3) == 3  # 7 steps left: two whole trials and a started third
    assert Usage(2, 24).trials_left(steps_only, 3) == 2
    assert Usage(2, 30).trials_left(steps_only, 3) == 0
    assert Usage(2, 0).trials_left(both, 3) == 2  # the tighter of the two budgets
    assert Usage(2, 0).trials_left(steps_only, None) is None  # no baseline length: no count in trials
