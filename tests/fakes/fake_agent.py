"""A stand-in coding agent: writes proposals/next_config.json (and notes) as told by its first argument."""

import json
import os
import sys
import time
from pathlib import Path

behavior, prompt = sys.argv[1], sys.argv[2]
workspace = Path.cwd()
proposal = workspace / "proposals" / "next_config.json"
last_run = os.environ.get("AUTOPILOT_RUN_DIR")
(workspace / "agent_prompt.txt").write_text(prompt)
if behavior == "good":
    proposal.write_text(json.dumps({"train": {"x": 0.77}}))
    if last_run:
        Path(last_run, "notes.txt").write_text("theory: higher x is better; trying 0.77\n")
elif behavior == "invalid_json":
    proposal.write_text("{this is not json")
elif behavior == "out_of_range":
    proposal.write_text(json.dumps({"train.x": 5.0, "autopilot.resume_from": "../../../etc/passwd"}))
elif behavior == "symlink_outside":
    outside = workspace.parent / "outside.json"
    outside.write_text(json.dumps({"train.x": 0.1}))
    proposal.unlink()
    proposal.symlink_to(outside)
elif behavior == "hang":
    time.sleep(3600)
print(f"fake agent did {behavior}")
