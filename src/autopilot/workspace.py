"""The workspace on disk (docs/architecture.md): its paths, atomic writes and the loop's lock.

Every write goes through :func:`atomic_write_text`: a temporary file in the same folder, fsync, rename,
so a loop killed at any instant leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_WORKSPACE = "autopilot"
WORKSPACE_ENV = "AUTOPILOT_WORKSPACE"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (same-folder temp file, fsync, ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the folder's entry is flushed.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def resolve_workspace(arg: str | None) -> Path:
    """``-w DIR`` if given, else ``$AUTOPILOT_WORKSPACE``, else ``./autopilot``; made absolute, because trainers
    run with their run folder as the working directory."""
    return Path(arg or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE).absolute()


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace; creating this object touches nothing on disk."""

    root: Path

    @property
    def experiment_file(self) -> Path:
        return self.root / "autopilot.yaml"

    @property
    def configs(self) -> Path:
        return self.root / "configs"

    def baseline_file(self, mode: str) -> Path:
        return self.configs / f"baseline_{mode}.json"

    @property
    def next_config(self) -> Path:
        return self.root / "proposals" / "next_config.json"

    @property
    def prompts(self) -> Path:
        return self.root / "prompts"

    @property
    def labbook(self) -> Path:
        return self.root / "journal" / "labbook.md"

    @property
    def notes(self) -> Path:
        return self.root / "journal" / "notes.md"

    @property
    def pending(self) -> Path:
        return self.root / "cases" / "pending"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def failures(self) -> Path:
        return self.root / "failures.json"

    @property
    def leaderboard(self) -> Path:
        return self.root / "leaderboard.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def pause_file(self) -> Path:
        return self.root / "PAUSE_AUTORUN"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    def exists(self) -> bool:
        return self.experiment_file.is_file()


class WorkspaceLocked(RuntimeError):
    """Another live loop drives this workspace."""


class WorkspaceLock:
    """``.lock``: an exclusive ``flock`` held for the loop's lifetime, with the owner's pid inside.

    The kernel drops the lock when its owner dies (even by ``kill -9``), so a stale lock is simply taken over.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise WorkspaceLocked(
                f"{self.path.parent} is driven by another autopilot loop (pid {owner}); "
                "stop it first, or use another workspace"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    @staticmethod
    def holder(path: Path) -> int | None:
        """The pid of the live process holding the lock at ``path`` (-1 if unreadable), or None if free."""
        import fcntl

        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 64).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        finally:
            os.close(fd)  # closing also drops the shared lock taken when it was free
        return None

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WorkspaceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
