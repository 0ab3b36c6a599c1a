"""The benchmarks' provenance lines: a figure is only reproducible with the command that measured it."""

from __future__ import annotations

import sys
import types

import pytest

from benchmarks import provenance


def test_a_benchmark_run_as_a_module_prints_the_command_a_reader_can_retype(monkeypatch: pytest.MonkeyPatch) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="benchmarks.bench_tuning")  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["/tmp/worktree/benchmarks/bench_tuning.py", "--seeds", "10"])
    machine, command = provenance.header()
    assert command == "command: python -m benchmarks.bench_tuning --seeds 10"  # no checkout path leaks in
    assert machine.startswith("machine: ") and "Python" in machine and "cores" in machine


def test_a_benchmark_run_as_a_script_prints_its_path_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["benchmarks/replay.py", "--studies", "4"])
    assert provenance.command() == "python benchmarks/replay.py --studies 4"
