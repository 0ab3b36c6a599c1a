"""The scheduler: what runs next, from the history, the budget, the queue and the free workers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from autopilot.experiment.loader import load
from autopilot.loop.scheduler import Room, Scheduler, batch_size, proposals_room, reserve_trials, time_room
from autopilot.workspace.budget import Budget
from autopilot.workspace.records import Case, RunView
from tests.helpers import make_ws
from tests.test_analysis import make_run


def scheduler(tmp_path: Path, **sections: dict[str, object]) -> tuple[Scheduler, Path]:
    ws = make_ws(tmp_path / "ws", objective={"metric": "success_rate"}, **sections)
    return Scheduler(load(ws), 8, budgeted=True, window_start=lambda: None), ws.runs


def confirm_case(parent: str) -> Case:
    return Case(case_id=f"re{parent[-6:]}", overrides={}, parent_ids=[parent], tags=["confirm"], proposer="confirm")


def test_a_lead_on_fewer_seeds_is_re_run_before_anything_new(tmp_path: Path) -> None:
    sched, runs = scheduler(tmp_path)
    base = make_run(runs, 1, 0.40)
    history = [base, make_run(runs, 2, 0.41, tags=["confirm"], parent=base.id, seed=2), make_run(runs, 3, 0.60)]
    actions = sched.next_actions(history, [], Room(20, 32), batch=4)
    assert actions.confirmations == (history[2].id,) and actions.proposals == 0
    # Once its re-run is queued, it is not asked for twice; the queue runs first, nothing new is proposed.
    queued = [confirm_case(history[2].id)]
    actions = sched.next_actions(history, queued, Room(20, 32), batch=4)
    assert actions.confirmations == () and actions.proposals == 0 and actions.run_at_most == 20
    assert sched.on_trial_end(history, queued).confirmations == ()
    assert sched.on_trial_end(history, []).confirmations == (history[2].id,)


def test_new_proposals_fill_a_batch_less_the_budgets_reserve(tmp_path: Path) -> None:
    sched, runs = scheduler(tmp_path)
    history = [make_run(runs, 1, 0.5)]
    assert reserve_trials(32) == 3
    assert sched.next_actions(history, [], Room(20, 32), batch=4).proposals == 4
    assert sched.next_actions(history, [], Room(5, 32), batch=4).proposals == 2  # 5 left, 3 kept for re-runs
    assert sched.next_actions(history, [], None, batch=4).proposals == 4  # unbounded: a batch
    assert sched.next_actions(history, [], None, batch=4).run_at_most is None
    assert proposals_room(Room(2, 32), 4) == 2  # the reserve alone is left and nothing to re-run: all of it


def test_the_last_trials_re_run_the_top_configs_fewest_seeds_first_each_once(tmp_path: Path) -> None:
    sched, runs = scheduler(tmp_path)
    history = [make_run(runs, i, s) for i, s in ((1, 0.3), (2, 0.7), (3, 0.5), (4, 0.6))]
    history.append(make_run(runs, 5, 0.7, tags=["confirm"], parent=history[1].id, seed=9))
    actions = sched.next_actions(history, [], Room(3, 32), batch=4)
    # 0.7 has its re-run already; 0.6 and 0.5 have one seed each: they get the reserve.
    assert actions.final_reruns == (history[3].id, history[2].id) and actions.proposals == 0
    reruns = [
        make_run(runs, 6 + k, s, tags=["confirm"], parent=history[i].id, seed=9)
        for k, (i, s) in enumerate(((3, 0.6), (2, 0.5), (0, 0.3)))
    ]
    everyone_rerun = [*history, *reruns]
    actions = sched.next_actions(everyone_rerun, [], Room(2, 32), batch=4)
    assert actions.final_reruns == () and actions.proposals == 2  # nothing left to re-run: new configs


def test_a_used_budget_ends_the_study_and_a_deadline_ends_a_trial_budget_too(tmp_path: Path) -> None:
    sched, runs = scheduler(tmp_path)
    history = [make_run(runs, 1, 0.5)]
    assert sched.room(history, Budget(8, None, "2000-01-01"), None, None, [], 1) == (Room(7, 8), None)
    assert sched.room(history, Budget(1, None, "2000-01-01"), None, None, [], 1) == (None, "budget used (1/1 trials)")
    # --trials 8 --budget-minutes 10, the ten minutes gone: done, though trials are left
    assert sched.room(history, Budget(8, None, "2000-01-01"), -1.0, 10.0, [], 1) == (None, "time budget used (10 min)")
    assert sched.room(history, None, 300.0, 10.0, [60.0], 1) == (Room(5, 10), None)  # a time budget alone
    assert sched.room(history, None, None, None, [], 1) == (None, None)  # unbounded


def test_a_time_budget_counts_in_trials_of_the_median_wall_time() -> None:
    assert time_room(600.0, 3600.0, [], workers=2) is None  # no finished trial yet: unknown
    assert time_room(600.0, 3600.0, [100.0, 300.0, 120.0], workers=2) == Room(10, 60)
    assert time_room(1.0, 3600.0, [120.0], workers=1) == Room(1, 30)  # a trial still starts before the deadline


def test_a_batch_is_one_proposal_per_free_worker_for_a_proposer_that_learns_from_each_result() -> None:
    assert batch_size(4, 1, sequential=True) == 1
    assert batch_size(4, 2, sequential=True) == 2
    assert batch_size(4, 1, sequential=False) == 4


def test_early_stopping_spares_confirmations_and_the_exempt_trials(tmp_path: Path) -> None:
    sched, runs = scheduler(tmp_path, early_stopping={"enabled": True, "exempt_every": 2})
    run_dir = runs / "2026-01-01T000003Z-000003"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text('{"train": {"total_timesteps": 1000}}')
    history: list[RunView] = [make_run(runs, 1, 0.5), make_run(runs, 2, 0.5)]
    assert sched.stopper(run_dir, [], history) is not None  # the study's third trial
    assert sched.stopper(run_dir, ["confirm"], history) is None
    assert sched.stopper(run_dir, [], history[:1]) is None  # its second: every second one runs to its end
    # A proposer that stops trials its own way (PBT's exploit step) gets no second rule.
    assert replace(sched, early_stopping=False).stopper(run_dir, [], history) is None
