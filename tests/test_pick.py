"""The pick in a real loop: the last trials of a budget re-run the top configs, a re-run of the same budget
finishes the study, a time budget stops starting trials, and every view names the same champion and claim."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
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


def test_the_last_trials_of_a_step_budget_rerun_the_top_configs(tmp_path: Path) -> None:
    """A step budget reserves its re-runs in baseline-length trials (3 steps each here): 30 steps, 10 trials,
    the last one a re-run; a batch never starts more trials than the steps left pay for, less the reserve."""
    ws = make_ws(tmp_path / "ws")
    experiment = yaml.safe_load((ws.root / "autopilot.yaml").read_text())
    experiment["search_space"]["train.total_timesteps"] = {"type": "int", "low": 1, "high": 10, "tune": False}
    (ws.root / "autopilot.yaml").write_text(yaml.safe_dump(experiment))
    for mode in ("quick", "full"):
        path = ws.root / "configs" / f"baseline_{mode}.json"
        baseline = json.loads(path.read_text())
        baseline["train"]["total_timesteps"] = 3  # what the fake trainer reports using
        path.write_text(json.dumps(baseline))
    result = make_loop(ws, proposer="random", budget_steps=30, iterations=None, batch_size=4, seed=3).run()
    assert result.exit_code == 0 and result.message == "done: budget used (30/30 steps)", result.message
    history = runs(ws)
    assert len(history) == 10  # 4 + 4, then one trial and the re-run: the 6 steps left pay for two
    reruns = [v for v in history if "confirm" in v.record.tags]
    assert reruns and history[-1] in reruns
    firsts = sorted((v for v in history if v not in reruns), key=lambda v: -(v.score or 0))
    assert {v.record.parent_ids[0] for v in reruns} <= {v.id for v in firsts[:3]}


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


def test_the_last_trials_of_a_time_budget_rerun_the_top_configs(tmp_path: Path) -> None:
    """A time budget reserves its re-runs in trials too, counted at the median wall time of the trials so far:
    the trial that starts last, with less than a trial's time left, re-runs a top config on a new seed."""
    ws = make_ws(tmp_path / "ws")
    for mode in ("quick", "full"):
        path = ws.root / "configs" / f"baseline_{mode}.json"
        baseline = json.loads(path.read_text())
        baseline["train"]["sleep"] = 0.5  # every trial lasts about half a second and more
        path.write_text(json.dumps(baseline))
    result = make_loop(ws, proposer="random", budget_minutes=0.2, iterations=None, batch_size=1, seed=3).run()
    assert result.message == "done: time budget used (0.2 min)", result.message
    history = runs(ws)
    assert "confirm" in history[-1].record.tags
    reruns = [v for v in history if "confirm" in v.record.tags]
    assert len(reruns) < len(history) / 2  # the reserve, not the study
    firsts = sorted((v for v in history if v not in reruns), key=lambda v: -(v.score or 0))
    assert {v.record.parent_ids[0] for v in reruns} <= {v.id for v in firsts[:3]}
    seeds = {v.id: v.record.seed for v in history}
    assert all(v.record.seed != seeds[v.record.parent_ids[0]] for v in reruns)  # new training seeds


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
    from autopilot.loop.orchestrator import Loop, RunOptions
    from autopilot.loop.scheduler import trial_equivalent

    baseline = load(workspace).baseline
    steps = baseline["train"]["total_timesteps"]
    assert Loop(load(workspace), RunOptions(budget_steps=20 * steps + 1)).intake.budget_trials == 20
    assert trial_equivalent(7, 20 * steps, baseline) == 7  # a trial budget is the trial budget
    assert trial_equivalent(None, None, baseline) is None
    assert trial_equivalent(None, 10**6, {"train": {}}) is None  # no step count to divide by
