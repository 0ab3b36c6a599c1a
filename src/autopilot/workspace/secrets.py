"""Secrets the loop knows (the LLM proposers' API keys): kept out of trainers' environments and redacted from
everything the loop writes (failure reasons, the journal, run records, the report, the console).

The names are the well-known key variables plus any that autopilot.yaml names (``proposer.llm.api_key_env``);
the values are read from this process's environment, so nothing secret is ever stored here or on disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

KNOWN_SECRET_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8  # shorter values are not keys, and redacting them would mangle ordinary text

_names: set[str] = set(KNOWN_SECRET_ENV)


def register_secret_env(names: Iterable[str]) -> None:
    """Add environment variable names whose values are secrets (from autopilot.yaml)."""
    _names.update(n for n in names if n)


def secret_env_names() -> frozenset[str]:
    return frozenset(_names)


def _values() -> list[str]:
    values = {os.environ.get(name, "") for name in _names}
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
