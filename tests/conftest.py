from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from autopilot.experiment.scaffold import scaffold
from autopilot.workspace.layout import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A freshly scaffolded built-in workspace."""
    root = tmp_path / "ws"
    scaffold(root)
    return Workspace(root)


RAY = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """A real Ray head on 127.0.0.1 with 2 CPUs, shared by every test that needs one."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    # No token auth: a ~/.ray/auth_token left by another Ray program (ray.init makes one) would lock the
    # tests' own loopback head out.
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run(
        [
            RAY,
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--num-gpus=0",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ],
        check=True,
        capture_output=True,
        env=env,
        timeout=180,
    )
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


# Hypothesis draws the same examples on every run (derandomized), so a CI run is reproducible; the example
# database is off so a local failure cannot change what CI sees.
settings.register_profile("autopilot", derandomize=True, database=None, deadline=None)
settings.load_profile("autopilot")


def _stray_threads() -> list[threading.Thread]:
    """Non-daemon threads still alive: the interpreter waits for them at exit, so one a test leaves behind
    (PufferLib's PuffeRL starts one) would hang the run after its last test."""
    return [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    strays = _stray_threads()
    if strays:
        names = ", ".join(f"{t.name} ({getattr(t.run, '__qualname__', type(t).__name__)})" for t in strays)
        print(f"\nerror: tests left non-daemon threads running: {names}", file=sys.stderr, flush=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    if _stray_threads():  # fail now instead of hanging CI until its timeout
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(pytest.ExitCode.TESTS_FAILED))
