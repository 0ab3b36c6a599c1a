"""The first lines every benchmark prints: the machine it ran on and the command that reproduces its figures."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


def machine() -> str:
    """Host, core count, CPU model and Python: what a reader needs to compare a figure with their own."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: the platform's own name for the processor
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def command() -> str:
    """The command line as a reader would type it from the repository root: ``python -m benchmarks.NAME ARGS``
    when run as a module (the way the README gives them), else the script's path as it was given."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    head = ["python", "-m", spec.name] if spec is not None and spec.name else ["python", sys.argv[0]]
    return " ".join([*head, *sys.argv[1:]])


def header() -> list[str]:
    """``machine: ...`` and ``command: ...``, the two lines each benchmark's output opens with."""
    return [f"machine: {machine()}", f"command: {command()}"]
