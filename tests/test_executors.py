"""One contract over every executor: a real trainer process, run and reported the same way locally and on a
real Ray head on loopback (limits enforced, outcomes classified, files back in the run folder)."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import FAKE

from autopilot.executors.base import Executor, TrialOutcome, TrialSpec
from autopilot.executors.local import THREAD_VARIABLES, LocalExecutor, usable_cores
from autopilot.executors.trainer_command import trainer_env
from autopilot.experiment.schema import Resources, TrainerSpec
from autopilot.workspace.layout import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(params=["local", "ray"])
def executor(request: pytest.FixtureRequest, tmp_path: Path) -> Executor:
    if request.param == "local":
        return LocalExecutor(workers=2, grace_s=2.0)
    from autopilot.executors.ray_cluster import RayExecutor

    address = request.getfixturevalue("ray_address")
    return RayExecutor(2, address, Resources(num_cpus=1), Workspace(tmp_path))


def trial(tmp_path: Path, name: str, behavior: str, timeout_s: float = 30.0, stall_s: float = 20.0) -> TrialSpec:
    run_dir = tmp_path / name
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"train": {"behavior": behavior, "x": 0.7}}))
    return TrialSpec(
        name,
        [sys.executable, str(FAKE), str(run_dir)],
        run_dir,
        trainer_env(TrainerSpec(kind="command"), run_dir),
        timeout_s,
        stall_s,
    )


def execute(executor: Executor, specs: list[TrialSpec], stop: threading.Event | None = None) -> dict[str, Any]:
    outcomes: dict[str, TrialOutcome] = {}
    started: list[str] = []
    executor.run(
        [lambda s=s: s for s in specs],  # type: ignore[misc]
        lambda spec, _pid: started.append(spec.run_id),
        lambda spec, outcome: outcomes.__setitem__(spec.run_id, outcome),
        stop or threading.Event(),
    )
    assert sorted(started) == sorted(s.run_id for s in specs)  # every trial reported its start
    return outcomes


def test_a_trial_that_succeeds_reports_exit_0_and_its_files(executor: Executor, tmp_path: Path) -> None:
    spec = trial(tmp_path, "ok", "ok")
    outcome = execute(executor, [spec])["ok"]
    assert (outcome.exit_code, outcome.stopped_by) == (0, None)
    summary = json.loads((spec.run_dir / "trainer_summary.json").read_text())
    assert summary["metrics"]["score"] == 0.7
    assert (spec.run_dir / "metrics.jsonl").read_text().strip()


@pytest.mark.parametrize(
    ("behavior", "stopped_by", "timeout_s", "stall_s"),
    [("hang", "timeout", 3.0, 60.0), ("stall", "stalled", 60.0, 2.0)],
)
def test_limits_are_enforced_by_killing_the_trial(
    executor: Executor, tmp_path: Path, behavior: str, stopped_by: str, timeout_s: float, stall_s: float
) -> None:
    spec = trial(tmp_path, behavior, behavior, timeout_s=timeout_s, stall_s=stall_s)
    outcome = execute(executor, [spec])[behavior]
    assert outcome.stopped_by == stopped_by and outcome.detail


def test_a_crash_and_a_missing_program_are_reported_not_raised(executor: Executor, tmp_path: Path) -> None:
    crash = trial(tmp_path, "crash", "crash")
    missing = trial(tmp_path, "missing", "ok")
    missing = TrialSpec("missing", ["/nonexistent/trainer"], missing.run_dir, missing.env, 30.0, 20.0)
    outcomes = execute(executor, [crash, missing])
    assert outcomes["crash"].exit_code == 1 and outcomes["crash"].stopped_by is None
    assert "ValueError: something broke" in (crash.run_dir / "train.log").read_text()
    assert outcomes["missing"].stopped_by == "not_found"


def test_a_stop_terminates_running_trials(executor: Executor, tmp_path: Path) -> None:
    stop = threading.Event()
    timer = threading.Timer(3.0, stop.set)
    timer.start()
    try:
        outcomes = execute(executor, [trial(tmp_path, "hang", "hang", timeout_s=120.0)], stop)
    finally:
        timer.cancel()
    assert outcomes["hang"].stopped_by == "stop"


def test_parallel_local_trials_get_their_share_of_the_cores(tmp_path: Path) -> None:
    """Several trials at once: each trainer's math libraries get cores / workers threads (at least one), not a
    thread per core each; a thread count the user set is passed through as it is."""
    base = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}

    def seen(workers: int, env: dict[str, str]) -> str:
        run_dir = tmp_path / f"t{len(list(tmp_path.iterdir()))}"
        run_dir.mkdir()
        argv = [sys.executable, "-c", "import os; print(os.environ.get('OMP_NUM_THREADS'))"]
        spec = TrialSpec(run_dir.name, argv, run_dir, env, 30.0, 20.0)
        assert LocalExecutor(workers).run_one(spec, lambda *_: None, threading.Event()).exit_code == 0
        return (run_dir / spec.log_name).read_text().strip()

    cores = usable_cores()
    assert seen(1, base) == "None"  # one trial at a time: the libraries' own default
    assert seen(2, base) == str(max(1, cores // 2))
    assert seen(cores + 1, base) == "1"
    assert seen(2, {**base, "OMP_NUM_THREADS": "3"}) == "3"
