"""The loop's lock on a workspace (``.lock``)."""

from __future__ import annotations

import os
from pathlib import Path


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
