"""The layers of docs/architecture.md, checked on the source: imports go one way, the loop's stages do not
import each other, and the package's top stays small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "autopilot"

VOCABULARY = {"autopilot.config", "autopilot.errors", "autopilot.ids", "autopilot.objective"}
STAGES = ("autopilot.loop.intake", "autopilot.loop.prepare", "autopilot.loop.settle")
# The layers of docs/architecture.md, top to bottom: a module imports its own layer and those below it, never
# one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("autopilot", "autopilot.cli", "autopilot.api", "autopilot.testing"),
    ("autopilot.loop",),
    ("autopilot.report", "autopilot.tracking"),
    ("autopilot.proposers", "autopilot.executors"),
    ("autopilot.analysis",),
    ("autopilot.experiment",),
    ("autopilot.trainers", "autopilot.envs"),
    ("autopilot.workspace",),
    ("autopilot.space", "autopilot.config", "autopilot.objective", "autopilot.ids", "autopilot.errors"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Project modules imported by ``path``, type-checking-only imports left out (they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autopilot"):
            for alias in node.names:  # ``from autopilot.experiment import presets`` imports a module
                candidate = f"{node.module}.{alias.name}"
                out.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("autopilot"))
    return out & MODULES


MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}
GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(GRAPH[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(GRAPH.get(name, ()))
    return seen


def layer_of(module: str) -> int:
    """The index of ``module``'s layer (0 is the top), by its longest matching package."""
    matches = [
        (len(p), i) for i, layer in enumerate(LAYERS) for p in layer if module == p or module.startswith(p + ".")
    ]
    assert matches, f"{module} is in no layer of LAYERS"
    return max(matches)[1]


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module from a layer above its own, as ``importer -> imported``."""
    return sorted(
        f"{name} -> {m}" for name, imported in graph.items() for m in imported if layer_of(m) < layer_of(name)
    )


def mutual_packages(graph: dict[str, set[str]]) -> list[str]:
    """Pairs of packages that import each other (each may do so through different modules)."""
    edges = {(package_of(a), package_of(b)) for a, imported in graph.items() for b in imported}
    return sorted(f"{a} <-> {b}" for a, b in edges if a < b and (b, a) in edges)


def test_every_module_imports_only_its_layer_and_those_below() -> None:
    assert upward_imports(GRAPH) == []


def test_no_two_packages_import_each_other() -> None:
    assert mutual_packages(GRAPH) == []


def test_the_layers_contract_fails_on_an_upward_import(tmp_path: Path) -> None:
    """An import of the loop from the workspace layer, parsed from source as the checks above parse it."""
    module = tmp_path / "layout.py"
    module.write_text("from autopilot.loop.orchestrator import Loop\nfrom autopilot.ids import utc_now\n")
    graph = {**GRAPH, "autopilot.workspace.layout": imports_of(module)}
    assert upward_imports(graph) == ["autopilot.workspace.layout -> autopilot.loop.orchestrator"]
    assert mutual_packages(graph) == ["autopilot.loop <-> autopilot.workspace"]


def test_the_import_graph_has_no_cycle() -> None:
    cycles = sorted(name for name in GRAPH if name in reachable(name) and not name.endswith("__init__"))
    assert cycles == []


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_of_the_loop_imports_another_part_of_the_loop(stage: str) -> None:
    assert {m for m in GRAPH[stage] if m.startswith("autopilot.loop")} == set()


def test_the_workspace_layer_imports_only_itself_and_the_vocabulary() -> None:
    for name, imported in GRAPH.items():
        if name.startswith("autopilot.workspace"):
            outside = {m for m in imported if not m.startswith("autopilot.workspace") and m not in VOCABULARY}
            assert outside == set(), name


def test_lower_layers_never_import_the_loop_the_report_or_the_cli() -> None:
    upper = ("autopilot.loop", "autopilot.report", "autopilot.cli")
    for name, imported in GRAPH.items():
        if name.startswith(("autopilot.analysis", "autopilot.proposers", "autopilot.executors", "autopilot.trainers")):
            assert {m for m in imported if m.startswith(upper)} == set(), name


def test_the_top_of_the_package_stays_small() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top


def test_the_product_never_imports_the_benchmarks() -> None:
    """The benchmarks measure the product and import it; the reverse would ship them to every user."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        named = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        named += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in named if m == "benchmarks" or m.startswith("benchmarks.")], module_name(path)


# Whole-file reads go through workspace/atomic.py (regular files only, no final link, non-blocking, capped): a
# trainer can put a link to /dev/zero or a FIFO in place of any file the loop reads. /proc is read as it is.
READERS = "autopilot.workspace.atomic"
RAW_READS = ("read_text", "read_bytes")


def raw_reads(source: str) -> list[str]:
    """Every read in ``source`` that bypasses the bounded readers: ``Path.read_text/read_bytes``, ``open(...)``
    and ``path.open()`` for reading (a write mode is fine), except of /proc."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        mode = node.args[0] if isinstance(func, ast.Attribute) and node.args else None
        if isinstance(func, ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else None
        elif not (isinstance(func, ast.Attribute) and func.attr in (*RAW_READS, "open")):
            continue
        receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
        if "proc" in receiver.lower() or receiver.startswith(("os", "subprocess")):
            continue
        written = isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wax")
        if not written:
            found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_every_file_the_package_reads_is_read_through_the_bounded_readers() -> None:
    offenders = {
        module_name(path): found
        for path in PACKAGE.rglob("*.py")
        if module_name(path) != READERS and (found := raw_reads(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_read_check_names_a_raw_read_and_passes_writes_and_proc() -> None:
    source = (
        "from pathlib import Path\n"
        "a = Path('x').read_text()\n"
        "b = open('y')\n"
        "with Path('z').open('rb') as f: pass\n"
        "Path('w').open('a')\n"
        "open('v', 'w')\n"
        "(PROC / '1' / 'stat').read_text()\n"
    )
    assert [line.split(":")[0] for line in raw_reads(source)] == ["line 2", "line 3", "line 4"]
