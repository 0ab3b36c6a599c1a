"""A hostile trainer cannot starve, hang or rob the loop: every read bounded and never through a link or into a
FIFO, the loop's own records restored, no limit switched off by a NaN, no YAML bomb expanded, no survivor of a
kill -9, every champion change journalled. Real processes, links, FIFOs and files."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import AUTOPILOT, ONLY_A_HANG_TAKES_S, make_loop, make_ws, runs
from test_trust import alive, hostile_ws, run_once

from autopilot.experiment.parse import MAX_YAML_NODES, load_yaml
from autopilot.ids import new_run_id, utc_now
from autopilot.loop.orchestrator import RunOptions
from autopilot.workspace.atomic import UnsafeFile, last_metrics_line, read_bytes, read_json, read_jsonl
from autopilot.workspace.records import Records, RunRecord
from autopilot.workspace.run_folder import RunFolder

# Every file of a run folder the loop reads, whoever writes it.
RUN_FILES = (
    "run.json",
    "override.json",
    "config.json",
    "config_diff.json",
    "summary.json",
    "train.log",
    "metrics.jsonl",
    "trainer_summary.json",
    "eval_episodes.jsonl",
)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """An autopilot command; a hang fails the test (the bound is far above what any machine needs)."""
    return subprocess.run(
        [AUTOPILOT, *args], cwd=cwd, capture_output=True, text=True, timeout=ONLY_A_HANG_TAKES_S, check=False
    )


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "outside_link"])
def test_the_readers_refuse_links_fifos_and_devices_without_blocking(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "config.json"
    if kind == "dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)  # no writer: a blocking open would wait forever
    else:
        (tmp_path / "outside.json").write_text("{}")
        path.symlink_to(tmp_path / "outside.json")
    with pytest.raises(UnsafeFile if kind == "fifo" else OSError):
        read_json(path)
    assert read_jsonl(path) == [] and last_metrics_line(path) is None


def test_a_file_over_its_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 2048)
    with pytest.raises(UnsafeFile, match="larger than"):
        read_bytes(path, max_bytes=1024)
    assert read_bytes(path, max_bytes=4096) == b" " * 2048


@pytest.mark.slow
@pytest.mark.parametrize("replaced", ["run.json", "every other file, its run running"])
@pytest.mark.parametrize("kind", ["dev_zero", "fifo"])
def test_status_and_report_answer_whatever_replaces_the_run_files(tmp_path: Path, replaced: str, kind: str) -> None:
    ws = make_ws(tmp_path / "ws")
    run_once(ws, {"train.x": 0.9})
    [view] = runs(ws)
    folder = ws.runs / view.id
    if replaced == "run.json":
        names: tuple[str, ...] = ("run.json",)
    else:  # a running run's metrics are read by status and the report's progress table
        names = tuple(name for name in RUN_FILES if name != "run.json")
        record = json.loads((folder / "run.json").read_text())
        (folder / "run.json").write_text(json.dumps({**record, "state": "running"}))
    for name in names:
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to("/dev/zero") if kind == "dev_zero" else os.mkfifo(folder / name)
    status = cli("status", "-w", str(ws.root), cwd=tmp_path)
    report = cli("report", "-w", str(ws.root), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert report.returncode == 0, report.stderr
    assert "Traceback" not in status.stderr + report.stderr


@pytest.mark.slow
def test_a_trainer_linking_its_records_to_dev_zero_and_its_metrics_to_a_fifo_is_settled(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path, "records_to_zero")
    result = run_once(ws)
    [view] = runs(ws)
    assert view.state == "failed" and view.record.failure_class == "bad_output"
    assert "metrics.jsonl is not a regular file" in view.record.failure["reason"]
    folder = RunFolder(ws.runs / view.id)
    for name in ("run.json", "config.json", "override.json", "config_diff.json"):
        assert not (folder.path / name).is_symlink() and isinstance(read_json(folder.path / name), dict), name
    assert "run.json was changed by the trainer; the loop's own restored" in ws.labbook.read_text()
    assert result.runs == [view.id]


@pytest.mark.slow
def test_a_trainer_cannot_rewrite_its_own_record_or_config(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path, "rewrite_records")
    run_once(ws, {"train.x": 0.3})
    [view] = runs(ws)
    assert view.record.case_id != "forged" and view.state == "complete"
    config = read_json(RunFolder(ws.runs / view.id).config)
    assert config["train"]["x"] == 0.3
    journal = ws.labbook.read_text()
    assert "config.json was changed by the trainer" in journal and "run.json was changed" in journal


@pytest.mark.slow
def test_a_run_folder_replaced_by_a_link_is_not_followed_written_or_pruned(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path, "replace_run_dir")
    outside = tmp_path / "outside"
    (outside / "checkpoints").mkdir()
    for name in ("model_000001.pt", "trainer_state.pt"):
        (outside / "checkpoints" / name).write_bytes(b"precious")
    baseline = json.loads(ws.baseline_file("quick").read_text())
    baseline["autopilot"]["save_strategy"] = "latest"
    ws.baseline_file("quick").write_text(json.dumps(baseline))
    run_once(ws)
    assert sorted(p.name for p in outside.rglob("*")) == ["checkpoints", "model_000001.pt", "trainer_state.pt"]
    [view] = runs(ws)
    assert view.state == "failed" and view.record.failure_class == "bad_output"
    assert "the run folder was replaced" in view.record.failure["reason"]
    assert not (ws.runs / view.id).is_symlink() and (ws.runs / view.id).is_dir()


def test_only_real_folders_named_as_runs_are_runs(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    records = Records(ws)
    real = new_run_id("c0", 0)
    records.run_dir(real).mkdir(parents=True)
    records.write_run(RunRecord(id=real, case_id="c0", state="failed"))
    for name in ("notes", new_run_id("c1", 0)):
        fake = tmp_path / f"elsewhere-{name}"
        fake.mkdir()
        (fake / "run.json").write_text(json.dumps({"id": name, "case_id": "x", "state": "complete"}))
        (ws.runs / name).symlink_to(fake) if name != "notes" else fake.rename(ws.runs / name)
    assert records.run_ids() == [real]
    assert len(records.strays()) == 2 and all("left out" in line for line in records.strays())


@pytest.mark.parametrize("option", ["timeout_minutes", "stall_seconds", "budget_minutes", "trials", "workers"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0, -1])
def test_every_limit_refuses_nan_infinity_zero_and_negatives(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"--{option.replace('_', '-')}: must be a finite number > 0"):
        RunOptions(**{option: value})


@pytest.mark.parametrize("option", ["--timeout-minutes", "--stall-seconds", "--budget-minutes"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_the_command_line_refuses_a_nan_limit_in_one_line(tmp_path: Path, option: str, value: str) -> None:
    done = cli("run", "-w", str(tmp_path / "ws"), f"{option}={value}", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{option}: must be a finite number, got '{value}'" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "ws").exists()


def test_every_float_option_of_the_command_line_is_checked_finite() -> None:
    from autopilot.cli import build_parser, finite_float

    def actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
        out = []
        for action in parser._actions:
            out.append(action)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    out += actions(sub)
        return out

    floats = [a for a in actions(build_parser()) if getattr(a, "type", None) in (float, finite_float)]
    assert len(floats) >= 3 and all(a.type is finite_float for a in floats)


BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    "section",
    [
        "objective:\n  metric: score\n  evaluation:\n    env: *i\n",
        "trainer:\n  metrics: *i\n",
        "search_space:\n  train.x: {type: categorical, choices: *i}\n",
    ],
)
def test_a_yaml_alias_bomb_is_refused_in_one_line_before_it_grows(tmp_path: Path, section: str) -> None:
    ws = make_ws(tmp_path / "ws")
    ws.experiment_file.write_text("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + BOMB + section)
    done = cli("status", "-w", str(ws.root), cwd=tmp_path)
    assert done.returncode == 2
    assert f"expand to over {MAX_YAML_NODES:,} values" in done.stderr and "Traceback" not in done.stderr


def test_a_yaml_that_refers_to_itself_and_one_too_large_are_refused(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    ws.experiment_file.write_text("objective: &o {metric: score, x: *o}\n")
    assert "expand to over" in cli("status", "-w", str(ws.root), cwd=tmp_path).stderr
    ws.experiment_file.write_text("# padding\n" * (300_000))
    done = cli("status", "-w", str(ws.root), cwd=tmp_path)
    assert done.returncode == 2 and "larger than the 2 MiB the loop reads" in done.stderr


def test_ordinary_anchors_still_load() -> None:
    assert load_yaml("a: &a {low: 0, high: 1}\nb: *a\n") == {"a": {"low": 0, "high": 1}, "b": {"low": 0, "high": 1}}


@pytest.mark.slow
def test_recovery_ends_a_group_member_without_environment_after_its_leader_died(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    run_id = new_run_id("c0", 0)
    records = Records(ws)
    records.run_dir(run_id).mkdir(parents=True)
    started = utc_now()
    time.sleep(1.1)  # the child starts after the record's start time even at /proc's clock-tick resolution
    spawn = (
        "import subprocess, sys; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'], env={}, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid)"
    )
    leader = subprocess.run(
        [sys.executable, "-c", spawn],
        env={**os.environ, "AUTOPILOT_RUN_ID": run_id},
        start_new_session=True,
        capture_output=True,
        text=True,
        check=True,
    )
    child = int(leader.stdout.strip())
    try:
        assert alive(child) and f"AUTOPILOT_RUN_ID={run_id}".encode() not in Path(f"/proc/{child}/environ").read_bytes()
        leader_pid = os.getpgid(child)  # the group carries the dead leader's pid
        records.write_run(
            RunRecord(
                id=run_id, case_id="c0", state="running", host=socket.gethostname(), pid=leader_pid, started=started
            )
        )
        make_loop(ws, proposer="manual").recover()
        deadline = time.monotonic() + ONLY_A_HANG_TAKES_S
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        if alive(child):
            os.kill(child, 9)


@pytest.mark.slow
def test_a_champion_moved_by_a_damaged_record_and_a_deleted_journal_are_journalled(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    run_once(ws, {"train.x": 0.9}, {"train.x": 0.2})
    first, second = runs(ws)
    assert json.loads(ws.leaderboard.read_text())["best"] == first.id
    RunFolder(ws.runs / first.id).run_json.write_text('{"id": "')  # damaged
    ws.labbook.unlink()
    make_loop(ws, proposer="manual").recover()
    journal = ws.labbook.read_text()
    assert "labbook.md was missing and is recreated here" in journal
    assert f"champion: {first.id} -> {second.id}: run {first.id}'s record can no longer be read" in journal
    assert json.loads(ws.leaderboard.read_text())["best"] == second.id


TOKEN = "tok-0123456789abcdef"


@pytest.mark.slow
@pytest.mark.parametrize("passthrough", [False, True])
def test_a_declared_secret_stays_out_of_trainers_the_loops_environ_and_every_file(
    tmp_path: Path, passthrough: bool
) -> None:
    ws = hostile_ws(tmp_path, "secret_probe", trainer={"env_passthrough": ["MY_TOKEN"] if passthrough else []})
    experiment = yaml.safe_load(ws.experiment_file.read_text())
    experiment["secrets"] = ["MY_TOKEN"]
    ws.experiment_file.write_text(yaml.safe_dump(experiment))
    env = {**os.environ, "MY_TOKEN": TOKEN}
    done = subprocess.run(
        [AUTOPILOT, "run", "-w", str(ws.root), "--trials", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=ONLY_A_HANG_TAKES_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [view] = runs(ws)
    assert view.metrics["has_token"] == float(passthrough)  # only where the user passed it on
    assert view.metrics["loop_environ_has_token"] == 0.0  # the loop re-executed itself without it
    csv = tmp_path / "runs.csv"
    exported = subprocess.run([AUTOPILOT, "export", "-w", str(ws.root), "csv", str(csv)], env=env, check=False)
    assert exported.returncode == 0
    folder = RunFolder(ws.runs / view.id)
    written = [folder.train_log, folder.summary, folder.run_json, csv, ws.labbook, ws.leaderboard, ws.report]
    assert all(TOKEN not in path.read_text() for path in written)
    assert TOKEN not in done.stdout + done.stderr
    if passthrough:  # it was printed and used as a metric name: what the loop wrote says [redacted]
        assert "the token is [redacted]" in folder.train_log.read_text()
        assert "metric_[redacted]" in folder.summary.read_text() and "metric_[redacted]" in csv.read_text()


def test_a_secret_cut_across_output_chunks_is_still_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    from autopilot.workspace.secrets import StreamRedactor, register_secret_env

    monkeypatch.setenv("MY_TOKEN", TOKEN)
    register_secret_env(["MY_TOKEN"])
    text = f"a {TOKEN} b {TOKEN}".encode()
    for cut in range(len(text)):
        redactor = StreamRedactor()
        out = redactor.feed(text[:cut]) + redactor.feed(text[cut:]) + redactor.flush()
        assert out == b"a [redacted] b [redacted]", cut


@pytest.mark.slow
def test_a_log_that_cannot_be_written_is_drained_and_the_trainer_is_not_blocked(tmp_path: Path) -> None:
    from autopilot.executors.local import CappedLog

    log = CappedLog(tmp_path / "train.log", 1 << 20)
    log.file.close()
    log.file = open("/dev/full", "wb")  # noqa: SIM115 - every write fails with ENOSPC, as on a full disk
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfor _ in range(2000): sys.stdout.write('x' * 1023 + '\\n')"],
        stdout=log.write_fd,
        stderr=log.write_fd,
    )
    log.start()
    assert writer.wait(timeout=ONLY_A_HANG_TAKES_S) == 0  # 2 MB through a pipe of 64 KB: drained, not blocked
    log.close()
    assert log.write_error is not None and "No space left" in log.write_error
    assert log.received == 2000 * 1024


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"objective": {"constraints": ["foo"]}}, "objective.constraints[0]: must be a mapping, got str"),
        ({"trainer": {"metrics": {"a\x00b": "score"}}}, "holds a control character"),
        ({"objective": {"metric": "sco\x1b[2Jre"}}, "holds a control character"),
        ({"secrets": ["MY TOKEN"]}, "secrets[0]: 'MY TOKEN' is not an environment variable name"),
    ],
)
def test_hostile_experiment_values_are_one_clear_line_for_every_command(
    tmp_path: Path, section: dict[str, object], message: str
) -> None:
    ws = make_ws(tmp_path / "ws")
    experiment = yaml.safe_load(ws.experiment_file.read_text())
    for key, value in section.items():
        if isinstance(value, dict):
            experiment[key].update(value)
        else:
            experiment[key] = value
    ws.experiment_file.write_text(yaml.safe_dump(experiment))
    for command in ("status", "run"):
        done = cli(command, "-w", str(ws.root), cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, command


def test_a_missing_trainer_command_and_a_bad_sampler_argument_stop_the_study_before_any_trial(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    experiment = yaml.safe_load(ws.experiment_file.read_text())
    experiment["trainer"]["command"] = ["no-such-trainer-xyz", "{run_dir}"]
    experiment["proposer"].update({"name": "optuna:TPESampler", "optuna": {"n_startup": 3}})
    ws.experiment_file.write_text(yaml.safe_dump(experiment))
    done = cli("run", "-w", str(ws.root), "--trials", "4", cwd=tmp_path)
    assert done.returncode == 2
    assert "trainer.command[0]: 'no-such-trainer-xyz' is not an executable file" in done.stderr
    assert "proposer.optuna.n_startup: not a keyword argument of optuna.samplers.TPESampler" in done.stderr
    assert not any(ws.runs.iterdir())


@pytest.mark.slow
def test_a_study_whose_trials_all_failed_exits_1_with_the_reason(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    baseline = json.loads(ws.baseline_file("quick").read_text())
    baseline["train"]["behavior"] = "crash"
    ws.baseline_file("quick").write_text(json.dumps(baseline))
    done = cli("run", "-w", str(ws.root), "--trials", "2", "--proposer", "random", cwd=tmp_path)
    assert len(runs(ws)) == 2 and all(v.state == "failed" for v in runs(ws))
    assert done.returncode == 1
    assert "none of its 2 trial(s) completed (crash; see failures.json)" in done.stderr


def test_a_curve_of_any_length_is_held_in_bounded_lines_spanning_the_whole_run(tmp_path: Path) -> None:
    from autopilot.workspace.atomic import read_curve

    path = tmp_path / "metrics.jsonl"
    with path.open("w") as f:
        for step in range(10_001):
            f.write(json.dumps({"step": step, "metrics": {"score": step / 10_000, "name": "text"}, "x": [1]}) + "\n")
    curve = read_curve(path, max_lines=100)
    assert len(curve) <= 101  # the thinned lines and the last one
    steps = [line["step"] for line in curve]
    assert steps[0] == 0 and steps[-1] == 10_000 and steps == sorted(steps)
    assert len({b - a for a, b in itertools.pairwise(steps[:-1])}) == 1  # an even stride
    assert curve[-1] == {"step": 10_000, "metrics": {"score": 1.0}}  # numbers only
