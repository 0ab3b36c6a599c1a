"""Progress of the study and its running trials: a live table in a terminal (rich), with the study's line
(trials of the budget, time left, champion so far) under it; plain timestamped lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from autopilot.executors.base import TrialSpec
from autopilot.workspace.atomic import last_metrics_line
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import RunRecord
from autopilot.workspace.run_folder import RunFolder
from autopilot.workspace.secrets import redact

PLAIN_EVERY_S = 30.0


@dataclass
class TrialView:
    spec: TrialSpec
    started: float = field(default_factory=time.monotonic)


class Progress:
    """Callbacks from the loop; a background thread refreshes the view of running trials."""

    def __init__(self, ws: Workspace, metric: str, console: Console | None = None, live: bool | None = None) -> None:
        self.ws = ws
        self.metric = metric
        self.console = console or Console(stderr=False)
        self.live_mode = sys.stdout.isatty() if live is None else live
        self.running: dict[str, TrialView] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.study_text = ""
        self._showwarning: Any = None

    # loop callbacks
    def begin(self) -> None:
        self._stop.clear()
        if self.live_mode:
            self._live = Live(self._view(), console=self.console, refresh_per_second=2, transient=True)
            self._live.start()
            # A library's warning printed to stderr would tear the live table: it goes above it, as a line.
            self._showwarning = warnings.showwarning
            warnings.showwarning = self._warning
        self._thread = threading.Thread(target=self._refresh, daemon=True)
        self._thread.start()

    def end(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._showwarning is not None:
            warnings.showwarning = self._showwarning
            self._showwarning = None

    def _warning(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        self.message(f"warning: {category.__name__}: {message} ({Path(filename).name}:{lineno})")

    def study(self, text: str) -> None:
        """The study's line, after each finished trial: under the live table, or a printed line."""
        self.study_text = text
        if self._live is None:
            self.message(text)

    def started(self, spec: TrialSpec) -> None:
        with self._lock:
            self.running[spec.run_id] = TrialView(spec)
        self.message(f"started run {spec.run_id}")

    def finished(self, record: RunRecord, summary: dict[str, Any] | None) -> None:
        with self._lock:
            self.running.pop(record.id, None)
        value = (summary or {}).get("metrics", {}).get(self.metric)
        shown = f" {self.metric}={value:.4g}" if isinstance(value, float) else ""
        failure = f" ({record.failure['class']}: {record.failure['reason']})" if record.failure else ""
        self.message(f"run {record.id} {record.state}{shown}{failure} in {record.wall_s or 0:.1f}s")

    def message(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        line = f"[{stamp}] {redact(text)}"
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False)
        else:
            print(line, flush=True)

    # rendering
    def rows(self) -> list[dict[str, Any]]:
        out = []
        with self._lock:
            views = list(self.running.values())
        for view in views:
            line = last_metrics_line(RunFolder(view.spec.run_dir).metrics) or {}
            elapsed = time.monotonic() - view.started
            step, total, sps = line.get("step"), line.get("total"), line.get("sps")
            eta = (total - step) / sps if isinstance(total, int) and step and sps else None
            limit_left = view.spec.timeout_s - elapsed
            remaining = min(eta, limit_left) if eta is not None else limit_left
            out.append(
                {
                    "run_id": view.spec.run_id,
                    "step": step,
                    "total": total,
                    "sps": sps,
                    "metric": (line.get("metrics") or {}).get(self.metric),
                    "elapsed": elapsed,
                    "remaining": max(remaining, 0.0),
                    "estimated": eta is not None,  # else remaining is only the time limit's
                }
            )
        return out

    def _view(self) -> Group:
        """The running trials' table, the study's line under it."""
        return Group(self._table(), Text(self.study_text)) if self.study_text else Group(self._table())

    def _table(self) -> Table:
        table = Table(title="running trials", expand=False)
        for col in ("run", "steps", "SPS", self.metric, "elapsed", "remaining"):
            table.add_column(col, justify="right" if col != "run" else "left")
        for row in self.rows():
            steps = f"{row['step'] or 0:,}" + (f" / {row['total']:,}" if row["total"] else "")
            table.add_row(
                row["run_id"],
                steps,
                f"{row['sps']:,.0f}" if row["sps"] else "-",
                f"{row['metric']:.3f}" if isinstance(row["metric"], float) else "-",
                f"{row['elapsed']:.0f}s",
                f"{row['remaining']:.0f}s" if row["estimated"] else f"limit {row['remaining']:.0f}s",
            )
        return table

    def _refresh(self) -> None:
        last_plain = time.monotonic()
        while not self._stop.wait(0.5):
            if self._live is not None:
                self._live.update(self._view())
            elif time.monotonic() - last_plain >= PLAIN_EVERY_S:
                last_plain = time.monotonic()
                for row in self.rows():
                    metric = f"{row['metric']:.3f}" if isinstance(row["metric"], float) else "-"
                    total = f"{row['total']:,}" if isinstance(row["total"], int) else "?"
                    self.message(
                        f"run {row['run_id']}: step {row['step'] or 0:,}/{total} "
                        f"{self.metric}={metric} elapsed {row['elapsed']:.0f}s"
                    )
