"""Identifiers and timestamps: run ids (sortable by time), case ids (reproducible from the seed)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import UTC, datetime
from typing import Any


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ``2026-11-22T140103Z-a1b2c3``: sortable by time; see new_run_id.
RUN_ID_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{6}Z-[0-9a-f]{4,}$")


def is_run_id(text: str) -> bool:
    return len(text) < 64 and RUN_ID_RE.match(text) is not None


def new_run_id(case_id: str, attempt: int, salt: int = 0, now: float | None = None) -> str:
    """Sortable by time (second resolution), e.g. ``2026-11-22T140103Z-a1b2c3``; ``salt`` makes another id
    for the same case attempt in the same second."""
    stamp = datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y-%m-%dT%H%M%SZ")
    suffix = hashlib.sha256(f"{case_id}:{attempt}:{salt}".encode()).hexdigest()[:6]
    return f"{stamp}-{suffix}"


def case_id_for(seed: int, batch: int, index: int, overrides: dict[str, Any]) -> str:
    """Deterministic: the same seed, history position and overrides always give the same id."""
    blob = json.dumps([seed, batch, index, overrides], sort_keys=True, default=str)
    return "c" + hashlib.sha256(blob.encode()).hexdigest()[:11]
