from __future__ import annotations

from pathlib import Path

import pytest

from autopilot.scaffold import scaffold
from autopilot.workspace import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A freshly scaffolded built-in workspace."""
    root = tmp_path / "ws"
    scaffold(root)
    return Workspace(root)
