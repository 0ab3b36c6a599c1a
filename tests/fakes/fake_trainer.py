"""A trainer that speaks the protocol and misbehaves on request (train.behavior in config.json).

Used by the loop's reliability tests: real processes, real signals, real files.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

run_dir = Path(sys.argv[1])
config = json.loads((run_dir / "config.json").read_text())
train = config["train"]
behavior = train.get("behavior", "ok")
x = float(train.get("x", 0.5))
metrics = run_dir / "metrics.jsonl"


def line(step):
    with metrics.open("a") as f:
        f.write(
            json.dumps({"step": step, "wall_s": 0.0, "sps": 1.0, "metrics": {"score": x}, "losses": {}, "total": 3})
            + "\n"
        )


if behavior != "curve":  # a curve writes its own, monotonically increasing, lines
    line(1)
    time.sleep(float(train.get("sleep", 0.0)))
if behavior == "hang":  # alive and still writing: only the wall-clock limit stops it
    while True:
        line(2)
        time.sleep(0.2)
if behavior == "stall":  # alive but silent
    time.sleep(3600)
if behavior == "spawn":  # a child in the same process group outlives nothing
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    (run_dir / "child.pid").write_text(str(child.pid))
    while True:
        line(2)
        time.sleep(0.2)
if behavior == "crash":
    print("Traceback (most recent call last):\nValueError: something broke", file=sys.stderr)
    sys.exit(1)
if behavior == "nan":
    print("nan_loss: loss became NaN at step 2", file=sys.stderr)
    sys.exit(3)
if behavior == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
if behavior == "nosummary":
    sys.exit(0)
if behavior == "garbage":
    (run_dir / "trainer_summary.json").write_text("{not json")
    sys.exit(0)
if behavior == "curve":  # a learning curve: score rises to x over 10 logs, train.sleep seconds apart
    for i in range(1, 11):
        with metrics.open("a") as f:
            f.write(json.dumps({"step": i, "metrics": {"score": x * i / 10}, "losses": {}, "total": 10}) + "\n")
        time.sleep(float(train.get("sleep", 0.0)))
    train["sleep"] = 0.0
if behavior == "report_parent":  # tell the test which process launched us (a Ray worker), then work a while
    Path(train["pid_file"]).write_text(str(os.getppid()))
    time.sleep(4)
if behavior == "pause":  # a human pauses the workspace while this trial runs
    (run_dir.parent.parent / "PAUSE_AUTORUN").write_text("paused during a trial\n")
if behavior != "curve":
    line(3)
ckpt = run_dir / "checkpoints"
ckpt.mkdir(exist_ok=True)
for epoch in (1, 2):
    (ckpt / f"model_{epoch:06d}.pt").write_bytes(b"weights")
(run_dir / "trainer_summary.json").write_text(
    json.dumps(
        {
            "metrics": {"score": x, "load": train.get("load_model_path")},
            "steps": 3,
            "wall_s": 0.1,
            "checkpoint": "checkpoints/model_000002.pt",
            "seed": train.get("seed", 0),
        }
    )
)
