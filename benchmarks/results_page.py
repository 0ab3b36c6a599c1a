"""benchmarks/README.md's figures come from the files the benchmarks wrote: between the markers

    <!-- results: NAME.md -->
    <!-- end -->

the page holds results/NAME.md as the benchmark printed it (machine, command, tables; other lines as text
blocks), so the page and the
files cannot disagree. A test checks that the page is what this script renders.

    .venv/bin/python -m benchmarks.results_page           # rewrite benchmarks/README.md
    .venv/bin/python -m benchmarks.results_page --check   # exit 1, naming the blocks, when it is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE = HERE / "README.md"
RESULTS = HERE / "results"
BLOCK = re.compile(r"(<!-- results: (?P<name>[\w.-]+\.md) -->\n)(?P<body>.*?)(<!-- end -->)", re.S)


def included(text: str) -> str:
    """A results file as page text: its tables as they are, each run of other lines as a text block (so a
    benchmark's indentation and line breaks survive)."""
    blocks: list[tuple[bool, list[str]]] = []  # (is a table, its lines)
    for line in text.strip().splitlines():
        if not line.strip():
            continue
        table = line.startswith("|")
        if not blocks or blocks[-1][0] != table:
            blocks.append((table, []))
        blocks[-1][1].append(line.rstrip())
    parts = ["\n".join(lines) if table else "```text\n" + "\n".join(lines) + "\n```" for table, lines in blocks]
    return "\n\n".join(parts) + "\n"


def render(page: str, results: Path = RESULTS) -> str:
    """The page with every results block filled from its file; a block naming a missing file raises."""

    def fill(match: re.Match[str]) -> str:
        path = results / match["name"]
        if not path.is_file():
            raise FileNotFoundError(f"benchmarks/README.md includes results/{match['name']}, which does not exist")
        return match.group(1) + included(path.read_text()) + match.group(4)

    return BLOCK.sub(fill, page)


def stale_blocks(page: str, results: Path = RESULTS) -> list[str]:
    """The names of the blocks whose text differs from their file."""
    return [m["name"] for m in BLOCK.finditer(page) if m["body"] != included((results / m["name"]).read_text())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 when the page is stale")
    args = parser.parse_args()
    page = PAGE.read_text()
    if args.check:
        stale = stale_blocks(page)
        for name in stale:
            print(f"benchmarks/README.md: the block of results/{name} differs from the file", file=sys.stderr)
        return 1 if stale else 0
    PAGE.write_text(render(page))
    return 0


if __name__ == "__main__":
    sys.exit(main())
