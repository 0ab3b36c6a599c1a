"""Trust boundaries, tried as a hostile trainer and an unlucky user would, with real processes and files:
nothing outside the workspace is touched, no process outlives its trial, no secret is copied, no record is
lost in silence."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import AUTOPILOT, make_loop, make_ws, queue, runs

from autopilot.executors.processes import carrying
from autopilot.ids import new_run_id
from autopilot.report.html import write_report
from autopilot.report.status import render_status, workspace_status
from autopilot.workspace.checkpoints import final_checkpoint
from autopilot.workspace.layout import Workspace
from autopilot.workspace.ledger import FailureEntry
from autopilot.workspace.records import Records, RunRecord
from autopilot.workspace.run_folder import RunFolder

pytestmark = pytest.mark.slow  # real trainer processes

HOSTILE = Path(__file__).parent / "fakes" / "hostile_trainer.py"
KEY = "sk-test-0123456789abcdef"


def hostile_ws(tmp_path: Path, attack: str, *, trainer: dict[str, Any] | None = None, **resources: Any) -> Workspace:
    """A command-trainer workspace whose baseline runs ``attack``; ``outside`` is a folder beside it."""
    outside = tmp_path / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    ws = make_ws(tmp_path / "ws", resources={"timeout_minutes": 1.0, "stall_seconds": 30.0, **resources})
    experiment = yaml.safe_load(ws.experiment_file.read_text())
    experiment["trainer"]["command"] = [sys.executable, str(HOSTILE), "{run_dir}"]
    experiment["trainer"].update(trainer or {})
    ws.experiment_file.write_text(yaml.safe_dump(experiment))
    for mode in ("quick", "full"):
        path = ws.baseline_file(mode)
        baseline = json.loads(path.read_text())
        baseline["train"].update({"attack": attack, "outside": str(outside)})
        path.write_text(json.dumps(baseline))
    return ws


def run_once(ws: Workspace, *overrides: dict[str, Any]) -> Any:
    queue(ws, *(overrides or ({},)))
    return make_loop(ws, proposer="manual").run()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_daemon_and_a_child_left_behind_end_with_the_trial(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path, "daemon")
    run_once(ws)
    [view] = runs(ws)
    assert view.state == "complete"
    folder = RunFolder(ws.runs / view.id)
    daemon, child = (
        int(folder.path.joinpath("daemon.pid").read_text()),
        int(folder.path.joinpath("child.pid").read_text()),
    )
    assert not alive(daemon) and not alive(child)
    assert carrying(view.id) == []
    heartbeat = tmp_path / "outside" / "heartbeat"
    size = heartbeat.stat().st_size
    time.sleep(0.5)
    assert heartbeat.stat().st_size == size  # nothing writes on for a run already recorded as complete


def test_recovery_after_kill_9_ends_what_still_carries_the_run_id(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    run_id = new_run_id("c0", 0)
    records = Records(ws)
    records.run_dir(run_id).mkdir(parents=True)
    records.write_run(RunRecord(id=run_id, case_id="c0", state="running", host=socket.gethostname()))
    env = {**os.environ, "AUTOPILOT_RUN_ID": run_id}
    escaped = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"], env=env, start_new_session=True)
    try:
        make_loop(ws, proposer="manual").recover()
        escaped.wait(timeout=10)  # it was killed by the recovery, not by this test
    finally:
        if escaped.poll() is None:
            escaped.kill()
    assert escaped.returncode == -9
    [view] = runs(ws)
    assert view.state == "failed" and view.record.failure_class == "interrupted"
    assert f"run {run_id} was left running by a dead loop" in ws.labbook.read_text()


def test_a_flooding_trainer_keeps_the_head_and_the_tail_of_its_log(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path, "flood", max_log_mb=1)
    run_once(ws)
    [view] = runs(ws)
    assert view.state == "complete"
    log = RunFolder(ws.runs / view.id).train_log.read_bytes()
    assert len(log) < (1 << 20) + 4096
    assert log.startswith(b"FIRST LINE") and log.rstrip().endswith(b"LAST LINE")
    assert b"bytes of output dropped here (resources.max_log_mb)" in log


def test_an_endless_metrics_line_is_skipped_and_a_file_over_its_cap_fails_the_run(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path / "a", "long_line")
    run_once(ws)
    [view] = runs(ws)
    assert view.state == "complete" and view.score == 0.5

    ws = hostile_ws(tmp_path / "b", "long_line", max_output_mb=2)
    run_once(ws)
    [view] = runs(ws)
    assert view.state == "failed" and view.record.failure_class == "output_limit"
    assert "the cap of 2 MiB" in view.record.failure["reason"]  # caught live, or by the check at the end


def test_an_episode_file_linked_to_dev_zero_fails_the_run_and_nothing_is_left_running(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path, "zero_episodes")
    run_once(ws)
    [view] = runs(ws)
    assert view.state == "failed" and view.record.failure_class == "bad_output"
    assert "eval_episodes.jsonl is a symbolic link" in view.record.failure["reason"]


def test_a_summary_linked_outside_is_refused_and_never_scored(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path, "summary_link")
    run_once(ws)
    [view] = runs(ws)
    assert view.state == "failed" and view.record.failure_class == "bad_output"
    assert view.score is None and "99" not in ws.leaderboard.read_text()


def test_a_checkpoint_reported_outside_is_never_the_runs_checkpoint(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path, "outside_checkpoint")
    run_once(ws)
    [view] = runs(ws)
    assert view.state == "complete"
    assert view.summary is not None and view.summary["checkpoint"] is None
    assert final_checkpoint(ws, view) is None
    # With resume_from latest, the next run starts fresh rather than from the outside file.
    loop = make_loop(ws, proposer="manual")
    config, notes = loop.preparer.effective_config({"autopilot.resume_mode": "continue"}, runs(ws))
    assert "load_model_path" not in config["train"] and "starting fresh" in notes[0]
    assert (tmp_path / "outside" / "model.pt").read_bytes() == b"not ours"


def test_the_save_strategy_never_deletes_through_a_linked_checkpoints_folder(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path, "linked_checkpoints")
    baseline = json.loads(ws.baseline_file("quick").read_text())
    baseline["autopilot"]["save_strategy"] = "latest"
    ws.baseline_file("quick").write_text(json.dumps(baseline))
    outside = tmp_path / "outside"
    for name in ("model_000001.pt", "someone_elses.pt", "trainer_state.pt"):
        (outside / name).write_bytes(b"precious")
    run_once(ws, {}, {"train.x": 0.6})
    assert sorted(p.name for p in outside.glob("*.pt")) == ["model_000001.pt", "someone_elses.pt", "trainer_state.pt"]
    assert "checkpoints/ is a link or not a folder of the run; nothing deleted" in ws.labbook.read_text()


def test_api_keys_stay_out_of_trainers_and_out_of_every_record(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    ws = hostile_ws(tmp_path / "a", "env")
    run_once(ws)
    [view] = runs(ws)
    assert view.metrics["has_key"] == 0.0  # not in the trainer's environment

    # Passed through on purpose, then leaked by the trainer: redacted from everything the loop writes.
    ws = hostile_ws(tmp_path / "b", "leak", trainer={"env_passthrough": ["OPENAI_API_KEY"]})
    queue(ws, {})
    done = subprocess.run(
        [AUTOPILOT, "run", "-w", str(ws.root), "--iterations", "1", "--proposer", "manual"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    [view] = runs(ws)
    assert view.state == "failed" and "[redacted]" in view.record.failure["reason"]
    write_report(ws, make_loop(ws).exp, {})
    written = [ws.failures, ws.labbook, ws.report, RunFolder(ws.runs / view.id).run_json]
    for path in written:
        assert KEY not in path.read_text(), path
    assert KEY not in done.stdout + done.stderr


def test_a_full_disk_ends_the_loop_with_one_line_and_the_finished_run_is_settled_later(
    tmp_path: Path, monkeypatch: Any
) -> None:
    ws = make_ws(tmp_path / "ws")
    real_write = Records.write_run

    def full_disk(self: Records, record: RunRecord) -> None:
        if record.state == "complete":
            raise OSError(errno.ENOSPC, "No space left on device", str(self.run_dir(record.id) / "run.json"))
        real_write(self, record)

    monkeypatch.setattr(Records, "write_run", full_disk)
    result = run_once(ws)
    assert result.exit_code == 1 and result.message.startswith("stopped: cannot write to the workspace")
    assert "No space left on device" in ws.pause_file.read_text()
    [view] = runs(ws)
    assert view.state == "running"  # the last record that could be written; the trainer had finished

    monkeypatch.setattr(Records, "write_run", real_write)  # space freed
    make_loop(ws, proposer="manual").recover()
    [view] = runs(ws)
    assert view.state == "complete" and view.score == 0.5  # settled from its own files, not re-run
    assert Records(ws).pending_cases() == []


def test_a_workspace_renamed_mid_run_ends_the_loop_with_one_line(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path, "rename_workspace")
    result = run_once(ws)
    assert result.exit_code == 1
    assert result.message == f"stopped: the workspace {ws.root} is gone (renamed or deleted while the loop ran)"


def test_damaged_records_are_named_rebuilt_or_moved_aside(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    run_once(ws, {"train.x": 0.9}, {"train.x": 0.2})
    first, second = runs(ws)
    RunFolder(ws.runs / first.id).run_json.write_text('{"id": "')  # truncated
    status = workspace_status(ws)
    assert status["best"]["run_id"] == second.id  # the damaged run is out of the champion...
    assert f"run {first.id}: run.json cannot be read" in render_status(status)  # ...and said so
    write_report(ws, make_loop(ws).exp, {})
    assert "damaged records" in ws.report.read_text() and first.id in ws.report.read_text()

    RunFolder(ws.runs / second.id).summary.write_text("{trunc")
    assert f"run {second.id}: summary.json cannot be read" in render_status(workspace_status(ws))
    make_loop(ws, proposer="manual").recover()
    assert json.loads(RunFolder(ws.runs / second.id).summary.read_text())["score"] == 0.2

    ws.failures.write_text("garbage, not a ledger")
    Records(ws).add_failure(FailureEntry("crash", "after the damage"))
    [aside] = ws.root.glob("failures.damaged-*.json")
    assert aside.read_text() == "garbage, not a ledger"
    assert [f["reason"] for f in Records(ws).failures()] == ["after the damage"]
    assert aside.name in render_status(workspace_status(ws))


def test_status_into_a_closed_pipe_prints_no_traceback(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [AUTOPILOT, "status", "-w", str(ws.root)], stdout=write, stderr=subprocess.PIPE, text=True, timeout=120
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    assert done.returncode == 0
