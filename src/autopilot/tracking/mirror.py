"""Trials mirrored live to the tools users watch, from the files every trainer writes (the ``tracking`` extra):

- TensorBoard (``tracking.tensorboard``, every trainer): ``runs/<id>/tensorboard/``, written as metrics.jsonl
  grows (``metrics/``, ``losses/``, ``sps``), then the held-out result (``final/``) and the run's
  hyperparameters with it (TensorBoard's HParams), so ``tensorboard --logdir WORKSPACE/runs`` compares trials.
- W&B (``tracking.wandb``) and Neptune (``tracking.neptune``), for command trainers (the PufferLib driver logs
  through PufferLib's own loggers): one run per trial, named by its run id, with the full applied config;
  offline without an API key, under ``WORKSPACE/wandb/`` and ``WORKSPACE/.neptune/``, where ``wandb sync``
  and ``neptune sync`` run in the workspace find them.

A tool that fails is dropped for that trial and named in :attr:`Mirrors.problems` (the loop journals them):
tracking never stops the loop or loses a result.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

from autopilot.workspace.atomic import MAX_LINE_BYTES, UnsafeFile, json_object, read_from
from autopilot.workspace.run_folder import RunFolder

TENSORBOARD_DIR = "tensorboard"
POLL_S = 2.0  # how often running trials' metrics are read (the local executor's early-stopping cadence)
CHUNK_BYTES = 4 << 20  # read per trial and poll: a trial logging faster is mirrored over several polls
MAX_LINES = 20_000  # mirrored in full; past it every 16th line (a curve, as the loop's readers keep it)


class Sink(Protocol):
    name: str

    def log(self, line: dict[str, Any], step: int) -> None: ...

    def close(self, final: dict[str, float], params: dict[str, Any]) -> None: ...


class TensorBoardSink:
    name = "tensorboard"

    def __init__(self, run_dir: Path) -> None:
        from tensorboardX import SummaryWriter  # the tracking extra

        self.writer = SummaryWriter(logdir=str(run_dir / TENSORBOARD_DIR), flush_secs=int(POLL_S))
        self.last_step = 0

    def log(self, line: dict[str, Any], step: int) -> None:
        self.last_step = max(self.last_step, step)
        for key, value in scalars(line).items():
            self.writer.add_scalar(key, value, step)

    def close(self, final: dict[str, float], params: dict[str, Any]) -> None:
        for key, value in final.items():
            self.writer.add_scalar(f"final/{key}", value, self.last_step)
        if params:
            # HParams: one session per run, its hyperparameters beside its held-out result
            hparams = {k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in params.items()}
            # In the run's own event file (add_hparams would start another, which readers of the folder skip);
            # the session's metrics are its final/ scalars.
            from tensorboardX.summary import hparams as hparams_summaries

            for summary in hparams_summaries(hparams, {f"final/{k}": v for k, v in final.items()}):
                self.writer.file_writer.add_summary(summary)
        self.writer.close()


class WandbSink:
    name = "wandb"

    def __init__(self, workspace: Path, project: str, run_id: str, config: dict[str, Any], tags: list[str]) -> None:
        import wandb  # the tracking extra

        from autopilot.tracking.wandb_study import wandb_mode

        self.run = wandb.init(
            project=project,
            group=workspace.name,
            name=run_id,
            id=run_id,
            job_type="trial",
            dir=str(workspace),
            mode=wandb_mode(),  # type: ignore[arg-type]  # one of wandb's modes, from the environment
            config=config,
            tags=tags,
            resume="allow",
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )

    def log(self, line: dict[str, Any], step: int) -> None:
        self.run.log(scalars(line), step=step)

    def close(self, final: dict[str, float], params: dict[str, Any]) -> None:
        if final:
            self.run.log({f"final/{k}": v for k, v in final.items()})
        self.run.finish()


class NeptuneSink:
    name = "neptune"

    def __init__(self, workspace: Path, project: str | None, run_id: str, config: dict[str, Any], tags: list[str]):
        import logging
        import os

        import neptune  # the tracking extra (PufferLib's NeptuneLogger uses it too)

        logging.getLogger("neptune").setLevel(logging.WARNING)  # its info lines would tear the live table
        # Offline runs (no NEPTUNE_API_TOKEN) in WORKSPACE/.neptune/, where `neptune sync` run there finds them.
        os.environ.setdefault("NEPTUNE_DATA_DIRECTORY", str(workspace / ".neptune"))
        mode: Literal["async", "offline"] = "async" if os.environ.get("NEPTUNE_API_TOKEN") else "offline"
        self.run = neptune.init_run(
            project=project,
            mode=mode,
            name=run_id,
            custom_run_id=run_id,
            tags=[t for t in tags if t],
            capture_hardware_metrics=False,
            capture_stdout=False,
            capture_stderr=False,
            capture_traceback=False,
        )
        for key, value in config.items():
            if isinstance(value, bool | int | float | str):
                self.run[f"config/{key}"] = value

    def log(self, line: dict[str, Any], step: int) -> None:
        for key, value in scalars(line).items():
            self.run[key].append(value, step=step)

    def close(self, final: dict[str, float], params: dict[str, Any]) -> None:
        for key, value in final.items():
            self.run[f"final/{key}"] = value
        self.run.stop()


def scalars(line: dict[str, Any]) -> dict[str, float]:
    """A metrics line's finite numbers: ``metrics/<name>``, ``losses/<name>``, ``sps``."""
    out = {}
    for section in ("metrics", "losses"):
        values = line.get(section)
        for key, value in (values if isinstance(values, dict) else {}).items():
            if finite(value):
                out[f"{section}/{key}"] = float(value)
    if finite(line.get("sps")):
        out["sps"] = float(line["sps"])
    return out


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class TrialMirror:
    """One trial's metrics.jsonl, followed from where it was last read, sent to its sinks."""

    def __init__(self, run_id: str, run_dir: Path, sinks: list[Sink], problem: Callable[[str], None]) -> None:
        self.run_id, self.path, self.sinks, self.problem = run_id, RunFolder(run_dir).metrics, sinks, problem
        self.offset = 0
        self.partial = b""
        self.lines = 0

    def poll(self, until_end: bool = False) -> None:
        """Send the lines written since the last poll (with ``until_end``, every line left)."""
        while self.sinks:
            try:
                chunk = read_from(self.path, self.offset, CHUNK_BYTES)
            except FileNotFoundError:
                return
            except (OSError, UnsafeFile) as exc:
                self._drop_all(f"{self.path.name} cannot be read ({exc})")
                return
            self.offset += len(chunk)
            *complete, self.partial = (self.partial + chunk).split(b"\n")
            if len(self.partial) > MAX_LINE_BYTES:
                self.partial = b""  # an over-long line is skipped, as the loop's readers skip it
            for raw in complete:
                self._send(raw)
            if not until_end or len(chunk) < CHUNK_BYTES:
                return

    def _send(self, raw: bytes) -> None:
        line = json_object(raw) if raw.strip() else None
        step = line.get("step") if line else None
        if line is None or not isinstance(step, int) or isinstance(step, bool):
            return
        self.lines += 1
        if self.lines > MAX_LINES and self.lines % 16:
            return
        for sink in list(self.sinks):
            self._call(sink, "log", sink.log, line, step)

    def close(self, final: dict[str, float], params: dict[str, Any]) -> None:
        self.poll(until_end=True)
        for sink in list(self.sinks):
            self._call(sink, "close", sink.close, final, params)
        self.sinks = []

    def _call(self, sink: Sink, what: str, action: Callable[..., None], *args: Any) -> None:
        try:
            action(*args)
        except Exception as exc:  # a tracking tool must never stop the loop: it is dropped for this trial
            self.sinks.remove(sink)
            self.problem(f"{sink.name} for run {self.run_id} stopped ({what}): {exc!r}"[:500])

    def _drop_all(self, why: str) -> None:
        for sink in self.sinks:
            self.problem(f"{sink.name} for run {self.run_id} stopped: {why}"[:500])
        self.sinks = []


