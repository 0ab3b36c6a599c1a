"""A trainer that tests the loop's trust boundaries (train.attack in config.json), with real processes and files.

It speaks the protocol like fake_trainer.py and, on request, leaves a daemon behind, floods its log, writes a
metrics line without end, points its outputs outside its run folder, leaks a secret, or renames the workspace.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

run_dir = Path(sys.argv[1])
config = json.loads((run_dir / "config.json").read_text())
train = config["train"]
attack = train.get("attack", "none")
outside = Path(train.get("outside", "/nonexistent"))
metrics = run_dir / "metrics.jsonl"
summary = {"metrics": {"score": float(train.get("x", 0.5))}, "steps": 3, "wall_s": 0.1}


def daemon(heartbeat: Path) -> int:
    """A process in a session of its own (it leaves the trial's process group), still writing."""
    code = f"import time\nwhile True:\n    open({str(heartbeat)!r}, 'a').write('x')\n    time.sleep(0.1)\n"
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True).pid


with metrics.open("a") as f:
    f.write(json.dumps({"step": 1, "metrics": {"score": summary["metrics"]["score"]}}) + "\n")

if attack == "daemon":  # a setsid daemon and a child left in the group; the trainer itself exits 0
    (run_dir / "daemon.pid").write_text(str(daemon(outside / "heartbeat")))
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    (run_dir / "child.pid").write_text(str(child.pid))
elif attack == "flood":  # far more output than the log keeps; the first and the last lines matter
    print("FIRST LINE", flush=True)
    block = "y" * 1023 + "\n"
    for _ in range(int(train.get("flood_kb", 4096))):
        sys.stdout.write(block)
    print("LAST LINE", flush=True)
elif attack == "long_line":  # one metrics line of many megabytes, never ended
    with metrics.open("a") as f:
        f.write('{"step": 2, "metrics": {"score": ' + "9" * (int(train.get("line_mb", 8)) << 20))
elif attack == "zero_episodes":  # the episode file is a link to an endless device
    os.symlink("/dev/zero", run_dir / "eval_episodes.jsonl")
elif attack == "summary_link":  # the summary is a link to a file outside, claiming a high score
    (outside / "summary.json").write_text(json.dumps({"metrics": {"score": 99.0}, "steps": 3}))
    os.symlink(outside / "summary.json", run_dir / "trainer_summary.json")
    sys.exit(0)
elif attack == "outside_checkpoint":  # a checkpoint path outside the workspace
    (outside / "model.pt").write_bytes(b"not ours")
    summary["checkpoint"] = str(outside / "model.pt")
elif attack == "linked_checkpoints":  # checkpoints/ is a link to a folder of someone else's weights
    os.symlink(outside, run_dir / "checkpoints")
    summary["checkpoint"] = "checkpoints/model_000001.pt"
elif attack == "leak":  # the last stderr line carries the key it was given
    print(f"crash: cannot reach the server with key {os.environ.get('OPENAI_API_KEY')}", file=sys.stderr)
    sys.exit(1)
elif attack == "env":  # report which secret variables it was given
    summary["metrics"]["has_key"] = float("OPENAI_API_KEY" in os.environ)
elif attack == "records_to_zero":  # the loop's own records become links to an endless device; metrics a FIFO
    for name in ("run.json", "config.json", "override.json", "config_diff.json", "summary.json"):
        (run_dir / name).unlink(missing_ok=True)
        os.symlink("/dev/zero", run_dir / name)
    metrics.unlink()
    os.mkfifo(metrics)
elif attack == "rewrite_records":  # the trainer rewrites its own record: another case id, another config
    record = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**record, "case_id": "forged", "state": "complete"}))
    (run_dir / "config.json").write_text(json.dumps({**config, "train": {**train, "x": 99.0}}))
elif attack == "replace_run_dir":  # the run folder itself becomes a link to a folder of someone else's weights
    moved = run_dir.with_name(run_dir.name + "-moved")
    run_dir.rename(moved)
    os.symlink(outside, run_dir)
    (moved / "trainer_summary.json").write_text(json.dumps(summary))
    sys.exit(0)
elif attack == "secret_probe":  # look for MY_TOKEN in its environment and in the loop's; leak what it finds
    token = os.environ.get("MY_TOKEN")
    loop_environ = Path(f"/proc/{os.getppid()}/environ").read_bytes()
    summary["metrics"]["has_token"] = float(token is not None)
    summary["metrics"]["loop_environ_has_token"] = float(b"MY_TOKEN=" in loop_environ)
    if token:
        print(f"the token is {token}", flush=True)
        summary["metrics"][f"metric_{token}"] = 1.0
elif attack == "rename_workspace":  # the workspace vanishes while the loop runs
    workspace = run_dir.parent.parent
    workspace.rename(workspace.with_name(workspace.name + "-moved"))
    time.sleep(0.5)
    sys.exit(0)

if attack != "linked_checkpoints":
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    (run_dir / "checkpoints" / "model_000001.pt").write_bytes(b"weights")
    summary.setdefault("checkpoint", "checkpoints/model_000001.pt")
(run_dir / "trainer_summary.json").write_text(json.dumps(summary))
