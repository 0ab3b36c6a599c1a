"""The HTML report, rendered for real in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import make_loop, make_ws, queue

pytestmark = pytest.mark.slow  # real processes (trainers, servers, the CLI)

AUTOPILOT = str(Path(sys.executable).with_name("autopilot"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"


def headless(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_renders_plots_and_tables_in_chromium(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train.x": 0.2}, {"train.x": 0.7}, {"train.behavior": "crash"}, {"train.x": 0.4}, {"train.x": 0.9})
    make_loop(ws, batch_size=5).run()
    result = subprocess.run([AUTOPILOT, "report", "-w", str(ws.root)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = ws.root / "report.html"
    text = report.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained: nothing to fetch

    dom = headless("--dump-dom", report.as_uri()).stdout
    images = re.findall(r'<img[^>]+src="data:image/png;base64,', dom)
    # champion so far, curves, objective vs parameters, failures, parameter importance, parallel coordinates;
    # no drone funnel: a command trainer reports none of its rates
    assert len(images) == 6
    leaderboard = dom[dom.index('id="leaderboard"') : dom.index("</table>", dom.index('id="leaderboard"'))]
    # header, then the four completed configs, each with its run beneath (none was re-run)
    assert leaderboard.count("<tr") == 1 + 4 + 4 and leaderboard.count('class="config') == 4
    failures = dom[dom.index('id="failures"') :]
    assert "crash" in failures
    assert "Champion:" in dom and "winner" in dom

    shot = tmp_path / "report.png"
    headless(f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri())
    assert shot.stat().st_size > 20_000  # a real rendering, not a blank page


def test_the_loop_refreshes_the_report_after_each_iteration(tmp_path: Path) -> None:
    ws = make_ws(tmp_path / "ws")
    queue(ws, {"train.x": 0.3})
    make_loop(ws).run()
    first = (ws.root / "report.html").read_text()
    queue(ws, {"train.x": 0.9})
    make_loop(ws).run()
    second = (ws.root / "report.html").read_text()
    assert first != second and second.count("<tr class='config") == 2 and second.count("<tr class='run'") == 2
    assert "No failures." in second and "id='failures'" not in second  # no empty table
