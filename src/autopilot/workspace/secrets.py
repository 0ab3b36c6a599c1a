"""Secrets the loop knows (the LLM proposers' API keys): kept out of trainers' environments and redacted from
everything the loop writes (failure reasons, the journal, run records, the report, the console).

The names are the well-known key variables plus any that autopilot.yaml names (``proposer.llm.api_key_env``
and its ``secrets:`` list); the values are read from this process's environment, or from the values
:func:`hold` took out of it (``autopilot run`` re-executes itself without them, so a trainer cannot read them
from the loop's ``/proc/<pid>/environ``). Nothing secret is ever stored on disk.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from typing import Any

KNOWN_SECRET_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8  # shorter values are not keys, and redacting them would mangle ordinary text

_names: set[str] = set(KNOWN_SECRET_ENV)
_held: dict[str, str] = {}  # values taken out of the environment (the process re-executed without them)


def register_secret_env(names: Iterable[str]) -> None:
    """Add environment variable names whose values are secrets (from autopilot.yaml)."""
    _names.update(n for n in names if n)


def secret_env_names() -> frozenset[str]:
    return frozenset(_names)


def secret_value(name: str) -> str | None:
    """A secret's value: held by this process, or in its environment; None when neither has it."""
    return _held.get(name) or os.environ.get(name) or None


def hold(values: dict[str, str]) -> None:
    """Keep ``values`` (name -> value) in this process only: they are read by :func:`secret_value` and
    redacted like any other secret, and never appear in the environment a child or ``/proc`` sees."""
    _held.update(values)
    _names.update(values)


HELD_FD_ENV = "AUTOPILOT_SECRETS_FD"  # the pipe a re-executed loop reads its secrets from
MAX_HELD_BYTES = 60_000  # under a pipe's buffer: the values are written before exec, with no reader yet


def reexec_without_secrets(argv: list[str]) -> None:
    """Re-execute this program (``argv``, as ``sys.argv``) without the secrets in its environment, handing
    their values over through an inherited pipe: a trainer, running as the same user, could otherwise read
    them from ``/proc/<loop pid>/environ``, which keeps the environment the process was started with. Returns
    only when there is nothing to hide."""
    present = {name: os.environ[name] for name in sorted(_names) if os.environ.get(name)}
    payload = json.dumps(present).encode()
    if not present or len(payload) > MAX_HELD_BYTES:
        return
    read_fd, write_fd = os.pipe()
    os.write(write_fd, payload)
    os.close(write_fd)
    os.set_inheritable(read_fd, True)
    env = {k: v for k, v in os.environ.items() if k not in present}
    env[HELD_FD_ENV] = str(read_fd)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv], env)


def take_held() -> None:
    """In a re-executed process: read the secrets handed over by :func:`reexec_without_secrets` and hold them."""
    fd = os.environ.pop(HELD_FD_ENV, None)
    if not fd or not fd.isdigit():
        return
    chunks = []
    try:
        while chunk := os.read(int(fd), 65536):
            chunks.append(chunk)
        os.close(int(fd))
        values = json.loads(b"".join(chunks))
    except (OSError, ValueError):
        return
    if isinstance(values, dict):
        hold({str(k): str(v) for k, v in values.items()})


def _values() -> list[str]:
    values = {secret_value(name) or "" for name in _names}
    return sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every known secret value replaced by ``[redacted]``."""
    values = _values()
    if not values or not isinstance(text, str):
        return text
    return re.sub("|".join(re.escape(v) for v in values), REDACTED, text)


def redact_all(value: Any) -> Any:
    """``redact`` over the strings of a JSON-like value (dict keys and values, lists)."""
    if not _values():
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_all(k): redact_all(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_all(v) for v in value]
    return value


class StreamRedactor:
    """Redacts secrets from a byte stream cut into arbitrary chunks (a trainer's output): the last bytes of each
    chunk, too few to rule out the start of a secret, are held back until the next chunk or :meth:`flush`."""

    def __init__(self) -> None:
        self.values = [v.encode() for v in _values()]
        self.pattern = re.compile(b"|".join(re.escape(v) for v in self.values)) if self.values else None
        self.keep = max((len(v) for v in self.values), default=1) - 1
        self.pending = b""

    def feed(self, chunk: bytes) -> bytes:
        if self.pattern is None:
            return chunk
        data = self.pattern.sub(REDACTED.encode(), self.pending + chunk)
        cut = max(0, len(data) - self.keep)
        self.pending = data[cut:]
        return data[:cut]

    def flush(self) -> bytes:
        data, self.pending = self.pending, b""
        return self.pattern.sub(REDACTED.encode(), data) if self.pattern is not None else data
