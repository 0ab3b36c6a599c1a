"""`autopilot run` on the built-in drone task, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records

AUTOPILOT = str(Path(sys.executable).with_name("autopilot"))


@pytest.mark.slow
@pytest.mark.puffer
def test_autopilot_run_trains_the_builtin_task_for_a_few_iterations(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    subprocess.run([AUTOPILOT, "init", str(root)], check=True, capture_output=True)
    baseline_path = root / "configs" / "baseline_quick.json"
    baseline = json.loads(baseline_path.read_text())
    baseline["train"]["total_timesteps"] = 250_000
    baseline_path.write_text(json.dumps(baseline))
    experiment = yaml.safe_load((root / "autopilot.yaml").read_text())
    experiment["objective"]["evaluation"]["episodes"] = 64  # evaluation belongs to the objective
    (root / "autopilot.yaml").write_text(yaml.safe_dump(experiment))

    result = subprocess.run(
        [AUTOPILOT, "run", "-w", str(root), "--iterations", "2", "--batch-size", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "done: 2 iteration(s)" in result.stdout
    assert "leaderboard" in result.stdout

    views = Records(Workspace(root)).history()
    # Two iterations of one case each: the default proposer learns from every trial, so with one worker it
    # proposes one at a time whatever --batch-size allows (no re-runs: every config has one seed).
    assert len(views) == 2
    assert all(v.state == "complete" for v in views), [(v.id, v.record.failure) for v in views]
    for view in views:
        summary = view.summary or {}
        assert 0.0 <= summary["metrics"]["success_rate"] <= 1.0
        interval = summary["intervals"]["success_rate"]
        assert interval["low"] <= interval["mean"] <= interval["high"] and interval["n"] == 64
        # The driver kept the final and the best-smoothed checkpoints and says which one it evaluated.
        assert summary["selection"]["chosen"] in ("final", "best") and summary["selection"]["why"]
        assert summary["checkpoint"].startswith("checkpoints/")
    board = json.loads((root / "leaderboard.json").read_text())
    assert len(board["runs"]) == len(views) and board["runs"][0]["rank"] == 1
    assert board["runs"][0]["run_id"] == board["best"] and board["runs"][0]["best"]
    assert not list((root / "cases" / "pending").glob("*.json")) or all(
        "confirm" in json.loads(p.read_text())["tags"] for p in (root / "cases" / "pending").glob("*.json")
    )
    assert (root / "report.html").is_file()

    # The save strategy ("best") keeps the champion's checkpoint and the latest run's: evaluate the champion.
    first = board["best"]
    second = next(v.id for v in views if v.id != first)
    evaluated = subprocess.run(
        [AUTOPILOT, "eval", first, "-w", str(root), "--episodes", "48", "--seed", "77"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "48 episodes on seed 77" in evaluated.stdout and "success_rate:" in evaluated.stdout
    assert len((root / "runs" / first / "evals" / "seed-77.jsonl").read_text().splitlines()) == 48

    compared = subprocess.run(
        [AUTOPILOT, "compare", first, second, "-w", str(root), "--json"], capture_output=True, text=True
    )
    result = json.loads(compared.stdout)["results"]["success_rate"]
    low, mean, high = (result["difference"][k] for k in ("low", "mean", "high"))
    assert low <= mean <= high
    expected = "improved" if low > 0 else "regressed" if high < 0 else "inconclusive"
    assert result["verdict"] == expected

    status = json.loads(
        subprocess.run([AUTOPILOT, "status", "--json", "-w", str(root)], capture_output=True, text=True).stdout
    )
    assert status["counts"]["complete"] == len(views) and status["best"]["evidence"]
    assert status["best"]["run_id"] == board["best"]  # one champion in every view
