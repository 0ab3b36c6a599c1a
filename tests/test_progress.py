"""The live view: a library's warning goes above the table as a line, the study line is its caption, and a
trial that logs no total shows its time limit as a limit, not as an estimate."""

from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

from rich.console import Console

from autopilot.executors.base import TrialSpec
from autopilot.loop.progress import Progress
from autopilot.workspace.layout import Workspace


def test_the_live_view_keeps_warnings_out_of_the_table_and_shows_the_study_line(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    progress = Progress(Workspace(tmp_path), "score", console=console, live=True)
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text('{"step": 10, "metrics": {"score": 0.5}}\n')
    spec = TrialSpec(run_id="r1", argv=["true"], run_dir=run_dir, env={}, timeout_s=600.0, stall_s=60.0)
    before = warnings.showwarning
    progress.begin()
    try:
        progress.started(spec)
        progress.study("study: 1/8 trials; champion r0 (score 0.4 over 1 seed(s))")
        warnings.warn("a library's deprecation", UserWarning, stacklevel=1)
        [row] = progress.rows()
        assert not row["estimated"]  # no total logged: what is left is the time limit's
        time.sleep(1.2)  # the live table refreshes twice a second
    finally:
        progress.end()
    assert warnings.showwarning is before  # put back when the live view ends
    text = out.getvalue()
    assert "warning: UserWarning: a library's deprecation (test_progress.py:" in text
    assert "study: 1/8 trials; champion r0" in text and "limit 59" in text
