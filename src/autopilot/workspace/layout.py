"""The workspace's paths (docs/architecture.md); creating a :class:`Workspace` touches nothing on disk."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKSPACE = "autopilot"
WORKSPACE_ENV = "AUTOPILOT_WORKSPACE"


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
    def puffer_source(self) -> Path:
        """A PufferLib env's own [sweep] and unresolved values (``autopilot init --trainer puffer``)."""
        return self.configs / "puffer_source.json"

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
