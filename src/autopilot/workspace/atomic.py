"""Atomic writes and tolerant reads of the workspace's JSON files.

Every write goes through :func:`atomic_write_text`: a temporary file in the same folder, fsync, rename,
so a loop killed at any instant leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, BinaryIO


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (same-folder temp file, fsync, ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a shared report must be readable as usual
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; set straight back
    os.umask(mask)
    return mask


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


MAX_LINE_BYTES = 1 << 20  # one JSON line of metrics or an episode is a few hundred bytes; longer ones are skipped
MAX_READ_BYTES = 256 << 20  # what the loop reads of one trainer output file at most (resources.max_output_mb)


class UnsafeFile(OSError):
    """A file the loop will not read: a symbolic link, or not a regular file (a FIFO, /dev/zero)."""


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, refusing symbolic links and anything that is not a regular file, so a
    trainer cannot point the loop at a file outside its run folder or at an endless device."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(f"{path.name} is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_problem(path: Path, max_bytes: int = MAX_READ_BYTES) -> tuple[bool, str] | None:
    """Why the loop will not read ``path``, as ``(over the cap, reason)``: a link, not a regular file, or larger
    than ``max_bytes``; None when it reads it (or it does not exist)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return False, f"{path.name} cannot be read ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return False, f"{path.name} is a symbolic link (the loop reads only regular files inside the run folder)"
    if not stat.S_ISREG(info.st_mode):
        return False, f"{path.name} is not a regular file"
    if info.st_size > max_bytes:
        return True, f"{path.name} is {info.st_size / 2**20:.0f} MiB, over the cap of {max_bytes / 2**20:.0f} MiB"
    return None


def read_jsonl(path: Path, max_bytes: int = MAX_READ_BYTES) -> list[dict[str, Any]]:
    """The JSON objects of a .jsonl file, read line by line: a torn last line (a killed writer) and lines
    over ``MAX_LINE_BYTES`` are skipped, reading stops after ``max_bytes``, and a link or a file that is not
    regular reads as empty (``file_problem`` says why)."""
    out: list[dict[str, Any]] = []
    try:
        with open_regular(path) as handle:
            read = 0
            while read < max_bytes:
                line = handle.readline(MAX_LINE_BYTES + 1)
                if not line:
                    break
                read += len(line)
                if len(line) > MAX_LINE_BYTES:
                    while line and not line.endswith(b"\n"):  # skip the rest of the over-long line
                        line = handle.readline(MAX_LINE_BYTES)
                        read += len(line)
                    continue
                try:
                    item = json.loads(line)
                except (ValueError, RecursionError):  # a torn or hostile line: skipped
                    continue
                if isinstance(item, dict):
                    out.append(item)
    except OSError:
        return out
    return out


def read_json_regular(path: Path, max_bytes: int = MAX_READ_BYTES) -> Any:
    """``read_json`` for a file a trainer wrote: refuses links and non-regular files, and oversize files."""
    with open_regular(path) as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise UnsafeFile(f"{path.name} is larger than {max_bytes} bytes")
    return json.loads(raw.decode("utf-8"))


def last_metrics_line(path: Path, max_bytes: int = 65_536) -> dict[str, Any] | None:
    """The newest complete line of a metrics.jsonl (read from its tail), or None."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):  # a torn or hostile line: skipped
            continue
        if isinstance(data, dict):
            return data
    return None
