"""The exports users load into their own tools: one Optuna trial per config valued at the estimate the pick ranks
(so Optuna's ``best_trial`` is the champion), rows named as Optuna's dataframe names them, re-export replaces."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from helpers import make_ws
from optuna.trial import TrialState

import autopilot
from autopilot.workspace.atomic import atomic_write_json
from autopilot.workspace.records import Records, RunRecord
from autopilot.workspace.run_folder import RunFolder


def add_run(
    ws: autopilot.Study, i: int, score: float | None, parent: str | None = None, state: str = "complete"
) -> str:
    records = Records(ws.workspace)
    run_id = f"2026-01-01T0000{i:02d}Z-{i:06x}"
    record = RunRecord(
        id=run_id,
        case_id=f"c{i}",
        state=state,
        tags=["confirm"] if parent else [],
        parent_ids=[parent] if parent else [],
        seed=i,
        created=f"2026-01-01T00:00:{i:02d}Z",
        proposer="confirm" if parent else "random",
    )
    records.run_dir(run_id).mkdir(parents=True)
    records.write_run(record)
    records.write_record(run_id, "override.json", {"train": {"x": 0.1 * i}})
    if score is not None:
        atomic_write_json(
            RunFolder(records.run_dir(run_id)).summary,
            {"metrics": {"score": score}, "score": score, "feasible": True},
        )
    return run_id


@pytest.fixture
def study(tmp_path: Path) -> autopilot.Study:
    make_ws(tmp_path / "ws")
    return autopilot.open(tmp_path / "ws")


def test_one_trial_per_config_and_best_trial_is_the_champion(study: autopilot.Study, tmp_path: Path) -> None:
    base = add_run(study, 1, 0.50)
    again = add_run(study, 2, 0.52, parent=base)
    lucky = add_run(study, 3, 0.60)  # a better mean on one seed: the loop owes it a re-run before picking it
    failed = add_run(study, 4, None, state="failed")
    assert study.champion is not None and study.champion.id == base
    exported = study.to_optuna()  # in memory: no storage needed
    by_run = {t.user_attrs["run_id"]: t for t in exported.trials}
    assert set(by_run) == {base, lucky, failed}  # the re-run is part of its config, not a trial of its own
    assert by_run[base].state == TrialState.COMPLETE and by_run[base].user_attrs["runs"] == [base, again]
    assert by_run[base].user_attrs["seeds"] == 2 and by_run[base].user_attrs["mean"] == pytest.approx(0.51)
    assert by_run[base].value == by_run[base].user_attrs["estimate"]  # shrunk toward all configs, as picked
    assert 0.51 < by_run[base].value < 0.60
    assert by_run[lucky].state == TrialState.WAITING and by_run[lucky].value is None
    assert by_run[failed].state == TrialState.FAIL
    assert exported.best_trial.user_attrs["run_id"] == base and exported.best_trial.user_attrs["champion"] is True
    assert study.best_value == by_run[base].value and study.best_params == {"train.x": pytest.approx(0.1)}

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study.to_optuna(storage, "s")
    add_run(study, 5, 0.61, parent=lucky)  # the re-run agrees: lucky is the champion now
    study.to_optuna(storage, "s")  # again into the same database: replaced, not DuplicatedStudyError
    loaded = optuna.load_study(study_name="s", storage=storage)
    assert len(loaded.trials) == 3 and loaded.best_trial.user_attrs["run_id"] == lucky == study.champion.id
    assert loaded.best_trial.value == pytest.approx(study.best_value)


def test_rows_carry_the_config_its_estimate_and_seeds_under_optunas_column_names(study: autopilot.Study) -> None:
    base = add_run(study, 1, 0.50)
    again = add_run(study, 2, 0.52, parent=base)
    frame = study.dataframe()
    assert list(frame["run_id"]) == [base, again]
    assert list(frame["config_id"]) == [base, base]
    assert list(frame["seeds"]) == [2, 2] and frame["estimate"].tolist() == pytest.approx([0.51, 0.51])
    assert "params_train.x" in frame.columns and "metrics_score" in frame.columns
    assert str(frame["created"].dtype).startswith("datetime64")


def test_opening_a_folder_without_a_workspace_is_an_error_unless_asked_to_create(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="create=True"):
        autopilot.open(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()  # nothing made
    study = autopilot.open(tmp_path / "new", create=True, trainer="command")
    assert study.workspace.exists()


def test_the_dashboard_serves_the_study_one_trial_per_config(study: autopilot.Study) -> None:
    import json
    import socket
    import subprocess
    import time
    import urllib.request

    from helpers import AUTOPILOT

    base = add_run(study, 1, 0.50)
    add_run(study, 2, 0.52, parent=base)
    add_run(study, 3, 0.40)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [AUTOPILOT, "dashboard", "-w", str(study.workspace.root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        studies = None
        for _ in range(300):  # until it listens (a loaded machine imports slowly)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as answer:
                    studies = json.loads(answer.read())["study_summaries"]
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.2)
        assert studies is not None
        [served] = studies
        assert served["study_name"] == "ws"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{served['study_id']}", timeout=5) as answer:
            trials = json.loads(answer.read())["trials"]
        assert len(trials) == 2  # the re-run is part of its config
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert (study.workspace.root / "optuna.db").is_file()
    assert not (study.workspace.root / ".optuna.db.partial").exists()


def test_the_leaderboard_ranks_configs_with_their_runs_beneath(study: autopilot.Study) -> None:
    import json
    import subprocess

    from helpers import AUTOPILOT

    base = add_run(study, 1, 0.086)
    again = add_run(study, 2, 0.19, parent=base)  # a re-run is part of its config's row, never ranked apart
    other = add_run(study, 3, 0.123456789)
    root = str(study.workspace.root)
    done = subprocess.run([AUTOPILOT, "leaderboard", "-w", root, "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["config_id"] for r in rows] == [base, other]  # 0.138 over 2 seeds beats 0.123 on one
    assert [run["run_id"] for run in rows[0]["runs"]] == [base, again] and rows[0]["seeds"] == 2
    assert rows[0]["best"] and rows[0]["mean"] == pytest.approx(0.138)
    text = subprocess.run([AUTOPILOT, "leaderboard", "-w", root], capture_output=True, text=True).stdout
    assert text.index(base) < text.index(again) < text.index(other)  # runs beneath their config
    assert "0.1235" in text and "0.123456789" not in text  # figures as a reader takes them in
