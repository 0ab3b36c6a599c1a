"""The benchmarks' provenance lines and results page: a figure is only reproducible with the command that
measured it, and the page says what the results files say."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest

from benchmarks import provenance, results_page


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


def test_the_benchmarks_page_holds_every_results_file_as_the_benchmark_wrote_it() -> None:
    page = results_page.PAGE.read_text()
    assert results_page.stale_blocks(page) == []
    assert results_page.render(page) == page
    assert len(results_page.BLOCK.findall(page)) >= 10


def test_a_changed_results_file_makes_the_page_stale(tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(results_page.RESULTS, results)
    changed = (results / "overhead.md").read_text().rstrip("\n") + "\n| 999 | 0 | 1 | 1.0 | 1.0 | 0.123 |\n"
    (results / "overhead.md").write_text(changed)  # a figure the page does not hold yet
    page = results_page.PAGE.read_text()
    assert results_page.stale_blocks(page, results) == ["overhead.md"]
    assert "0.123" in results_page.render(page, results)
    (results / "overhead.md").unlink()
    with pytest.raises(FileNotFoundError, match=r"results/overhead\.md"):
        results_page.render(page, results)