class Mirrors:
    """The live mirrors of a loop's running trials, polled by a background thread while trials run."""

    def __init__(self, make_sinks: Callable[[str, Path], list[Sink]]) -> None:
        self.make_sinks = make_sinks
        self.open: dict[str, TrialMirror] = {}
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll_loop, daemon=True)
        self._thread.start()

    def end(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def start(self, run_id: str, run_dir: Path) -> None:
        sinks = self._sinks(run_id, run_dir)
        if sinks:
            with self._lock:
                self.open[run_id] = TrialMirror(run_id, run_dir, sinks, self.problems.append)

    def close(self, run_id: str, run_dir: Path, final: dict[str, float], params: dict[str, Any]) -> None:
        """The trial ended: its last lines, its held-out result and hyperparameters; a trial the loop did not
        see start (one settled after a restart) is mirrored here in one go."""
        with self._lock:
            mirror = self.open.pop(run_id, None)
            if mirror is None:
                sinks = self._sinks(run_id, run_dir)
                mirror = TrialMirror(run_id, run_dir, sinks, self.problems.append) if sinks else None
            if mirror is not None:
                mirror.close(final, params)

    def take_problems(self) -> list[str]:
        with self._lock:
            out, self.problems[:] = list(self.problems), []
        return out

    def _sinks(self, run_id: str, run_dir: Path) -> list[Sink]:
        try:
            return self.make_sinks(run_id, run_dir)
        except Exception as exc:  # a tool that cannot start (no extra, a bad project) never stops the loop
            self.problems.append(f"tracking for run {run_id} not started: {exc!r}"[:500])
            return []

    def _poll_loop(self) -> None:
        while not self._stop.wait(POLL_S):
            with self._lock:
                for mirror in list(self.open.values()):
                    mirror.poll()
