"""Atomic writes and tolerant reads of the workspace's JSON files.

Every write goes through :func:`atomic_write_text`: a temporary file in the same folder, fsync, rename,
so a loop killed at any instant leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from autopilot.workspace.secrets import redact


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (same-folder temp file, fsync, ``os.replace``), every secret
    redacted (the one door of every file the loop writes: records, summaries, exports, the report)."""
    text = redact(text)
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


def json_text(data: Any) -> str:
    """The text of every JSON file the loop writes (NaN refused: not JSON)."""
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json_text(data))


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
MAX_RECORD_BYTES = 16 << 20  # a record, case, config, summary or note is kilobytes; no JSON file read is larger


class UnsafeFile(OSError):
    """A file the loop will not read: a symbolic link, not a regular file (a FIFO, /dev/zero), or over its cap."""


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, refusing symbolic links and anything that is not a regular file, so a
    trainer cannot point the loop at a file outside its run folder, at an endless device or at a FIFO that
    never answers (opened non-blocking: a FIFO without a writer does not hang the open)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(f"{path.name} is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path, max_bytes: int = MAX_RECORD_BYTES) -> bytes:
    """Every byte of ``path``, a regular file not reached through a final link, of at most ``max_bytes``:
    the one way the loop reads a whole file (``UnsafeFile`` otherwise, an ``OSError``)."""
    with open_regular(path) as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise UnsafeFile(f"{path.name} is larger than the {max_bytes / 2**20:.0f} MiB the loop reads")
    return raw


def read_text(path: Path, max_bytes: int = MAX_RECORD_BYTES) -> str:
    """:func:`read_bytes` decoded as UTF-8 (undecodable bytes replaced: a text is shown, never trusted)."""
    return read_bytes(path, max_bytes).decode("utf-8", errors="replace")


def read_json(path: Path, max_bytes: int = MAX_RECORD_BYTES) -> Any:
    """The JSON in ``path``, read with :func:`read_bytes`'s limits."""
    return json.loads(read_bytes(path, max_bytes).decode("utf-8"))


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; {} when it is missing, unreadable, damaged or not an object."""
    try:
        data = read_json(path)
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def read_tail(path: Path, max_bytes: int) -> bytes:
    """The last ``max_bytes`` of ``path`` (a regular file, as :func:`open_regular` opens it)."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - max_bytes))
        return handle.read(max_bytes)


def read_from(path: Path, offset: int, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of ``path`` from byte ``offset`` on (a file that grows, read as it grows)."""
    with open_regular(path) as handle:
        handle.seek(offset)
        return handle.read(max_bytes)


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


def iter_jsonl(path: Path, max_bytes: int = MAX_READ_BYTES) -> Iterator[dict[str, Any]]:
    """The JSON objects of a .jsonl file, one at a time (memory bounded by one line, not the file): a torn last
    line (a killed writer) and lines over ``MAX_LINE_BYTES`` are skipped, reading stops after ``max_bytes``, and
    a link or a file that is not regular reads as empty (``file_problem`` says why)."""
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
                if (item := json_object(line)) is not None:
                    yield item
    except OSError:
        return


MAX_CURVE_LINES = 20_000  # a curve of more lines is thinned evenly; plots, rungs and trends need no more
MAX_CURVE_KEYS = 256  # numbers kept per line and per group (metrics, losses): a line of 10,000 keys is hostile


def read_curve(path: Path, max_lines: int = MAX_CURVE_LINES) -> list[dict[str, Any]]:
    """A metrics.jsonl as a learning curve in bounded memory, whatever the file's size: each line keeps only its
    numbers (top level, and one level down as ``metrics`` and ``losses`` hold them), and once ``max_lines`` are
    held every other one is dropped and only every second line after is kept (the last line is always kept),
    so the curve spans the whole run at an even stride. Parsed once per version of the file (cached by its
    inode, size and modification time): the report and the early-stopping check read the same curves often."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return []
    return list(_curve(str(path), max_lines, info.st_ino, info.st_size, info.st_mtime_ns))


@functools.lru_cache(maxsize=32)  # at most 32 x MAX_CURVE_LINES slim lines
def _curve(path: str, max_lines: int, _inode: int, _size: int, _mtime_ns: int) -> tuple[dict[str, Any], ...]:
    kept: list[dict[str, Any]] = []
    stride, seen, last = 1, 0, None
    for line in iter_jsonl(Path(path)):
        last = line
        if seen % stride == 0:
            kept.append(_numbers(line))
            if len(kept) >= max_lines:
                kept, stride = kept[::2], stride * 2
        seen += 1
    if last is not None and (seen - 1) % stride != 0:
        kept.append(_numbers(last))
    return tuple(kept)


def _numbers(line: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in list(line.items())[:MAX_CURVE_KEYS]:
        if isinstance(value, dict):
            out[key] = {k: v for k, v in list(value.items())[:MAX_CURVE_KEYS] if _is_number(v)}
        elif _is_number(value):
            out[key] = value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_jsonl(path: Path, max_bytes: int = MAX_READ_BYTES) -> list[dict[str, Any]]:
    """Every object :func:`iter_jsonl` yields, as a list."""
    return list(iter_jsonl(path, max_bytes))


def last_metrics_line(path: Path, max_bytes: int = 65_536) -> dict[str, Any] | None:
    """The newest complete line of a metrics.jsonl (read from its tail), or None."""
    try:
        lines = read_tail(path, max_bytes).decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return next((item for line in reversed(lines) if (item := json_object(line)) is not None), None)


def json_object(line: str | bytes) -> dict[str, Any] | None:
    """One JSON line as an object; None for a torn or hostile line, or one that is not an object."""
    try:
        item = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return item if isinstance(item, dict) else None
