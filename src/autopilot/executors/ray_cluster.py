"""Trials on a Ray cluster (the optional extra ``rl-autopilot[ray]``; imported only when asked for).

Each trial is a Ray task with the per-trial resources of autopilot.yaml (``num_cpus``, ``num_gpus``), so Ray's
scheduler packs trials onto the cluster; up to ``workers`` run at once. On the worker the trainer runs in a
scratch folder under the same protocol and the same limits as the local executor (its own process group,
wall-clock and stall timeouts); its files come back into the run folder on the driver, for failed runs too.
A worker or node that dies gives ``worker_lost`` (the loop re-queues the case once); stopping the loop
cancels the tasks. Nodes need this package installed (``pip install rl-autopilot``) and the same trainer.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import ray

from autopilot.executors.base import Job, OnFinish, OnStart, TrialOutcome, TrialSpec
from autopilot.executors.local import LocalExecutor
from autopilot.executors.processes import is_alive
from autopilot.experiment.schema import Resources
from autopilot.workspace.atomic import read_bytes, read_json
from autopilot.workspace.layout import Workspace
from autopilot.workspace.run_folder import CHECKPOINTS, CONFIG_FILE, TRAINER_OUTPUTS

# Files that come back from the worker; checkpoints follow in checkpoints/ (the loop's save strategy prunes).
RETURNED = TRAINER_OUTPUTS
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024


SCRATCH_PREFIX = "autopilot-ray-"


def _scratch_folder(run_id: str) -> Path:
    """A new scratch folder named after this worker process, after removing those of workers that died.

    A task cancelled by force (the loop stopping) or a killed worker never reaches its ``finally``; its trainer
    dies with it (PR_SET_PDEATHSIG), its folder stays. The next task on the node removes it.
    """
    root = Path(tempfile.gettempdir())
    for stale in root.glob(f"{SCRATCH_PREFIX}*"):
        owner = stale.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not is_alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-{run_id}-", dir=root))


def _run_on_worker(spec: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, Any]:
    """Runs inside a Ray worker: materialise the run folder, run the trainer with limits, return its files."""
    scratch = _scratch_folder(spec["run_id"])
    try:
        for rel, data in inputs.items():
            target = scratch / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        home = spec["run_dir"]

        def here(text: str) -> str:
            return text.replace(home, str(scratch))

        env = {k: here(v) for k, v in spec["env"].items()}
        env.update({k: v for k, v in os.environ.items() if k.startswith("RAY_")})
        local = TrialSpec(
            spec["run_id"],
            [here(a) for a in spec["argv"]],
            scratch,
            env,
            spec["timeout_s"],
            spec["stall_s"],
            max_log_bytes=spec["max_log_bytes"],
            max_output_bytes=spec["max_output_bytes"],
        )
        outcome = LocalExecutor(1).run_one(local, lambda _s, _p: None, threading.Event())
        # Only regular files, never through a link (a trainer must not ship the worker's other files back).
        files = {
            name: raw
            for name in RETURNED
            if (raw := _regular_bytes(scratch / name, spec["max_output_bytes"] + spec["max_log_bytes"])) is not None
        }
        checkpoints = scratch / CHECKPOINTS
        for path in sorted(checkpoints.glob("*")) if checkpoints.is_dir() and not checkpoints.is_symlink() else []:
            if (raw := _regular_bytes(path, MAX_CHECKPOINT_BYTES)) is not None:
                files[f"{CHECKPOINTS}/{path.name}"] = raw
        return {"outcome": vars(outcome), "files": files, "node": os.uname().nodename}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class RayExecutor:
    """Runs trials as Ray tasks; ``address`` None starts a local Ray instance."""

    def __init__(
        self, workers: int, address: str | None, resources: Resources, ws: Workspace, poll_s: float = 0.5
    ) -> None:
        self.workers = max(1, workers)
        self.resources = resources
        self.ws = ws
        self.poll_s = poll_s
        if not ray.is_initialized():
            ray.init(
                address=address,
                ignore_reinit_error=True,
                log_to_driver=False,
                include_dashboard=False,
                logging_level=logging.WARNING,
            )
        self._remote = ray.remote(_run_on_worker).options(
            num_cpus=resources.num_cpus, num_gpus=resources.num_gpus, max_retries=0
        )

    def run(self, jobs: list[Job], on_start: OnStart, on_finish: OnFinish, stop: threading.Event) -> None:
        queue = list(jobs)
        in_flight: dict[Any, tuple[TrialSpec, float]] = {}
        while queue or in_flight:
            while queue and len(in_flight) < self.workers and not stop.is_set():
                spec = queue.pop(0)()
                if spec is None:
                    continue
                ref = self._remote.remote(_payload(spec), _inputs(spec))
                in_flight[ref] = (spec, time.monotonic())
                on_start(spec, None)
            if stop.is_set():
                queue.clear()
                for ref, (spec, started) in list(in_flight.items()):
                    ray.cancel(ref, force=True)
                    on_finish(
                        spec,
                        TrialOutcome(
                            spec.run_id,
                            wall_s=time.monotonic() - started,
                            stopped_by="stop",
                            detail="stopped by the loop (Ray task cancelled)",
                        ),
                    )
                in_flight.clear()
                return
            if not in_flight:
                continue
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=self.poll_s)
            for ref in done:
                spec, started = in_flight.pop(ref)
                on_finish(spec, self._collect(ref, spec, started))

    def _collect(self, ref: Any, spec: TrialSpec, started: float) -> TrialOutcome:
        try:
            result = ray.get(ref)
        except (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.LocalRayletDiedError,
            ray.exceptions.ActorDiedError,
        ) as exc:
            return TrialOutcome(
                spec.run_id,
                wall_s=time.monotonic() - started,
                stopped_by="worker_lost",
                detail=f"{type(exc).__name__}: the Ray worker running the trial died",
            )
        except ray.exceptions.RayError as exc:
            return TrialOutcome(
                spec.run_id,
                wall_s=time.monotonic() - started,
                stopped_by="worker_lost",
                detail=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
            )
        for rel, data in result["files"].items():
            target = spec.run_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        outcome = TrialOutcome(**result["outcome"])
        outcome.extra["node"] = result["node"]
        return outcome


def _payload(spec: TrialSpec) -> dict[str, Any]:
    return {
        "run_id": spec.run_id,
        "argv": spec.argv,
        "run_dir": str(spec.run_dir),
        "env": spec.env,
        "timeout_s": spec.timeout_s,
        "stall_s": spec.stall_s,
        "max_log_bytes": spec.max_log_bytes,
        "max_output_bytes": spec.max_output_bytes,
    }


def _regular_bytes(path: Path, max_bytes: int) -> bytes | None:
    """``path``'s bytes when it is a regular file within ``max_bytes`` (never through a link); else None."""
    try:
        return read_bytes(path, max_bytes)
    except OSError:
        return None


def _inputs(spec: TrialSpec) -> dict[str, bytes]:
    """config.json (with a warm-start checkpoint shipped alongside, its path rewritten for the worker)."""
    config = read_json(spec.run_dir / CONFIG_FILE)
    inputs: dict[str, bytes] = {}
    load = config.get("train", {}).get("load_model_path")
    if load and Path(load).is_file():
        inputs["warm_start.pt"] = read_bytes(Path(load), MAX_CHECKPOINT_BYTES)
        config["train"]["load_model_path"] = "warm_start.pt"  # relative to the trainer's working folder
    inputs[CONFIG_FILE] = json.dumps(config).encode()
    return inputs
