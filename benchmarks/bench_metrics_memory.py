"""The loop's peak memory when a trainer writes a metrics.jsonl just under the output cap.

    .venv/bin/python -m benchmarks.bench_metrics_memory --mb 250

A command trainer writes ``--mb`` MB of metrics lines (about 100 bytes each) and a summary, under
``resources.max_output_mb: 256``; then ``autopilot run`` (one trial: run, settle, analyse, report),
``autopilot report`` and ``autopilot status`` each run as a process of their own, and the peak resident set of
each (its largest process: the loop or the command, the trainer being small) is printed with its wall time.
Target: under 300 MB for the loop, whatever the metrics volume under the cap.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from autopilot.experiment.scaffold import scaffold
from benchmarks.provenance import header

FLOOD_TRAINER = """import json, sys
from pathlib import Path
out = Path(sys.argv[1])
target = int(float(sys.argv[2]) * 1e6)
written, step = 0, 0
with (out / "metrics.jsonl").open("w") as f:
    while written < target:
        block = "".join(
            json.dumps({"step": step + i, "metrics": {"score": (step + i) % 997 / 997, "grip_rate": 0.5},
                        "losses": {"entropy": 1.0}, "sps": 1000}) + "\\n"
            for i in range(10_000)
        )
        f.write(block)
        written += len(block)
        step += 10_000
(out / "trainer_summary.json").write_text(json.dumps({"metrics": {"score": 0.5}, "steps": step}))
"""

MEASURE = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=False, capture_output=True); " + (
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MB of the command's largest process, wall seconds)."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, check=True)
    return int(done.stdout.strip()) / 1024, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=250.0, help="metrics.jsonl size in MB (default 250)")
    args = parser.parse_args(argv)
    autopilot = str(Path(sys.executable).with_name("autopilot"))
    for line in header():
        print(line)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        scaffold(root, "command")
        (root / "flood.py").write_text(FLOOD_TRAINER)
        experiment = yaml.safe_load((root / "autopilot.yaml").read_text())
        experiment["trainer"]["command"] = [sys.executable, "{workspace}/flood.py", "{run_dir}", str(args.mb)]
        experiment["resources"].update({"max_output_mb": 256, "timeout_minutes": 30, "stall_seconds": 600})
        (root / "autopilot.yaml").write_text(yaml.safe_dump(experiment))
        rows = [
            ("autopilot run --trials 1", peak([autopilot, "run", "-w", str(root), "--trials", "1"])),
            ("autopilot report", peak([autopilot, "report", "-w", str(root)])),
            ("autopilot status", peak([autopilot, "status", "-w", str(root)])),
        ]
        [run] = (root / "runs").iterdir()
        size = (run / "metrics.jsonl").stat().st_size / 1e6
        state = json.loads((run / "run.json").read_text())["state"]
    print(f"metrics.jsonl: {size:.0f} MB; the run ended {state}")
    print("| command | peak RSS (MB) | wall (s) |")
    print("| --- | --- | --- |")
    for name, (rss, wall) in rows:
        print(f"| `{name}` | {rss:.0f} | {wall:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
