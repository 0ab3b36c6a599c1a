"""The benchmarks' simulated backend: the product's own loop, its trials trained in process on a virtual clock."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records
from benchmarks.simulated import Training, simulated_study

STEPS = 1_000_000


class Bowl:
    """A landscape with one peak in the learning rate (at 3e-3), a noisy success and the funnel above it."""

    sps = 50_000.0  # a trial takes 20 virtual seconds

    def true_quality(self, overrides: dict[str, Any]) -> float:
        distance = abs(math.log10(float(overrides["train.learning_rate"])) - math.log10(3e-3))
        return float(np.clip(0.9 - 0.4 * distance, 0.0, 1.0))

    def train(self, overrides: dict[str, Any], steps: int, episodes: int, rng: np.random.Generator) -> Training:
        final = float(np.clip(self.true_quality(overrides) + rng.normal(0.0, 0.03), 0.0, 1.0))
        lines = [
            {
                "step": steps * k // 10,
                "metrics": {
                    "success_rate": final * k / 10,
                    "carry_rate": min(1.0, 1.2 * final * k / 10),
                    "grip_rate": min(1.0, 1.4 * final * k / 10),
                    "environment/episodes": 100.0,
                },
            }
            for k in range(1, 11)
        ]
        rows = [{"success": bool(s), "carry": bool(s), "grip": bool(s)} for s in rng.random(episodes) < final]
        return Training(lines, rows, steps, self.sps)


def test_a_simulated_study_is_the_products_loop_with_its_budget_pick_and_early_stopping(tmp_path: Path) -> None:
    study = simulated_study(Bowl(), "auto", 3, tmp_path, budget_steps=12 * STEPS, steps=STEPS)
    assert study["exit_code"] == 0 and study["message"].startswith("done: budget used")
    # A trial starts while any steps are left (as the product rounds): the budget is used, never by a whole trial more.
    assert 12 * STEPS <= study["steps_used"] < 13 * STEPS
    assert study["pruned"] > 0  # the shipped rule stopped trials clearly behind (the study is budgeted)
    assert study["trials"] > 12  # so the budget bought more trials than its length in whole ones
    history = Records(Workspace(tmp_path / "auto-3")).history()
    for view in history:  # every trial wrote what a trainer writes, and the loop settled it
        assert view.state in ("complete", "pruned")
        assert (tmp_path / "auto-3" / "runs" / view.id / "metrics.jsonl").stat().st_size > 0
    assert any("confirm" in v.record.tags for v in history)  # the budget's reserve re-ran the top configs
    assert 0.0 < study["champion_true"] <= study["best_true_seen"] <= 0.9
    assert [s for s, _ in study["curve"]] == sorted(s for s, _ in study["curve"])
    evaluation = json.loads((tmp_path / "auto-3" / "runs" / history[0].id / "config.json").read_text())
    episodes = sum(1 for _ in (tmp_path / "auto-3" / "runs" / history[0].id / "eval_episodes.jsonl").open())
    assert episodes == evaluation["autopilot"]["evaluation"]["episodes"]  # the objective's, not the benchmark's


def test_a_time_budget_runs_on_the_virtual_clock(tmp_path: Path) -> None:
    study = simulated_study(Bowl(), "random", 1, tmp_path, budget_minutes=2.0, steps=STEPS, early_stopping=False)
    assert study["exit_code"] == 0 and "time budget used" in study["message"]
    assert 2.0 <= study["virtual_minutes"] < 2.0 + 20 / 60 + 1e-9  # no trial starts after the deadline
    assert study["trials"] == 6 and study["pruned"] == 0


def test_a_replayed_study_gives_each_config_a_recorded_config_and_each_rerun_another_seed(tmp_path: Path) -> None:
    from benchmarks import replay
    from benchmarks.surrogate import Run

    def run(key: str, success: float) -> Run:
        curve = [(k / 8, success, 200.0) for k in range(1, 9)]
        rates = {"grip_rate": [v for _, v, _ in curve], "carry_rate": [v for _, v, _ in curve]}
        return Run(key, {}, int(success * 100), 100, STEPS, curve, False, rates)

    # 20 configs recorded on 3 seeds each, good and poor
    groups = [[run(f"c{i}", 0.1 + 0.04 * i + 0.01 * s) for s in range(3)] for i in range(20)]
    replay._POOL[:] = [groups, groups]
    out = replay.replay_study(("pruning", "nsha_dense", 5, 16, "random", str(tmp_path)))
    assert out["exit_code"] == 0 and out["trials"] == 16
    assert out["stopped"] > 0 and out["saved"] > 0  # the shipped rule stopped poor configs on their replayed curves
    assert out["reused"] == 0  # 3 recorded seeds per config cover the loop's re-runs of it
    # the champion's truth is its config's runs the study did not see: never above the best config's 3-seed mean
    assert 0.0 < out["loop"] <= max(np.mean([r.success for r in g]) for g in groups) + 0.02
    none = replay.replay_study(("pruning", "none", 5, 16, "random", str(tmp_path)))
    assert none["stopped"] == 0 and abs(none["saved"]) < 1e-9


def test_the_synthetic_landscapes_have_the_shapes_they_are_named_for() -> None:
    from autopilot.proposers.sampling import from_unit
    from benchmarks.landscapes import Crossing, Floor
    from benchmarks.surrogate import SPACE, random_configs

    def at(landscape: Floor | Crossing, point: list[float]) -> dict[str, Any]:
        keys = ("train.learning_rate", "train.ent_coef", "train.gamma")
        return {k: from_unit(SPACE.params[k], u) for k, u in zip(keys, point, strict=True)}

    rng = np.random.default_rng(0)
    floor = Floor()
    qualities = [floor.true_quality(c) for c in random_configs(400)]
    assert np.median(qualities) < 0.03 and 0.02 < np.mean(np.asarray(qualities) > 0.1) < 0.15  # mostly the floor
    assert floor.true_quality(at(floor, list(floor.centre))) > 0.8
    crossing = Crossing()
    best, middling = at(crossing, list(crossing.centre)), at(crossing, [0.2, 0.2, 0.2])
    assert crossing.true_quality(best) > crossing.true_quality(middling) + 0.3
    early = [
        [crossing.train(c, STEPS, 64, rng).lines[3]["metrics"]["success_rate"] for _ in range(8)]
        for c in (best, middling)
    ]
    assert np.mean(early[0]) < np.mean(early[1])  # at a third of the trial the better config is behind: curves cross


def test_the_peers_spend_the_same_step_budget_and_hand_over_what_their_users_get() -> None:
    from benchmarks import bench_surrogate
    from benchmarks.landscapes import Crossing

    bench_surrogate._LANDSCAPE[:] = [Crossing()]
    try:
        budget = 8 * STEPS
        optuna_study = bench_surrogate.optuna_hyperband_study(5, None, 8, STEPS, 64)
        dehb_study = bench_surrogate.dehb_study(5, None, 8, STEPS, 64)
    finally:
        bench_surrogate._LANDSCAPE[:] = []
    for study in (optuna_study, dehb_study):
        assert study["exit_code"] == 0
        assert budget <= study["steps_used"] < budget + STEPS  # no trial starts once the budget is spent
        assert 0.0 < study["champion_true"] <= study["best_true_seen"] <= 1.0
        assert [s for s, _ in study["curve"]] == sorted(s for s, _ in study["curve"])
    assert optuna_study["pruned"] > 0  # Hyperband stopped trials at its rungs
    # DEHB trains at three fidelities, a ninth, a third and all of the steps: more trials than whole budgets
    assert dehb_study["trials"] > 8
