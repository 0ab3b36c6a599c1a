"""Run records and pending cases: the single source of truth on disk (docs/architecture.md).

Everything the loop knows can be rebuilt from these files, so a loop killed at any instant loses nothing.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import socket
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autopilot.config import parse_json_object
from autopilot.ids import is_run_id, utc_now
from autopilot.workspace.atomic import atomic_write_json, atomic_write_text, json_text, read_bytes, read_json
from autopilot.workspace.layout import Workspace
from autopilot.workspace.ledger import DAMAGED_LEDGER_PREFIX, FailureEntry, add_failure, read_failures
from autopilot.workspace.run_folder import RUN_FILE, RunFolder
from autopilot.workspace.secrets import redact, redact_all

RUN_STATES = ("pending", "running", "complete", "failed", "timeout", "killed", "pruned")
FINAL_STATES = frozenset({"complete", "failed", "timeout", "killed", "pruned"})


@dataclass
class Case:
    """A validated proposal waiting in ``cases/pending/``."""

    case_id: str
    overrides: dict[str, Any]
    parent_ids: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    proposer: str = ""
    reasoning: str = ""
    seed: int | None = None
    mode: str = "quick"
    attempt: int = 0
    created: str = field(default_factory=utc_now)
    timeout_minutes: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def parse(cls, data: Any, file_stem: str) -> Case:
        """A case read from ``cases/pending/``, checked field by field; raises ValueError naming the field."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        case_id = data.get("case_id")
        if not isinstance(case_id, str) or not CASE_ID_RE.match(case_id) or case_id != file_stem:
            raise ValueError(f"case_id: must be the file's name ({file_stem!r}) in letters, digits, '-', '_'")
        checks: dict[str, tuple[type | tuple[type, ...], bool]] = {
            "overrides": (dict, False),
            "parent_ids": (list, False),
            "tags": (list, False),
            "proposer": (str, False),
            "reasoning": (str, False),
            "seed": (int, True),
            "mode": (str, False),
            "attempt": (int, False),
            "created": (str, False),
            "timeout_minutes": ((int, float), True),
        }
        for name, (kind, nullable) in checks.items():
            if name not in data or (nullable and data[name] is None):
                continue
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError(f"{name}: wrong type ({type(value).__name__})")
        for name in ("parent_ids", "tags"):
            if not all(isinstance(x, str) and len(x) < 200 for x in data.get(name, [])):
                raise ValueError(f"{name}: must be a list of short strings")
        minutes = data.get("timeout_minutes")
        if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
            raise ValueError(f"timeout_minutes: must be a positive number, got {minutes!r}")
        if not 0 <= data.get("attempt", 0) < 100:
            raise ValueError(f"attempt: must be in [0, 100), got {data.get('attempt')!r}")
        return cls.from_dict(data)


CASE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class RunRecord:
    """``run.json``: what ran, when, where, and how it ended."""

    id: str
    case_id: str
    state: str = "pending"
    proposer: str = ""
    tags: list[str] = field(default_factory=list)
    parent_ids: list[str] = field(default_factory=list)
    seed: int | None = None
    mode: str = "quick"
    created: str = field(default_factory=utc_now)
    started: str | None = None
    ended: str | None = None
    pid: int | None = None
    host: str = field(default_factory=socket.gethostname)
    attempt: int = 0
    exit_code: int | None = None
    signal: str | None = None
    wall_s: float | None = None
    failure: dict[str, str] | None = None
    pruned_reason: str | None = None
    reasoning: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def failure_class(self) -> str | None:
        return self.failure["class"] if self.failure else None


@dataclass
class RunView:
    """One run as proposers, guardrails and reports see it."""

    record: RunRecord
    overrides: dict[str, Any]
    summary: dict[str, Any] | None

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def metrics(self) -> dict[str, Any]:
        return (self.summary or {}).get("metrics", {})

    @property
    def score(self) -> float | None:
        return (self.summary or {}).get("score")

    @property
    def feasible(self) -> bool:
        return bool((self.summary or {}).get("feasible", False))


@dataclass
class Restored:
    """What :meth:`Records.restore_records` undid: whether the run folder itself was replaced, one line each."""

    folder_replaced: bool
    lines: list[str]


