"""``python -m autopilot.trainers.puffer --run-dir DIR``: train one run (or, with ``--eval-only``, evaluate a
checkpoint) under the trainer protocol. Failures end with one ``<class>: <reason>`` line on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from autopilot.objective import EVAL_SEED_OFFSET
from autopilot.trainers.protocol import TrainerFailure, fail
from autopilot.trainers.puffer.build import EXIT_INVALID, StopRequest
from autopilot.trainers.puffer.evaluate import evaluate_checkpoint
from autopilot.trainers.puffer.train import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autopilot.trainers.puffer",
        description="Train one run with PufferLib (the autopilot trainer protocol).",
    )
    parser.add_argument(
        "--run-dir",
        default=os.environ.get("AUTOPILOT_RUN_DIR"),
        help="run folder holding config.json (default: $AUTOPILOT_RUN_DIR)",
    )
    parser.add_argument("--eval-only", metavar="CHECKPOINT", help="only evaluate this checkpoint; writes --out")
    parser.add_argument("--episodes", type=int, default=512, help="evaluation episodes with --eval-only")
    parser.add_argument("--seed", type=int, default=EVAL_SEED_OFFSET, help="evaluation seed with --eval-only")
    parser.add_argument("--out", help="episodes file (JSON lines) with --eval-only")
    args = parser.parse_args(argv)
    if not args.run_dir:
        parser.error("--run-dir is required (or set AUTOPILOT_RUN_DIR)")
    stop = StopRequest()
    stop.install()
    if args.eval_only:
        if not args.out:
            parser.error("--out is required with --eval-only")
        try:
            result = evaluate_checkpoint(
                Path(args.run_dir).resolve(), Path(args.eval_only), args.episodes, args.seed, Path(args.out), stop
            )
        except TrainerFailure as failure:
            fail(failure)
        print(json.dumps(result))
        return 0
    try:
        summary = run(Path(args.run_dir).resolve(), stop)
    except TrainerFailure as failure:
        fail(failure)
    except FileNotFoundError as exc:
        fail(TrainerFailure("invalid_config", f"cannot read {exc.filename}: {exc.strerror}", EXIT_INVALID))
    except KeyError as exc:
        fail(TrainerFailure("invalid_config", f"config.json: missing key {exc}", EXIT_INVALID))
    metrics = summary["metrics"]
    shown = ", ".join(f"{k}={v:.3f}" for k, v in metrics.items() if isinstance(v, float) and k != "sps")
    print(f"done: {summary['steps']} steps in {summary['wall_s']:.1f}s ({metrics['sps']:.0f} steps/s); {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
