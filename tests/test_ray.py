"""Trials on a real Ray instance on loopback: a head started here with 2 CPUs, real trainer processes."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest
from helpers import ONLY_A_HANG_TAKES_S, make_loop, make_ws, queue, runs

from autopilot.workspace.records import Records

pytestmark = pytest.mark.slow


def ray_ws(tmp_path: Path, address: str, **resources: float):
    return make_ws(
        tmp_path / "ws",
        executor={"kind": "ray", "ray_address": address},
        resources={"workers": 2, "num_cpus": 1, "timeout_minutes": 0.5, "stall_seconds": 20, **resources},
    )


def test_trials_run_as_ray_tasks_and_their_files_come_back(tmp_path: Path, ray_address: str) -> None:
    ws = ray_ws(tmp_path, ray_address)
    queue(ws, {"train.x": 0.3}, {"train.x": 0.8}, {"train.behavior": "crash"})
    make_loop(ws, workers=2).run()
    views = {v.overrides.get("train.x", v.overrides.get("train.behavior")): v for v in runs(ws)}
    for x in (0.3, 0.8):
        view = views[x]
        assert view.state == "complete"
        folder = ws.runs / view.id
        for name in ("train.log", "metrics.jsonl", "trainer_summary.json", "summary.json"):
            assert (folder / name).is_file(), name
        assert (folder / "checkpoints" / "model_000002.pt").is_file()
        assert json.loads((folder / "summary.json").read_text())["metrics"]["score"] == x
    crashed = views["crash"]
    assert crashed.state == "failed" and crashed.record.failure_class == "crash"
    assert "something broke" in (ws.runs / crashed.id / "train.log").read_text()  # partial files come back too


def test_limits_are_enforced_on_the_worker(tmp_path: Path, ray_address: str) -> None:
    ws = ray_ws(tmp_path, ray_address, timeout_minutes=0.05)
    queue(ws, {"train.behavior": "hang"})
    make_loop(ws).run()
    [view] = runs(ws)
    assert view.state == "timeout" and view.record.failure_class == "timeout"
    assert 3.0 <= view.record.wall_s < ONLY_A_HANG_TAKES_S


def test_a_lost_worker_is_worker_lost_and_the_case_runs_again(tmp_path: Path, ray_address: str) -> None:
    ws = ray_ws(tmp_path, ray_address)
    pid_file = tmp_path / "worker.pid"
    baseline = json.loads((ws.root / "configs" / "baseline_quick.json").read_text())
    baseline["train"]["pid_file"] = str(pid_file)
    (ws.root / "configs" / "baseline_quick.json").write_text(json.dumps(baseline))
    queue(ws, {"train.behavior": "report_parent"})

    def kill_the_worker() -> None:
        deadline = time.monotonic() + 120
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill_the_worker)
    killer.start()
    make_loop(ws, iterations=1).run()
    killer.join()
    [lost] = runs(ws)
    assert lost.state == "failed" and lost.record.failure_class == "worker_lost"
    [requeued] = Records(ws).pending_cases()
    assert requeued.case_id == lost.record.case_id and requeued.attempt == 1
    pid_file.unlink()
    make_loop(ws, iterations=1).run()  # the second attempt runs to the end
    _, done = runs(ws)
    assert done.state == "complete" and done.record.case_id == lost.record.case_id and done.record.attempt == 1
    assert not Records(ws).pending_cases()


def test_stopping_the_loop_cancels_the_ray_tasks(tmp_path: Path, ray_address: str) -> None:
    ws = ray_ws(tmp_path, ray_address, timeout_minutes=5)
    queue(ws, {"train.behavior": "hang"})
    loop = make_loop(ws)
    threading.Timer(4.0, loop.request_stop, args=("test",)).start()
    result = loop.run()
    assert result.exit_code == 130
    [view] = runs(ws)
    assert view.state == "killed"
    # The cancelled task died without its cleanup; the next task on the node removes its scratch folder.
    queue(ws, {"train.x": 0.5})
    make_loop(ws, iterations=1).run()
    assert [v.state for v in runs(ws)] == ["killed", "complete"]
    assert not list(Path(tempfile.gettempdir()).glob(f"autopilot-*{view.id}-*"))


def test_a_population_trains_on_ray_each_segment_from_its_parents_checkpoint(tmp_path: Path, ray_address: str) -> None:
    from autopilot.analysis.lineage import generations

    ws = make_ws(
        tmp_path / "ws",
        executor={"kind": "ray", "ray_address": ray_address},
        resources={"workers": 2, "num_cpus": 1, "timeout_minutes": 0.5, "stall_seconds": 20},
        proposer={"name": "pbt", "pbt": {"population": 3}},
    )
    assert make_loop(ws, workers=2, proposer="pbt", trials=10, iterations=None).run().exit_code == 0
    views = runs(ws)
    gens = generations(views)
    assert sorted(gens[0]) == sorted(gens[1]) == [0, 1, 2]  # two whole generations at least
    continued = [m.view for g, members in gens.items() if g > 0 for m in members.values()]
    for view in continued:
        assert view.state == "complete" and view.record.parent_ids
        config = json.loads((ws.runs / view.id / "config.json").read_text())
        # the parent's checkpoint, named in the config; the worker got it shipped and the trainer loaded it
        assert view.record.parent_ids[0] in config["train"]["load_model_path"]
        reported = json.loads((ws.runs / view.id / "trainer_summary.json").read_text())
        assert reported["metrics"]["load"]