class Records:
    """Reads and writes the record files of one workspace."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        # Parsed records are shared by every Records of the process (see _PARSED): the loop, its report and its
        # exports read the same history several times a trial.
        self._parsed = _PARSED
        # run id -> {file name: the text this loop wrote}: the record files of the runs in flight, kept so a
        # trainer that rewrites them in its own folder (its case_id, its config) is undone when it ends.
        self._sealed: dict[str, dict[str, str]] = {}

    def _read(self, path: Path) -> Any:
        """``path``'s JSON (None when missing or damaged), parsed once per version of the file."""
        try:
            info = path.stat()
        except OSError:
            return None
        key = (info.st_ino, info.st_size, info.st_mtime_ns)
        hit = self._parsed.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = _read_optional(path)
        self._parsed[path] = (key, value)
        return value

    # runs
    def run_dir(self, run_id: str) -> Path:
        return self.ws.runs / run_id

    def write_run(self, record: RunRecord) -> None:
        self.write_record(record.id, RUN_FILE, redact_all(record.to_dict()))

    def write_record(self, run_id: str, name: str, data: Any) -> None:
        """Write one of the loop's own files of a run (``run.json``, ``config.json``...) and remember what was
        written, for :meth:`restore_records`."""
        text = redact(json_text(data))
        atomic_write_text(self.run_dir(run_id) / name, text)
        self._sealed.setdefault(run_id, {})[name] = text

    def release(self, run_id: str) -> None:
        """Forget the copies of a settled run's records (its trainer has ended; the files are final)."""
        self._sealed.pop(run_id, None)

    def restore_records(self, run_id: str) -> Restored:
        """Put back what this loop wrote in a run folder, once its trainer has ended: a run folder replaced by a
        link (or by anything that is not a folder) is removed, never followed, and made again; a record file
        the trainer changed is rewritten."""
        sealed = dict(self._sealed.get(run_id, {}))
        run_dir = self.run_dir(run_id)
        undone = []
        try:
            mode: int | None = run_dir.lstat().st_mode
        except FileNotFoundError:
            mode = None
        replaced = mode is None or not stat.S_ISDIR(mode)
        if replaced:
            target = os.readlink(run_dir) if mode is not None and stat.S_ISLNK(mode) else ""
            if mode is not None:
                run_dir.unlink()  # the link itself (or a file), never what it points to
            run_dir.mkdir()  # runs/ itself gone (the workspace renamed) raises: never made again here
            where = f" to {target[:200]}" if target else ""
            undone.append(f"the run folder was replaced{where}; removed (nothing followed) and made again")
        for name, text in sealed.items():
            path = run_dir / name
            try:
                same = read_bytes(path) == text.encode("utf-8")
            except OSError:
                same = False
            if not same:
                atomic_write_text(path, text)
                if not replaced:
                    undone.append(f"{name} was changed by the trainer; the loop's own restored")
        return Restored(replaced, undone)

    def read_run(self, run_id: str) -> RunRecord:
        written = self._sealed.get(run_id, {}).get(RUN_FILE)
        if written is not None:  # this loop's own copy: what is on disk may have been rewritten by the trainer
            return RunRecord.from_dict(json.loads(written))
        return RunRecord.from_dict(read_json(RunFolder(self.run_dir(run_id)).run_json))

    def run_ids(self) -> list[str]:
        """The runs: real folders (not links) named as run ids, holding a run.json."""
        if not self.ws.runs.is_dir():
            return []
        return sorted(
            p.name
            for p in self.ws.runs.iterdir()
            if is_run_id(p.name) and not p.is_symlink() and RunFolder(p).run_json.is_file()
        )

    def strays(self) -> list[str]:
        """One line per entry of runs/ that holds a run.json but is not counted as a run (a link, a bad name)."""
        if not self.ws.runs.is_dir():
            return []
        counted = set(self.run_ids())
        return [
            f"runs/{p.name[:80]} is {'a symbolic link' if p.is_symlink() else 'not named as a run'}: left out"
            for p in sorted(self.ws.runs.iterdir())
            if p.name not in counted and RunFolder(p).run_json.is_file()
        ]

    def history(self) -> list[RunView]:
        """Every run in time order, with its override and (when analysed) its summary. A run whose run.json
        cannot be read is left out here and named by :meth:`damaged`."""
        views = [view for run_id in self.run_ids() if (view := self.view(run_id)) is not None]
        # Run ids sort by the second; creation times break ties within one second.
        return sorted(views, key=lambda v: (v.record.created, v.id))

    def view(self, run_id: str) -> RunView | None:
        """One run with its override and summary; None when its run.json cannot be read."""
        folder = RunFolder(self.run_dir(run_id))
        data = self._read(folder.run_json)
        try:  # a copy of the parsed fields: a caller may change its record, never the cache
            record = RunRecord.from_dict({k: copy.copy(v) for k, v in data.items()})
        except (OSError, ValueError, TypeError, RecursionError, AttributeError):
            return None  # damaged (run.json is written atomically, so never half-written by the loop)
        return RunView(record, self._read(folder.override) or {}, self._read(folder.summary))

    def damaged(self) -> list[str]:
        """One line per damaged record: a run.json that cannot be read (its run is kept out of the history, and
        so out of the champion), a complete run whose summary.json cannot be read (the next loop rebuilds it)."""
        lines = []
        for run_id in self.run_ids():
            folder = RunFolder(self.run_dir(run_id))
            try:
                record = RunRecord.from_dict(read_json(folder.run_json))
            except (OSError, ValueError, TypeError, RecursionError) as exc:
                reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
                lines.append(f"run {run_id}: run.json cannot be read ({reason}); kept out of the champion")
                continue
            if record.state == "complete" and _read_optional(folder.summary) is None:
                lines.append(f"run {run_id}: summary.json cannot be read; the next loop rebuilds it")
        for aside in sorted(self.ws.root.glob(f"{DAMAGED_LEDGER_PREFIX}*.json")):
            lines.append(f"{aside.name}: a failures.json that could not be read, moved aside (kept)")
        return lines

    # pending cases
    def write_case(self, case: Case) -> Path:
        path = self.ws.pending / f"{case.case_id}.json"
        atomic_write_json(path, asdict(case))
        return path

    def pending_cases(self) -> list[Case]:
        if not self.ws.pending.is_dir():
            return []
        cases = [case for _path, case in self._pending_files() if isinstance(case, Case)]
        return sorted(cases, key=lambda c: (c.created, c.case_id))

    def _pending_files(self) -> list[tuple[Path, Case | str]]:
        """Every file in cases/pending/ with its case, or the reason it is not one."""
        out: list[tuple[Path, Case | str]] = []
        for path in sorted(self.ws.pending.glob("*.json")):
            if path.is_symlink() or not path.is_file():
                out.append((path, "a symbolic link or not a regular file"))
                continue
            try:
                data = parse_json_object(read_bytes(path), path.name, allow_nan=False)
                out.append((path, Case.parse(data, path.stem)))
            except (OSError, ValueError, TypeError) as exc:
                out.append((path, str(exc)[:300] or type(exc).__name__))
        return out

    def quarantine_invalid_cases(self) -> list[str]:
        """Move pending files that are not valid cases to cases/rejected/, each with a failures.json entry."""
        if not self.ws.pending.is_dir():
            return []
        moved = []
        for path, case in self._pending_files():
            if isinstance(case, Case):
                continue
            target = self.ws.root / "cases" / "rejected" / f"{utc_now().replace(':', '')}-{path.name[:80]}"
            target.parent.mkdir(parents=True, exist_ok=True)
            path.replace(target)  # a link moves as a link: nothing is followed
            self.add_failure(
                FailureEntry(
                    "invalid_config",
                    f"cases/pending/{path.name[:200]}: {case}; moved to cases/rejected/",
                    proposer="pending",
                )
            )
            moved.append(path.name)
        return moved

    def remove_case(self, case_id: str) -> None:
        (self.ws.pending / f"{case_id}.json").unlink(missing_ok=True)

    # failures ledger
    def failures(self) -> list[dict[str, Any]]:
        return read_failures(self.ws.failures)

    def add_failure(self, entry: FailureEntry) -> None:
        add_failure(self.ws.failures, entry)


# path -> (the file's identity, its parsed JSON): at hundreds of runs, parsing every record again is most of the
# loop's own time. A file rewritten (atomically: a new inode) or touched reads again. Readers treat the values
# as read-only (a view copies its record's fields before anyone may change them).
_PARSED: dict[Path, tuple[tuple[int, int, int], Any]] = {}


def _read_optional(path: Path) -> Any:
    try:
        return read_json(path)
    except (OSError, ValueError, RecursionError):
        return None


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """A run's effective config.json, or None when it is missing or damaged."""
    data = _read_optional(RunFolder(run_dir).config)
    return data if isinstance(data, dict) else None
