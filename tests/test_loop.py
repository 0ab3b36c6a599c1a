"""The loop with real trainer processes (a protocol-speaking fake that misbehaves on request)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import AUTOPILOT, ONLY_A_HANG_TAKES_S, make_loop, make_ws, queue, runs

from autopilot.analysis.promotion import decide
from autopilot.objective import Objective
from autopilot.workspace.checkpoints import final_checkpoint
from autopilot.workspace.layout import Workspace
from autopilot.workspace.lock import WorkspaceLock
from autopilot.workspace.records import Case, Records

pytestmark = pytest.mark.slow  # real processes (trainers, servers, the CLI)


@pytest.mark.parametrize(
    ("behavior", "state", "failure_class"),
    [
        ("ok", "complete", None),
        ("crash", "failed", "crash"),
        ("nan", "failed", "nan_loss"),
        ("nosummary", "failed", "missing_summary"),
        ("garbage", "failed", "missing_summary"),
        ("segv", "failed", "crash"),
        ("stall", "timeout", "stalled"),
    ],
)
def test_each_way_a_trial_ends_is_classified(
    tmp_path: Path, behavior: str, state: str, failure_class: str | None
) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train.behavior": behavior})
    make_loop(ws).run()
    [view] = runs(ws)
    assert view.state == state
    assert view.record.failure_class == failure_class
    ledger = json.loads(ws.failures.read_text()) if ws.failures.exists() else []
    assert [e["class"] for e in ledger] == ([failure_class] if failure_class else [])
    assert not list(ws.pending.glob("*.json"))  # the case left the queue once its record was final
    if behavior == "segv":
        assert view.record.signal == "SIGSEGV"
    if behavior == "nan":
        assert view.record.failure["reason"] == "loss became NaN at step 2"


def test_a_hanging_trainer_times_out_within_the_limit_and_the_loop_goes_on(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")  # limit 0.05 min = 3 s
    queue(ws, {"train.behavior": "hang"}, {"train.behavior": "ok"})
    make_loop(ws).run()
    hung, ok = runs(ws)
    assert hung.state == "timeout" and hung.record.failure_class == "timeout"
    assert hung.record.wall_s >= 3.0  # it ran until its limit, then was stopped (the class says by the limit)
    assert hung.record.wall_s < ONLY_A_HANG_TAKES_S
    assert ok.state == "complete"  # the loop went on


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train.behavior": "spawn"})
    make_loop(ws).run()
    [view] = runs(ws)
    assert view.state == "timeout"
    child = int((ws.runs / view.id / "child.pid").read_text())
    _wait_for(lambda: not _alive(child), timeout=5)


def _alive(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for a reaper that may never come here)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_missing_trainer_program_is_trainer_not_found(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws", trainer={"command": ["/no/such/trainer", "{run_dir}"]})
    queue(ws, {"train.x": 0.1})
    loop = make_loop(ws)
    result = loop.run()  # the pre-flight check names it before any trial
    assert result.exit_code == 2 and "trainer.command[0]: '/no/such/trainer' is not an executable" in result.message
    assert runs(ws) == []
    loop.execute(loop.records.pending_cases())  # a program gone after the check: the trial says why
    [view] = runs(ws)
    assert view.state == "failed" and view.record.failure_class == "trainer_not_found"


def test_run_folder_holds_the_contract_files(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train": {"x": 0.25}})
    make_loop(ws).run()
    [view] = runs(ws)
    folder = ws.runs / view.id
    for name in (
        "run.json",
        "override.json",
        "config.json",
        "config_diff.json",
        "train.log",
        "metrics.jsonl",
        "trainer_summary.json",
        "summary.json",
    ):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "override.json").read_text()) == {"train.x": 0.25}
    assert json.loads((folder / "config.json").read_text())["train"]["x"] == 0.25
    diff = json.loads((folder / "config_diff.json").read_text())
    assert diff["baseline"] == {"train.x": {"old": 0.5, "new": 0.25}}
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["metrics"]["score"] == 0.25 and summary["score"] == 0.25
    assert summary["metrics"]["load"] is None  # not a number: unknown, never 0
    assert view.record.exit_code == 0 and view.record.started and view.record.ended
    assert json.loads(ws.leaderboard.read_text())["runs"][0]["run_id"] == view.id


def test_invalid_proposals_go_to_the_ledger_and_never_run(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    ws.next_config.write_text(json.dumps({"train.x": 7, "train.bogus": 1}))
    make_loop(ws, batch_size=1).run()
    ledger = json.loads(ws.failures.read_text())
    assert ledger[0]["class"] == "invalid_config"
    assert "train.x: 7 is outside the safe range [0.0, 1.0]" in ledger[0]["reason"]
    assert "train.bogus: not an overridable key" in ledger[0]["reason"]
    assert json.loads(ws.next_config.read_text()) == {}
    assert all(v.record.proposer != "manual" for v in runs(ws))


def test_next_config_becomes_a_manual_case_and_is_archived(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws", proposer={"name": "random"})  # a batch proposer: the manual case and one more
    ws.next_config.write_text(json.dumps({"train": {"x": 0.9}}))
    make_loop(ws, batch_size=2, seed=3).run()
    views = runs(ws)
    manual = [v for v in views if "manual" in v.record.tags]
    assert len(views) == 2 and len(manual) == 1
    assert manual[0].overrides == {"train.x": 0.9}
    assert json.loads(ws.next_config.read_text()) == {}
    [archived] = (ws.root / "proposals" / "archive").glob("*.json")
    assert json.loads(archived.read_text()) == {"train": {"x": 0.9}}


def test_the_batch_barrier_runs_pending_cases_before_proposing(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train.x": 0.1}, {"train.x": 0.2})
    make_loop(ws, batch_size=4).run()  # one iteration: exactly the two pending cases
    assert sorted(v.overrides["train.x"] for v in runs(ws)) == [0.1, 0.2]


def test_step_runs_pending_then_proposes_the_next_batch(tmp_path: Path) -> None:
    """No lead to confirm (the first run scores the maximum): each step runs the batch, then proposes the next."""
    ws = make_ws(tmp_path / "ws", proposer={"name": "random"})
    queue(ws, {"train.x": 1.0})
    result = make_loop(ws, batch_size=3).step()
    assert result.exit_code == 0 and result.message == f"ran 1 case(s); proposed 3 into {ws.pending}"
    assert len(runs(ws)) == 1 and len(Records(ws).pending_cases()) == 3
    result = make_loop(ws, batch_size=3).step()
    assert result.message == f"ran 3 case(s); proposed 3 into {ws.pending}"
    assert len(runs(ws)) == 4 and all(v.state == "complete" for v in runs(ws))
    queued = Records(ws).pending_cases()
    assert len(queued) == 3 and not any("confirm" in c.tags for c in queued)


def rerun_of(ws: Workspace, run_id: str, x: float) -> None:
    """A confirmation case of ``run_id`` on another seed, as the loop queues one."""
    Records(ws).write_case(
        Case(
            case_id=f"re{run_id[-6:]}",
            overrides={"train.x": x, "train.seed": 2},
            tags=["confirm"],
            parent_ids=[run_id],
            proposer="confirm",
        )
    )


def test_step_holds_the_next_batch_while_confirmations_wait(tmp_path: Path) -> None:
    """A better estimate on fewer seeds than the champion gets a re-run: the barrier runs it before anything new."""
    ws = make_ws(tmp_path / "ws", proposer={"name": "random"})
    queue(ws, {"train.x": 0.1})
    make_loop(ws).run()
    [first] = runs(ws)
    rerun_of(ws, first.id, 0.1)
    Records(ws).write_case(Case(case_id="cbetter", overrides={"train.x": 0.9}, proposer="test"))
    result = make_loop(ws, batch_size=3).step()
    [confirm] = Records(ws).pending_cases()
    assert "confirm" in confirm.tags and confirm.overrides["train.x"] == 0.9
    assert result.message == f"ran 2 case(s); nothing proposed: 1 case(s) still pending in {ws.pending} (batch barrier)"
    result = make_loop(ws, batch_size=3).step()
    assert len(runs(ws)) == 4 and result.message == f"ran 1 case(s); proposed 3 into {ws.pending}"


def test_guardrail_halts_at_the_configured_rate_and_writes_pause(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws", guardrails={"window": 6, "max_fail_rate": 0.5, "safe_mode_fail_rate": 0.3})
    queue(ws, *[{"train.behavior": "crash"}] * 3)
    loop = make_loop(ws, iterations=5, batch_size=2)
    result = loop.run()
    assert ws.pause_file.exists()
    assert "guardrail halt: fail rate 1.00 over the last 3 runs exceeds max_fail_rate 0.5" in ws.pause_file.read_text()
    assert result.exit_code == 1 and result.message.startswith("paused: guardrail halt")  # no trial completed
    assert "none of its 3 trial(s) completed (crash; see failures.json)" in result.message
    assert len(runs(ws)) == 3  # nothing more was proposed or run
    assert any("guardrail: halt" in line for line in loop.journal.lines())


def test_critical_class_halt(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path / "ws",
        guardrails={"window": 30, "max_fail_rate": 1.0, "safe_mode_fail_rate": 1.0, "max_critical_class_count": 1},
    )
    queue(ws, {"train.behavior": "crash"}, {"train.behavior": "crash"}, {"train.x": 0.5})
    make_loop(ws, iterations=2, batch_size=1).run()
    assert "2 crash failures in the window exceed max_critical_class_count 1" in ws.pause_file.read_text()


def test_safe_mode_caps_what_proposals_may_do(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path / "ws",
        proposer={"name": "random"},
        guardrails={
            "window": 4,
            "max_fail_rate": 0.9,
            "safe_mode_fail_rate": 0.3,
            "max_common_failure_count": 100,
            "max_critical_class_count": 100,
        },
    )
    # A baseline with a step budget, so the safe-mode cap (half the baseline's) has something to cap.
    experiment = yaml.safe_load(ws.experiment_file.read_text())
    experiment["search_space"]["train.total_timesteps"] = {"type": "int", "low": 1, "high": 10_000, "tune": False}
    ws.experiment_file.write_text(yaml.safe_dump(experiment))
    for mode in ("quick", "full"):
        path = ws.baseline_file(mode)
        baseline = json.loads(path.read_text())
        baseline["train"]["total_timesteps"] = 1000
        path.write_text(json.dumps(baseline))
    queue(ws, {"train.behavior": "crash"}, {"train.behavior": "crash"}, {"train.x": 0.5}, {"train.x": 0.6})
    loop = make_loop(ws, batch_size=2)
    loop.run()
    guard = loop.guard()
    assert guard.safe_mode and not guard.halted
    ws.next_config.write_text(json.dumps({"train.total_timesteps": 5000, "train.x": 0.7}))
    cases = loop.make_batch(guard)
    assert len(cases) == 2 and all("safe_mode" in c.tags for c in cases)
    assert all(c.overrides["train.total_timesteps"] == 500 for c in cases)  # 5000 asked, and the default: capped
    assert any("safe mode" in line for line in loop.journal.lines())


def test_a_pause_is_honoured_before_the_next_case_starts(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train.behavior": "pause"}, {"train.x": 0.1}, {"train.x": 0.2})
    result = make_loop(ws, iterations=3).run()
    assert len(runs(ws)) == 1
    assert len(list(ws.pending.glob("*.json"))) == 2  # still queued, not lost
    assert result.message.startswith("paused: paused during a trial")


def test_two_loops_cannot_drive_one_workspace(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    with WorkspaceLock(ws.lock_file):
        result = subprocess.run([AUTOPILOT, "run", "-w", str(ws.root)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "is driven by another autopilot loop (pid" in result.stderr


def test_a_stale_lock_of_a_dead_loop_is_taken_over(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    ws.lock_file.write_text("999999\n")  # no process holds it
    queue(ws, {"train.x": 0.4})
    assert make_loop(ws).run().exit_code == 0


def _wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _running(ws: Workspace) -> list[Any]:
    return [v for v in runs(ws) if v.state == "running"]


def test_kill_9_mid_trial_then_restart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    args = ["run", "--proposer", "random", "--batch-size", "3", "--iterations", "2", "--seed", "5"]
    # The reference: an uninterrupted loop.
    ref = make_ws(tmp_path / "ref")
    (ref.root / "configs" / "baseline_quick.json").write_text(
        json.dumps(
            {"train": {"x": 0.5, "behavior": "ok", "sleep": 1.0, "seed": 1}, "autopilot": {"save_strategy": "all"}}
        )
    )
    subprocess.run([AUTOPILOT, *args, "-w", str(ref.root)], check=True, capture_output=True, timeout=120)

    ws = make_ws(tmp_path / "ws")
    (ws.root / "configs" / "baseline_quick.json").write_text((ref.root / "configs" / "baseline_quick.json").read_text())
    loop = subprocess.Popen(
        [AUTOPILOT, *args, "-w", str(ws.root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for(lambda: len([v for v in runs(ws) if v.state == "complete"]) == 1 and _running(ws))
    [victim] = _running(ws)
    trainer_pid = victim.record.pid
    loop.send_signal(signal.SIGKILL)
    loop.wait(timeout=30)

    subprocess.run([AUTOPILOT, *args, "-w", str(ws.root)], check=True, capture_output=True, timeout=120)
    assert not _alive(trainer_pid)  # the orphaned trainer was ended
    views = runs(ws)
    assert not [v for v in views if v.state in ("running", "pending")]
    interrupted = [v for v in views if v.record.failure_class == "interrupted"]
    assert [v.id for v in interrupted] == [victim.id]
    complete = [v for v in views if v.state == "complete"]
    case_ids = [v.record.case_id for v in complete]
    assert len(case_ids) == len(set(case_ids))  # each case completed exactly once
    assert victim.record.case_id in case_ids  # the interrupted case was re-queued and ran

    def batches(w: Workspace) -> list[tuple[str, str]]:
        return sorted(
            (v.record.case_id, json.dumps(v.overrides, sort_keys=True)) for v in runs(w) if v.state == "complete"
        )

    # Same cases with the same overrides as the uninterrupted loop, across both iterations.
    assert batches(ws)[: len(batches(ref))] == batches(ref)


def test_sigterm_stops_the_loop_and_records_running_trials_as_killed(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws", resources={"timeout_minutes": 5, "stall_seconds": 60})
    queue(ws, {"train.behavior": "hang"}, {"train.x": 0.3})
    proc = subprocess.Popen(
        [AUTOPILOT, "run", "-w", str(ws.root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(lambda: bool(_running(ws)))
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "stopped: received SIGTERM" in stderr
    [view] = runs(ws)
    assert view.state == "killed" and view.record.failure_class == "killed"
    assert len(list(ws.pending.glob("*.json"))) == 2  # the killed case and the unstarted one stay queued
    assert not ws.lock_file.read_text().strip()  # the lock was released


def test_resume_continue_passes_the_latest_checkpoint(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train.x": 0.2})
    make_loop(ws).run()
    [first] = runs(ws)
    queue(ws, {"autopilot.resume_mode": "continue", "autopilot.resume_from": "latest"})
    make_loop(ws).run()
    second = runs(ws)[-1]
    config = json.loads((ws.runs / second.id / "config.json").read_text())
    assert config["train"]["load_model_path"] == str(ws.runs / first.id / "checkpoints" / "model_000002.pt")


@pytest.mark.parametrize(("strategy", "kept"), [("all", 4), ("latest", 1), ("best", 2)])
def test_save_strategy_really_deletes_checkpoints(tmp_path: Path, strategy: str, kept: int) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(
        ws, {"train.x": 0.9, "autopilot.save_strategy": strategy}, {"train.x": 0.1, "autopilot.save_strategy": strategy}
    )
    make_loop(ws).run()
    remaining = sorted(ws.runs.glob("*/checkpoints/model_*.pt"))
    assert len(remaining) == kept
    if strategy == "best":
        best, latest = runs(ws)
        assert {p.parent.parent.name for p in remaining} == {best.id, latest.id}


def test_save_strategy_best_keeps_the_checkpoint_of_a_config_a_rerun_makes_champion(tmp_path: Path) -> None:
    """A (0.9) is the champion, B (0.8) waits for a re-run; A's re-run scores 0.5, B's 0.8: B becomes the
    champion, and its checkpoint must still be there though B was neither the pick nor the latest run between."""
    ws = make_ws(tmp_path / "ws")
    best = {"autopilot.save_strategy": "best"}
    queue(ws, {"train.x": 0.9, **best}, {"train.x": 0.8, **best})
    make_loop(ws).run()
    a, b = runs(ws)
    loop = make_loop(ws)
    for parent, x in ((a, 0.5), (b, 0.8)):
        override = loop.loaded.validate({"train.x": x, **best}).normalized
        loop.records.write_case(Case(f"confirm-{parent.id}", override, [parent.id], ["confirm"], "test"))
        make_loop(ws).run()
    history = runs(ws)
    champion = decide(history, Objective(metric="score"), ws.runs).champion
    assert champion is not None and champion.id == b.id
    assert final_checkpoint(ws, champion) is not None


def test_rollback_makes_a_run_the_parent_of_the_next_proposals(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train.x": 0.33, "train.sleep": 0.1})
    make_loop(ws).run()
    [parent] = runs(ws)
    result = subprocess.run([AUTOPILOT, "rollback", parent.id, "-w", str(ws.root)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    cases = make_loop(ws, batch_size=2).make_batch(make_loop(ws).guard_readonly(), dry_run=True)
    assert all(c.parent_ids == [parent.id] and c.overrides["train.sleep"] == 0.1 for c in cases)
    assert "rollback" in ws.labbook.read_text()


def test_status_reports_state_counts_best_and_guardrails(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train.x": 0.7}, {"train.behavior": "crash"})
    make_loop(ws).run()
    out = subprocess.run([AUTOPILOT, "status", "--json", "-w", str(ws.root)], capture_output=True, text=True)
    status = json.loads(out.stdout)
    assert status["state"] == "idle"
    assert status["counts"]["complete"] == 1 and status["counts"]["failed"] == 1
    assert status["best"]["score"] == 0.7
    assert status["guardrails"]["failures_by_class"] == {"crash": 1}
    subprocess.run([AUTOPILOT, "pause", "--reason", "lunch", "-w", str(ws.root)], check=True)
    status = json.loads(
        subprocess.run([AUTOPILOT, "status", "--json", "-w", str(ws.root)], capture_output=True, text=True).stdout
    )
    assert status["state"] == "paused" and status["why"] == "lunch"
    subprocess.run([AUTOPILOT, "resume", "-w", str(ws.root)], check=True)
    status = json.loads(
        subprocess.run([AUTOPILOT, "status", "--json", "-w", str(ws.root)], capture_output=True, text=True).stdout
    )
    assert status["state"] == "idle" and status["guardrails"]["window"] == 0  # a fresh window


def test_journal_has_each_event_once_in_time_order(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    make_loop(ws, batch_size=2, iterations=2).run()
    lines = make_loop(ws).journal.lines()
    keys = [line.rsplit("[", 1)[1] for line in lines]
    assert len(keys) == len(set(keys))
    stamps = [line.split()[1] for line in lines]
    assert stamps == sorted(stamps)
    assert sum("run-end" in line for line in lines) == len(runs(make_loop(ws).ws))


def test_propose_dry_run_is_deterministic_and_writes_nothing(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws", proposer={"name": "random"})
    out = [
        subprocess.run(
            [AUTOPILOT, "propose", "--dry-run", "--seed", "9", "-w", str(ws.root)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    first = json.loads(out[0])
    assert len(first) == 4 and [c["case_id"] for c in first] == [c["case_id"] for c in json.loads(out[1])]
    assert [c["overrides"] for c in first] == [c["overrides"] for c in json.loads(out[1])]
    assert not list(ws.pending.glob("*.json"))
    written = subprocess.run(
        [AUTOPILOT, "propose", "--seed", "9", "-w", str(ws.root)], capture_output=True, text=True, check=True
    )
    assert "4 case(s) written" in written.stdout
    again = subprocess.run([AUTOPILOT, "propose", "--seed", "9", "-w", str(ws.root)], capture_output=True, text=True)
    assert "batch barrier" in again.stdout


def test_loop_threads_stop_on_the_stop_flag(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws", resources={"timeout_minutes": 5, "stall_seconds": 60})
    queue(ws, {"train.behavior": "hang"})
    loop = make_loop(ws)
    threading.Timer(2.0, loop.request_stop, args=("test",)).start()
    result = loop.run()
    assert result.exit_code == 130
    assert runs(ws)[0].state == "killed"


def test_commit_per_run_commits_each_finished_runs_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = make_ws(tmp_path / "ws", git={"commit_per_run": True})
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(key, "autopilot test")
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(key, "test@example.invalid")
    subprocess.run(["git", "init", "-q", str(ws.root)], check=True)
    queue(ws, {"train.x": 0.4}, {"train.behavior": "crash"})
    make_loop(ws).run()
    log = subprocess.run(["git", "log", "--format=%s"], cwd=ws.root, capture_output=True, text=True).stdout
    assert len(log.splitlines()) == 2
    assert "complete score=0.4" in log and "failed (crash:" in log
    files = subprocess.run(["git", "ls-files"], cwd=ws.root, capture_output=True, text=True).stdout
    assert "/summary.json" in files and "checkpoints" not in files


def test_a_better_estimate_on_fewer_seeds_gets_a_rerun_that_decides(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train.x": 0.5})
    make_loop(ws).run()
    [first] = runs(ws)
    rerun_of(ws, first.id, 0.5)
    Records(ws).write_case(Case(case_id="cbetter", overrides={"train.x": 0.6}, proposer="test"))
    make_loop(ws).run()
    second = next(v for v in runs(ws) if v.overrides.get("train.x") == 0.6)
    [confirm] = Records(ws).pending_cases()  # one seed against the champion's two: re-run it first
    assert confirm.tags == ["confirm"] and confirm.parent_ids == [second.id]
    assert confirm.overrides["train.x"] == 0.6 and confirm.overrides["train.seed"] != 1
    assert json.loads(ws.leaderboard.read_text())["best"] == first.id
    make_loop(ws).run()
    board = json.loads(ws.leaderboard.read_text())
    assert board["best"] == second.id
    row = next(r for r in board["runs"] if r["run_id"] == second.id)
    assert "best estimate" in row["evidence"] and row["seeds"] == 2
    assert "confirmation case" in ws.labbook.read_text()


def test_early_stopping_prunes_a_trial_clearly_behind_its_peers(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path / "ws",
        early_stopping={"enabled": True, "rungs": [0.5], "min_trials": 4, "min_delta": 0.05},
        resources={"timeout_minutes": 2, "stall_seconds": 30},
    )
    baseline = json.loads((ws.root / "configs" / "baseline_quick.json").read_text())
    baseline["train"]["total_timesteps"] = 10
    (ws.root / "configs" / "baseline_quick.json").write_text(json.dumps(baseline))
    queue(ws, *[{"train.behavior": "curve", "train.x": x} for x in (0.8, 0.85, 0.9, 0.95)])
    make_loop(ws).run()
    queue(
        ws,
        {"train.behavior": "curve", "train.x": 0.1, "train.sleep": 0.6},
        {"train.behavior": "curve", "train.x": 0.9, "train.sleep": 0.3},
    )
    make_loop(ws).run()
    views = runs(ws)
    slow_bad = next(v for v in views if v.overrides.get("train.sleep") == 0.6)
    slow_good = next(v for v in views if v.overrides.get("train.sleep") == 0.3)
    assert slow_bad.state == "pruned" and "below the 50% quantile" in slow_bad.record.pruned_reason
    assert slow_good.state == "complete"  # a trial keeping up with its peers is never stopped
    assert make_loop(ws).guard_readonly().fail_rate == 0.0  # pruning is not a failure
    assert not ws.failures.exists() or slow_bad.id not in ws.failures.read_text()


def test_a_trial_budget_stops_the_loop_and_every_trial_counts(tmp_path: Path) -> None:
    """--trials 5 with batches of 2: five trials run (a crash counts), the loop stops, status shows it."""
    ws = make_ws(tmp_path / "ws", proposer={"name": "random", "batch_size": 2})
    queue(ws, {"train.behavior": "crash"})
    result = make_loop(ws, trials=5, iterations=None).run()
    assert result.exit_code == 0 and "budget used (5/5 trials)" in result.message
    assert len(runs(ws)) == 5 and sum(v.state == "failed" for v in runs(ws)) == 1
    status = json.loads(
        subprocess.run([AUTOPILOT, "status", "--json", "-w", str(ws.root)], capture_output=True, text=True).stdout
    )
    assert status["budget"]["used"]["trials"] == 5 and status["budget"]["left"]["trials"] == 0
    # A restarted loop with the same budget starts a new one; the old records stay.
    assert make_loop(ws, trials=1, iterations=None).run().exit_code == 0
    assert len(runs(ws)) == 6


def test_a_step_budget_counts_the_steps_each_trial_used(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws", proposer={"name": "random", "batch_size": 1})
    result = make_loop(ws, budget_steps=7, iterations=None).run()  # each fake trial reports 3 steps
    assert result.exit_code == 0 and "9/7 steps" in result.message
    assert len(runs(ws)) == 3


def test_a_missing_objective_metric_fails_the_run_and_every_view_says_why(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws", objective={"metric": "delivery"})
    queue(ws, {"train.x": 0.7})
    make_loop(ws).run()
    (run,) = runs(ws)
    assert run.state == "failed" and run.record.failure["class"] == "missing_metric"
    assert "'delivery' was not reported; the trainer reported: score" in run.record.failure["reason"]
    views = [
        subprocess.run([AUTOPILOT, command, "-w", str(ws.root)], capture_output=True, text=True, check=True).stdout
        for command in ("status", "leaderboard", "report")
    ]
    assert all("missing_metric" in text for text in views[:2])
    assert "the trainer reported: score" in (ws.root / "report.html").read_text().replace("&#x27;", "'")


def test_a_model_based_proposer_gets_one_proposal_per_worker(tmp_path: Path) -> None:
    """The default proposer learns from every finished trial: with one worker it proposes one case at a time
    whatever the batch size allows (as Optuna's study loop asks), one per worker with more; a proposer that
    learns nothing (random, Optuna's QMC sampler) fills the batch."""
    ws = make_ws(tmp_path / "ws")  # the scaffold's default proposer, auto
    sizes = [
        len(make_loop(ws, batch_size=4, workers=workers).make_batch(make_loop(ws).guard_readonly(), dry_run=True))
        for workers in (1, 2, 8)
    ]
    assert sizes == [1, 2, 4]  # never more than the batch size
    for name, size in (("random", 4), ("optuna:QMCSampler", 4), ("optuna:TPESampler", 1)):
        batcher = make_ws(tmp_path / name.replace(":", "-"), proposer={"name": name})
        loop = make_loop(batcher, batch_size=4, workers=1)
        assert len(loop.make_batch(loop.guard_readonly(), dry_run=True)) == size, name


def test_a_proposal_that_breaks_a_rule_is_replaced_not_the_end_of_the_run(tmp_path: Path) -> None:
    """One proposal at a time (the default proposer, one worker): when it breaks a cross-key rule, the proposer
    is asked again with a fresh seed instead of the run ending with no valid case; the reject is in the ledger."""
    ws = make_ws(tmp_path / "ws")
    experiment = yaml.safe_load(ws.experiment_file.read_text())
    experiment["search_space"]["train.y"] = {"type": "int", "low": 1, "high": 8}
    experiment["search_space"]["train.z"] = {"type": "int", "low": 6, "high": 8}
    experiment["rules"] = [{"check": "at_least", "key": "train.y", "than": ["train.z"]}]  # y >= z: a quarter valid
    ws.experiment_file.write_text(yaml.safe_dump(experiment))
    for mode in ("quick", "full"):
        path = ws.root / "configs" / f"baseline_{mode}.json"
        baseline = json.loads(path.read_text())
        baseline["train"].update({"y": 8, "z": 6})
        path.write_text(json.dumps(baseline))
    result = make_loop(ws, trials=4, iterations=None, seed=0).run()
    assert result.exit_code == 0, result.message
    views = runs(ws)
    assert len(views) == 4 and all(v.overrides.get("train.y", 8) >= v.overrides.get("train.z", 6) for v in views)
    refused = Records(ws).failures()
    assert refused and all(f["class"] == "invalid_config" and f["proposer"] == "auto" for f in refused)
    assert "train.y" in refused[0]["reason"]
    assert "asking again with a fresh seed" in ws.labbook.read_text()


def test_the_study_line_follows_every_trial_and_a_budget_too_small_to_tune_is_announced(tmp_path: Path) -> None:
    """After each finished trial: trials of the budget and the champion so far; a budget whose trials are only
    the baseline and its re-run says so before it starts."""
    from autopilot.experiment.loader import load
    from autopilot.loop.orchestrator import Loop, RunOptions
    from autopilot.loop.progress import Progress

    ws = make_ws(tmp_path / "ws")
    lines: list[str] = []
    progress = Progress(ws, "score", live=False)
    progress.message = lines.append  # type: ignore[method-assign]
    result = Loop(load(ws), RunOptions(iterations=None, trials=2, proposer="random", seed=1), progress=progress).run()
    assert result.exit_code == 0, result.message
    assert any(line.startswith("note: 2 trial(s) hold 1 new config(s) and 1 final re-run(s)") for line in lines)
    study = [line for line in lines if line.startswith("study: ")]
    assert len(study) == 2 and study[0].startswith("study: 1/2 trials; champion ")
    champion = decide(runs(ws), Objective(metric="score"), ws.runs).champion
    assert champion is not None and study[-1].startswith(f"study: 2/2 trials; champion {champion.id} (score ")
    assert study[-1].endswith("over 2 seed(s))")  # the baseline's final re-run pooled with it

    lines.clear()
    result = Loop(load(ws), RunOptions(iterations=None, trials=4, proposer="random", seed=2), progress=progress).run()
    assert result.exit_code == 0 and not any(line.startswith("note:") for line in lines)
