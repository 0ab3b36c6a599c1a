"""The pick in a real loop: the last trials of a budget re-run the top configs, a re-run of the same budget
finishes the study, a time budget stops starting trials, and every view names the same champion and claim."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import AUTOPILOT, make_loop, make_ws, runs

from autopilot.analysis.promotion import decide
from autopilot.objective import Objective
from autopilot.workspace.layout import Workspace

pytestmark = pytest.mark.slow  # real trainer processes


def test_the_last_trials_of_a_budget_rerun_the_top_configs_on_new_seeds(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    result = make_loop(ws, proposer="random", trials=10, iterations=None, batch_size=3, seed=3).run()
    assert result.exit_code == 0, result.message
    history = runs(ws)
    assert len(history) == 10
    reruns = [v for v in history if "confirm" in v.record.tags]
    assert reruns and all(v is history[-len(reruns) + i] for i, v in enumerate(reruns))  # the last trials
    firsts = sorted((v for v in history[: -len(reruns)]), key=lambda v: -(v.score or 0))
    top = {v.id for v in firsts[:3]}
    assert {v.record.parent_ids[0] for v in reruns} <= top
    assert all(v.record.seed != history[0].record.seed for v in reruns)  # new training seeds
    promotion = decide(history, Objective(metric="score"), ws.runs)
    assert promotion.champion is not None and promotion.champion.id in top


def test_a_rerun_of_the_same_budget_finishes_the_study(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    first = make_loop(ws, proposer="random", trials=5, iterations=1, batch_size=2).run()
    assert first.exit_code == 0 and len(runs(ws)) == 2
    again = make_loop(ws, proposer="random", trials=5, iterations=None, batch_size=2).run()
    assert again.message == "done: budget used (5/5 trials)"
    assert len(runs(ws)) == 5  # not 2 + 5: the study was finished, not started anew


def test_a_rerun_of_a_finished_studys_budget_says_it_starts_a_new_study(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    assert make_loop(ws, proposer="random", trials=2, iterations=None, batch_size=2).run().exit_code == 0
    loop = make_loop(ws, proposer="random", trials=2, iterations=1, batch_size=1)
    said: list[str] = []
    loop.progress.message = said.append  # type: ignore[method-assign]
    assert loop.run().exit_code == 0 and len(runs(ws)) == 3
    assert "starting a new study (0/2 trials used)" in said


def test_a_time_budget_stops_starting_trials(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    result = make_loop(ws, proposer="random", budget_minutes=0.001, iterations=None, batch_size=2).run()
    assert result.message == "done: time budget used (0.001 min)"
    assert 1 <= len(runs(ws)) <= 2  # the batch that started before the deadline, nothing after


def test_run_ends_with_the_champion_and_the_claim(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    done = subprocess.run(
        [AUTOPILOT, "run", "-w", str(ws.root), "--trials", "3", "--proposer", "random"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    champion = decide(runs(ws), Objective(metric="score"), ws.runs).champion
    assert champion is not None
    lines = done.stdout.strip().splitlines()
    assert lines[-2].startswith(f"champion: {champion.id} score estimate")
    first = runs(ws)[0]
    expected = (  # the fake trainer writes no per-episode evaluation: no claim either way
        f"claim: the champion is the baseline {first.id}"
        if champion.id == first.id
        else f"claim: no claim against the baseline {first.id}"
    )
    assert lines[-1] == expected


def test_a_step_budget_sizes_the_start_up_as_that_many_baseline_trials(workspace: Workspace) -> None:
    from autopilot.experiment.loader import load
    from autopilot.loop.orchestrator import Loop, RunOptions, trial_equivalent

    baseline = load(workspace).baseline
    steps = baseline["train"]["total_timesteps"]
    assert Loop(load(workspace), RunOptions(budget_steps=20 * steps + 1)).intake.budget_trials == 20
    assert trial_equivalent(7, 20 * steps, baseline) == 7  # a trial budget is the trial budget
    assert trial_equivalent(None, None, baseline) is None
    assert trial_equivalent(None, 10**6, {"train": {}}) is None  # no step count to divide by
