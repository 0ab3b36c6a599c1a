"""``journal/labbook.md``: one line per event, appended in time order, each event written once.

Every line carries an event key; a key already in the book is not written again, so a loop restarted
after a crash never duplicates what its predecessor wrote.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from autopilot.ids import utc_now
from autopilot.workspace.atomic import read_text
from autopilot.workspace.secrets import redact

MAX_JOURNAL_BYTES = 64 << 20  # a line per event: years of studies; a larger file is not the loop's

KEY_RE = re.compile(r"\[([^\]]+)\]\s*$")


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: set[str] | None = None

    def _known(self) -> set[str]:
        if self._keys is None:
            try:
                text = read_text(self.path, MAX_JOURNAL_BYTES)
            except OSError:
                text = ""
            self._keys = {m.group(1) for line in text.splitlines() if (m := KEY_RE.search(line))}
        return self._keys

    def write(self, event: str, text: str, key: str | None = None) -> bool:
        """Append ``- <time> <event>: <text> [<key>]``; returns False when that key was already written."""
        key = key or f"{event}:{utc_now()}"
        if key in self._known():
            return False
        one_line = " ".join(redact(text).split())
        line = f"- {utc_now()[:19]}Z {event}: {one_line} [{key}]\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One O_APPEND write per line: concurrent appends cannot interleave within a line.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._known().add(key)
        return True

    def lines(self) -> list[str]:
        try:
            return [ln for ln in read_text(self.path, MAX_JOURNAL_BYTES).splitlines() if ln.startswith("- ")]
        except OSError:
            return []
