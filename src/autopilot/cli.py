"""Command line: parse, call, print. Exit codes: 0 ok, 1 rejected/failed, 2 bad input or usage."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from autopilot import __version__
from autopilot.config import JSONInputError, parse_json_object
from autopilot.experiment import ExperimentError
from autopilot.loader import MODES, BaselineError, load
from autopilot.scaffold import describe, scaffold
from autopilot.workspace import Workspace, resolve_workspace

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def _add_workspace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-w",
        "--workspace",
        metavar="DIR",
        help="workspace folder (default: $AUTOPILOT_WORKSPACE or ./autopilot)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autopilot",
        description="An autonomous, auditable experiment loop: propose a config within declared safe ranges, "
        "validate it, run it with enforced time limits, record everything, analyse, guard, repeat.",
    )
    parser.add_argument("--version", action="version", version=f"autopilot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "init",
        help="create a workspace (autopilot.yaml, baselines, journal, prompts)",
        description="Create the workspace layout. Existing files are kept unless --force.",
    )
    p.add_argument("dir", nargs="?", help="workspace folder (default: $AUTOPILOT_WORKSPACE or ./autopilot)")
    p.add_argument(
        "--trainer",
        choices=["builtin", "puffer", "command"],
        default="builtin",
        help="builtin: the drone delivery task; puffer: a PufferLib env; command: any program",
    )
    p.add_argument("--env", help="env name (builtin: drone_delivery; puffer: e.g. puffer_drone, puffer_cartpole)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "validate",
        help="check an override against the safe ranges and rules",
        description="Validate an override (nested or dotted JSON object). Exit 0 and print the "
        "normalised override with derived values; exit 1 with one 'key: reason' line per "
        "error; exit 2 for input that is not a JSON object.",
    )
    _add_workspace(p)
    p.add_argument("file", help="JSON file with the override, or - for standard input")
    p.add_argument("--mode", choices=MODES, default="quick", help="which baseline the rules apply to")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("run", help="run the experiment loop (scaffolds the workspace if missing)")
    _add_workspace(p)
    p.add_argument("--mode", choices=MODES, default="quick")
    p.set_defaults(func=cmd_run)
    return parser


def cmd_init(args: argparse.Namespace) -> int:
    root = resolve_workspace(args.dir)
    try:
        report = scaffold(root, args.trainer, args.env, args.force)
    except ValueError as exc:
        print(f"autopilot init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"workspace {root}")
    print(describe(report, root))
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    ws = Workspace(resolve_workspace(args.workspace))
    source = "<stdin>" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"autopilot validate: cannot read {source}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        override = parse_json_object(text, source)
    except JSONInputError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        loaded = load(ws, args.mode, allow_missing=True)
    except (ExperimentError, BaselineError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    result = loaded.validate(override)
    if not result.ok:
        for line in result.errors:
            print(line)
        return EXIT_REJECTED
    print(json.dumps(result.normalized, indent=2))
    if result.derived:
        print(f"derived: {', '.join(sorted(result.derived))}", file=sys.stderr)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    root = resolve_workspace(args.workspace)
    ws = Workspace(root)
    if not ws.exists():
        print(f"no workspace at {root}; creating one")
        print(describe(scaffold(root), root))
    try:
        load(ws, args.mode)
    except (ExperimentError, BaselineError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    print(f"workspace {root}: autopilot.yaml and baseline_{args.mode}.json are valid.")
    print("The experiment loop is not part of this build yet: nothing was trained.", file=sys.stderr)
    return EXIT_REJECTED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
