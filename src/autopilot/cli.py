"""Command line: parse, call, print. Exit codes: 0 ok, 1 rejected/failed, 2 bad input or usage."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from autopilot import __version__
from autopilot.analysis.promotion import decide
from autopilot.analysis.ranking import config_rows, why_empty
from autopilot.analysis.summary import compare_runs
from autopilot.config import JSONInputError, parse_json_object
from autopilot.experiment.loader import MODES, BaselineError, load
from autopilot.experiment.parse import ExperimentError, load_experiment
from autopilot.experiment.puffer_native import NativeConfigError, load_native
from autopilot.experiment.scaffold import describe, scaffold
from autopilot.experiment.schema import EXECUTOR_KINDS, TRAINER_KINDS
from autopilot.loop.orchestrator import Loop, RunOptions
from autopilot.loop.reevaluate import ReevaluationError, reevaluate
from autopilot.proposers.llm import LLMUnavailable, verify_llm
from autopilot.report.export import puffer_flags, puffer_ini, run_rows, schedule_file, to_optuna, write_csv
from autopilot.report.html import write_report
from autopilot.report.leaderboard import write_leaderboard
from autopilot.report.status import render_champion, render_leaderboard, render_status, workspace_status
from autopilot.workspace.atomic import MAX_RECORD_BYTES, UnsafeFile, atomic_write_text, read_bytes
from autopilot.workspace.control import ControlError, clear_rollback, pause, resume, rollback
from autopilot.workspace.layout import Workspace, resolve_workspace
from autopilot.workspace.lock import WorkspaceLocked
from autopilot.workspace.records import Records, RunView
from autopilot.workspace.secrets import reexec_without_secrets, take_held

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
        choices=TRAINER_KINDS,
        default="builtin",
        help="builtin: the drone delivery task; puffer: a PufferLib env; command: any program",
    )
    p.add_argument("--env", help="env name (builtin: drone_delivery; puffer: e.g. puffer_drone, puffer_cartpole)")
    p.add_argument(
        "--from-ini",
        metavar="PATH",
        help="puffer: your env's ini (read after PufferLib's default.ini), e.g. from your own checkout",
    )
    p.add_argument(
        "--python",
        metavar="PATH",
        help="puffer: the interpreter of your PufferLib checkout; its config is read there and it runs the trials",
    )
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

    p = sub.add_parser(
        "run",
        help="run the experiment loop (scaffolds the workspace if missing)",
        description="Propose, validate, run, record, analyse and guard, one batch per iteration. "
        "Flags override autopilot.yaml.",
    )
    _add_workspace(p)
    _add_loop_options(p)
    p.add_argument(
        "--iterations", type=int, metavar="N", help="batches to run (default 1, or until the budget with --trials)"
    )
    p.add_argument("--nonstop", action="store_true", help="run until paused, halted or stopped; a pause waits")
    p.add_argument(
        "--trials",
        type=int,
        metavar="N",
        help="budget: stop after N trials (confirmations, re-runs and failures count); `status` shows it",
    )
    p.add_argument(
        "--budget-steps",
        type=int,
        metavar="S",
        help="budget: stop once the trials have used S environment steps (a stopped trial by its last step)",
    )
    p.add_argument(
        "--budget-minutes",
        type=finite_float,
        metavar="M",
        help="budget: start no trial after M minutes of this run (trials running then finish), as Optuna's timeout",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "step",
        help="one barrier-respecting cycle for cron/CI: run pending, propose next, exit",
        description="Run the cases waiting in cases/pending/ (or propose a batch when none wait), then exit: "
        "a cron job or CI step drives the study one cycle at a time. Flags override autopilot.yaml.",
    )
    _add_workspace(p)
    _add_loop_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "propose",
        help="propose the next batch into cases/pending/ (or print it with --dry-run)",
        description="Ask the proposer for the next batch, validate it, and queue it for `autopilot step` or "
        "`autopilot run`. Model-based proposers (auto, tpe, cmaes, optuna:*) propose one case per worker: "
        "give --workers to get a batch of several.",
    )
    _add_workspace(p)
    p.add_argument("--mode", choices=MODES, default="quick", help="which baseline config (default quick)")
    p.add_argument("--proposer", metavar="NAME", help="proposer (default: autopilot.yaml's proposer.name)")
    p.add_argument("--batch-size", type=int, metavar="N", help="cases at most (default: proposer.batch_size)")
    p.add_argument(
        "--workers",
        type=int,
        metavar="K",
        help="trials that will run at once: model-based proposers propose one per worker (default 1)",
    )
    p.add_argument("--seed", type=int, metavar="S", help="proposer seed (same seed + same history = same batch)")
    p.add_argument("--dry-run", action="store_true", help="print the batch as JSON and write nothing")
    p.add_argument(
        "--verify-llm",
        action="store_true",
        help="check the llm proposer's configuration and connectivity; exit 1 with the reason",
    )
    p.set_defaults(func=cmd_propose)

    p = sub.add_parser("status", help="running/paused/idle, counts, best run, guardrails, pending, trials")
    _add_workspace(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("pause", help="write PAUSE_AUTORUN: no new case starts")
    _add_workspace(p)
    p.add_argument("--reason", default="paused by hand", help="text stored in the pause file")
    p.set_defaults(func=cmd_pause)

    p = sub.add_parser("resume", help="remove PAUSE_AUTORUN and start a fresh guardrail window")
    _add_workspace(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser(
        "leaderboard",
        help="configs ranked as the pick ranks them (estimate over seeds), each config's runs beneath",
    )
    _add_workspace(p)
    p.add_argument("--json", action="store_true", help="machine-readable output (rebuilt from runs/)")
    p.add_argument("--top", type=int, default=20, metavar="N", help="configs to show (default 20)")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("report", help="write the self-contained HTML report")
    _add_workspace(p)
    p.add_argument("--out", metavar="FILE", help="where to write it (default: WORKSPACE/report.html)")
    p.add_argument("--mode", choices=MODES, default="quick", help="baseline the parameter plots refer to")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("eval", help="re-evaluate a run's checkpoint on new held-out seeds")
    _add_workspace(p)
    p.add_argument("run_id", help="the run whose checkpoint is evaluated")
    p.add_argument("--episodes", type=int, default=512, metavar="N", help="evaluation episodes (default 512)")
    p.add_argument("--seed", type=int, default=2_000_003, metavar="S", help="evaluation seed (held out)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compare", help="statistical verdict between two runs (bootstrap over eval episodes)")
    _add_workspace(p)
    p.add_argument("run_a", help="the first run id")
    p.add_argument("run_b", help="the second run id (the verdict is A minus B)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "export",
        help="the runs for other tools: an Optuna study, a CSV file, or a run as a PufferLib ini",
        description="optuna STORAGE_URL: one trial per config, valued at its estimate over its seeds, so "
        "Optuna's best_trial is the champion (optuna-dashboard, optuna.visualization); a study of that name "
        "there is replaced; csv FILE: one row per run, with its config's estimate and seeds; "
        "puffer-ini RUN [FILE]: a run's config as an ini that `puffer train` reads "
        "(and the same as `puffer train` flags); schedule RUN [FILE]: the hyperparameter schedule that trained "
        "a population-trained (pbt) run's policy, segment by segment, as JSON with a `puffer train` command each.",
    )
    _add_workspace(p)
    p.add_argument("format", choices=["optuna", "csv", "puffer-ini", "schedule"], help="what to export (see above)")
    p.add_argument(
        "target", help="optuna: a storage URL (sqlite:///study.db); csv: a file; puffer-ini, schedule: a run id"
    )
    p.add_argument("file", nargs="?", help="puffer-ini, schedule: the file to write (default: print it)")
    p.add_argument("--study-name", help="optuna: the study's name (default: the workspace folder's name)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "dashboard",
        help="serve optuna-dashboard over the study (pip install -e '.[dashboard]')",
        description="Exports the study to WORKSPACE/optuna.db (one trial per config, as `autopilot export optuna`) "
        "and serves optuna-dashboard on it until interrupted. Run it again to see newer trials.",
    )
    _add_workspace(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash or zsh)",
        description="Print the completion script for your shell; e.g. in ~/.bashrc: "
        'eval "$(autopilot completion bash)"; for zsh: autopilot completion zsh > "${fpath[1]}/_autopilot".',
    )
    p.add_argument("shell", choices=["bash", "zsh"], help="the shell to complete in")
    p.set_defaults(func=cmd_completion)

    p = sub.add_parser("rollback", help="make a run the parent/baseline of the next proposals")
    _add_workspace(p)
    p.add_argument("run_id", nargs="?", help="the run to roll back to")
    p.add_argument("--clear", action="store_true", help="forget the rollback: proposals start from the baseline")
    p.set_defaults(func=cmd_rollback)
    return parser


def _add_loop_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=MODES, default="quick", help="which baseline config (default quick)")
    p.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="cases per batch (auto, tpe, cmaes and model-based optuna:* samplers propose one per worker, at most N)",
    )
    p.add_argument("--workers", type=int, metavar="K", help="trials at once (default 1)")
    p.add_argument("--proposer", metavar="NAME", help="proposer (default: autopilot.yaml's proposer.name)")
    p.add_argument("--seed", type=int, metavar="S", help="proposer seed")
    p.add_argument("--executor", choices=EXECUTOR_KINDS, help="where trials run")
    p.add_argument("--ray-address", metavar="ADDR", help="auto or HOST:PORT, with --executor ray")
    p.add_argument("--timeout-minutes", type=finite_float, metavar="M", help="wall-clock limit per trial")
    p.add_argument("--stall-seconds", type=finite_float, metavar="S", help="limit without a new metrics line")


class CommandError(Exception):
    """Ends a command with a message on stderr and an exit code (2 bad input, 1 rejected)."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def cmd_init(args: argparse.Namespace) -> int:
    root = resolve_workspace(args.dir)
    native = None
    if args.trainer != "puffer" and (args.from_ini or args.python):
        raise CommandError("autopilot init: --from-ini and --python go with --trainer puffer")
    if args.trainer == "puffer":
        if not args.env and not args.from_ini:
            raise CommandError("autopilot init: --trainer puffer needs --env NAME or --from-ini PATH")
        try:
            native = load_native(args.env, Path(args.from_ini) if args.from_ini else None, args.python)
        except NativeConfigError as exc:
            raise CommandError(
                f"autopilot init: cannot load the PufferLib config of {args.from_ini or args.env}: {exc}\n"
                "  give your checkout's interpreter with --python, or your env's ini with --from-ini"
            ) from None
        args.env = args.env or native.baseline_full["base"].get("env_name")
    try:
        report = scaffold(root, args.trainer, args.env, args.force, native, args.python)
    except ValueError as exc:
        raise CommandError(f"autopilot init: {exc}") from None
    print(f"workspace {root}")
    print(describe(report, root))
    if native is not None:
        print(
            f"PufferLib config of {args.env}: objective {native.metric} ({native.mode}) from its [sweep]; "
            f"{sum(1 for p in native.space.values() if p.get('tune') not in (None, False))} tuned keys"
        )
        for note in native.notes:
            print(f"  {note}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    ws = Workspace(resolve_workspace(args.workspace))
    source = "<stdin>" if args.file == "-" else args.file
    try:
        raw = sys.stdin.buffer.read(MAX_RECORD_BYTES + 1) if args.file == "-" else read_bytes(Path(args.file))
        if len(raw) > MAX_RECORD_BYTES:
            raise UnsafeFile(f"larger than the {MAX_RECORD_BYTES >> 20} MiB the loop reads")
    except OSError as exc:
        raise CommandError(f"autopilot validate: cannot read {source}: {exc.strerror or exc}") from None
    override = parse_json_object(raw, source)
    result = load(ws, args.mode, allow_missing=True).validate(override)
    if not result.ok:
        for line in result.errors:
            print(line)
        return EXIT_REJECTED
    print(json.dumps(result.normalized, indent=2))
    if result.derived:
        print(f"derived: {', '.join(sorted(result.derived))}", file=sys.stderr)
    return EXIT_OK


def finite_float(text: str) -> float:
    """argparse's type for every number of seconds, minutes or fractions: NaN and infinity are refused (a NaN
    limit compares false with everything, and so would switch its enforcement off)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _iterations(args: argparse.Namespace) -> int | None:
    """--iterations as given; without it, 1, or unbounded when a budget bounds the run."""
    given: int | None = getattr(args, "iterations", None)
    if given is not None:
        return given
    budgeted = any(getattr(args, name, None) is not None for name in ("trials", "budget_steps", "budget_minutes"))
    return None if budgeted else 1


def _loop(args: argparse.Namespace, scaffold_missing: bool = False) -> Loop:
    root = resolve_workspace(args.workspace)
    if not Workspace(root).exists():
        if not scaffold_missing:
            raise CommandError(f"autopilot: no workspace at {root} (run `autopilot init {root}`)")
        print(f"no workspace at {root}; creating one")
        print(describe(scaffold(root), root))
    try:
        options = RunOptions(
            mode=args.mode,
            iterations=_iterations(args),
            trials=getattr(args, "trials", None),
            budget_steps=getattr(args, "budget_steps", None),
            budget_minutes=getattr(args, "budget_minutes", None),
            nonstop=getattr(args, "nonstop", False),
            batch_size=args.batch_size,
            workers=getattr(args, "workers", None),
            proposer=args.proposer,
            seed=args.seed,
            executor=getattr(args, "executor", None),
            ray_address=getattr(args, "ray_address", None),
            timeout_minutes=getattr(args, "timeout_minutes", None),
            stall_seconds=getattr(args, "stall_seconds", None),
        )
        return Loop(load(Workspace(root), args.mode), options)
    except ValueError as exc:  # e.g. an unknown --proposer, a limit of 0
        raise CommandError(f"autopilot: {exc}") from None


def cmd_run(args: argparse.Namespace) -> int:
    """``run`` iterates (scaffolding a missing workspace); ``step`` runs what is pending, proposes, exits."""
    loop = _loop(args, scaffold_missing=args.command == "run")
    if getattr(args, "may_reexec", False):  # autopilot.yaml is read: every secret name is known
        reexec_without_secrets(sys.argv)
    result = loop.run() if args.command == "run" else loop.step()
    print(result.message, file=sys.stderr if result.exit_code else sys.stdout)
    if loop.ws.leaderboard.exists():
        print(render_leaderboard(loop.ws, top=5))
        print(render_champion(loop.ws))
    return result.exit_code


def cmd_propose(args: argparse.Namespace) -> int:
    loop = _loop(args)
    if args.verify_llm:
        try:
            print(verify_llm(loop.exp.proposer.llm))
        except LLMUnavailable as exc:
            raise CommandError(f"llm not usable: {exc}", EXIT_REJECTED) from None
        return EXIT_OK
    if args.dry_run:
        cases = loop.make_batch(loop.guard_readonly(), dry_run=True)
        print(json.dumps([asdict(c) for c in cases], indent=2))
        return EXIT_OK
    cases, gate = loop.propose()
    if gate is not None:
        print(f"nothing proposed: {gate}")
        return EXIT_OK
    for case in cases:
        print(f"{case.case_id}  {case.proposer:<8} {json.dumps(case.overrides)}")
    print(f"{len(cases)} case(s) written to {loop.ws.pending}")
    return EXIT_OK


def _workspace(args: argparse.Namespace) -> Workspace:
    ws = Workspace(resolve_workspace(args.workspace))
    if not ws.exists():
        raise CommandError(f"autopilot: no workspace at {ws.root} (run `autopilot init {ws.root}`)")
    return ws


def cmd_status(args: argparse.Namespace) -> int:
    status = workspace_status(_workspace(args))
    print(json.dumps(status, indent=2) if args.json else render_status(status))
    return EXIT_OK


def cmd_pause(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    pause(ws, args.reason)
    print(f"paused: {ws.pause_file} written; no new case will start")
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    existed = resume(_workspace(args))
    print("resumed" + ("" if existed else " (it was not paused)") + "; the guardrail window starts afresh")
    return EXIT_OK


def cmd_leaderboard(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    exp = load_experiment(ws.experiment_file)
    history = Records(ws).history()
    promotion = decide(history, exp.objective, ws.runs)
    rows = write_leaderboard(ws, history, exp.objective, promotion)
    if args.json:
        print(json.dumps(config_rows(history, exp.objective, promotion)[: args.top], indent=2))
    else:
        print(render_leaderboard(ws, top=args.top) if rows else why_empty(history))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    loaded = load(ws, args.mode)
    path = write_report(ws, loaded.experiment, loaded.baseline, Path(args.out) if args.out else None)
    print(f"report written to {path}")
    return EXIT_OK


def _run(ws: Workspace, run_id: str) -> RunView:
    view = next((v for v in Records(ws).history() if v.id == run_id), None)
    if view is None:
        raise CommandError(f"autopilot: no run {run_id!r} in {ws.runs}")
    return view


def cmd_eval(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    view = _run(ws, args.run_id)
    exp = load_experiment(ws.experiment_file)
    try:
        result = reevaluate(ws, exp, view, args.episodes, args.seed)
    except ReevaluationError as exc:
        raise CommandError(f"autopilot eval: {exc}", EXIT_REJECTED) from None
    print(f"run {view.id}: {len(result.episodes)} episodes on seed {args.seed} -> {result.out}")
    intervals = result.intervals(exp.objective.metric)
    for name, ci in intervals.items():
        print(f"  {name}: {ci.mean:.4g} [95% CI {ci.low:.4g}, {ci.high:.4g}]")
    value = result.metrics.get(exp.objective.metric)
    if exp.objective.metric not in intervals and isinstance(value, int | float):
        print(f"  {exp.objective.metric}: {value:.4g} (the env's own logs; no per-episode records behind it)")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    view_a, view_b = _run(ws, args.run_a), _run(ws, args.run_b)
    exp = load_experiment(ws.experiment_file)
    results = compare_runs(ws.runs / view_a.id, ws.runs / view_b.id, exp.objective)
    if args.json:
        print(json.dumps({"a": args.run_a, "b": args.run_b, "results": results}, indent=2))
        return EXIT_OK
    if not results:
        print("no per-episode evaluation in common: nothing to compare (verdict inconclusive)")
        return EXIT_OK
    print(f"A = {args.run_a}, B = {args.run_b} (A - B, 97.5% bootstrap interval)")
    for name, r in results.items():
        d = r["difference"]
        print(f"  {name:<15} {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]  A {r['verdict']}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    exp = load_experiment(ws.experiment_file)
    if args.format == "csv":
        rows = run_rows(ws, exp)
        print(f"{len(rows)} run(s) written to {write_csv(rows, Path(args.target))}")
    elif args.format == "optuna":
        try:
            study = to_optuna(ws, exp, args.target, args.study_name)
        except Exception as exc:  # optuna's storage errors (a bad URL, a study that exists) are many classes
            raise CommandError(f"autopilot export optuna: {exc}", EXIT_REJECTED) from None
        print(f"study {study.study_name!r} with {len(study.trials)} trial(s), one per config, in {args.target}")
    elif args.format == "schedule":
        view = _run(ws, args.target)
        text = json.dumps(schedule_file(ws, exp, view), indent=2) + "\n"
        if args.file:
            atomic_write_text(Path(args.file), text)
            print(f"the schedule of run {view.id} written to {args.file}")
        else:
            print(text, end="")
    else:
        view = _run(ws, args.target)
        try:
            text = puffer_ini(ws, view)
        except ValueError as exc:
            raise CommandError(f"autopilot export puffer-ini: {exc}", EXIT_REJECTED) from None
        if args.file:
            Path(args.file).write_text(text, encoding="utf-8")
            print(f"run {view.id} written to {args.file}")
        else:
            print(text)
        print(f"puffer train flags: {puffer_flags(view)}")
    return EXIT_OK


def cmd_dashboard(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    try:
        import optuna_dashboard
    except ImportError:
        raise CommandError(
            "autopilot dashboard: optuna-dashboard is not installed: pip install -e '.[dashboard]'", EXIT_REJECTED
        ) from None
    exp = load_experiment(ws.experiment_file)
    # Exported aside, then renamed: a dashboard started on a stale file never sees a half-written one.
    target, fresh = ws.root / "optuna.db", ws.root / ".optuna.db.partial"
    fresh.unlink(missing_ok=True)
    study = to_optuna(ws, exp, f"sqlite:///{fresh}")
    os.replace(fresh, target)
    storage = f"sqlite:///{target}"
    print(
        f"study {study.study_name!r}: {len(study.trials)} trial(s), one per config; serving on "
        f"http://{args.host}:{args.port}/ (Ctrl-C to stop)",
        flush=True,
    )
    optuna_dashboard.run_server(storage, host=args.host, port=args.port)
    return EXIT_OK


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    if args.clear:
        clear_rollback(ws)
        print("rollback cleared")
        return EXIT_OK
    if not args.run_id:
        raise CommandError("autopilot rollback: give a RUN_ID or --clear")
    try:
        rollback(ws, args.run_id)
    except ControlError as exc:
        raise CommandError(f"autopilot rollback: {exc}", EXIT_REJECTED) from None
    print(f"next proposals start from run {args.run_id} (its overrides are their baseline)")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    take_held()  # secrets handed over by a re-execution of this command (run, step)
    args = build_parser().parse_args(argv)
    args.may_reexec = argv is None  # the real command line, not a call from Python
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # inside the try: a reader that left (``| head``) is not an error of ours
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return exc.code
    except (ExperimentError, BaselineError, JSONInputError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except WorkspaceLocked as exc:
        print(f"autopilot {args.command}: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except BrokenPipeError:  # `autopilot status | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code
