"""``agent``: a coding agent (Codex, Claude Code, any CLI) writes proposals/next_config.json (an agent's
workflow, made safe).

The loop runs the configured command (argv, no shell, no sandbox-bypass flag added) with the workspace as
working directory, a prompt rendered from prompts/agent.md, the environment variables of the trainer protocol
pointing at the last run, and its own time limit. The agent never launches training. Afterwards the loop
reads and validates next_config.json like any manual override; when the agent wrote nothing usable, the GA
proposes instead (this class).
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from autopilot.experiment.schema import AgentOptions
from autopilot.objective import Objective
from autopilot.proposers.base import Context, Proposal, Proposer
from autopilot.proposers.ga import GAProposer
from autopilot.trainers.protocol import protocol_env
from autopilot.workspace.records import RunView


@dataclass
class AgentResult:
    exit_code: int | None
    timed_out: bool
    output_tail: str


def render_prompt(template: str, workspace: Path, objective: Objective, last_run: Path | None) -> str:
    values = {
        "workspace": str(workspace),
        "objective": f"{objective.mode} {objective.metric}",
        "last_run_dir": str(last_run) if last_run else "(no run yet)",
    }
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out.replace("{{", "{").replace("}}", "}")


def run_agent(opts: AgentOptions, workspace: Path, prompt: str, last_run: Path | None) -> AgentResult:
    """Run the agent command once, in its own process group, killed at ``opts.timeout_s``."""
    assert opts.command, "proposer.agent.command is checked before the agent runs"
    argv = [arg.replace("{prompt}", prompt).replace("{workspace}", str(workspace)) for arg in opts.command]
    env = dict(os.environ)
    if last_run is not None:
        env.update(protocol_env(last_run))
    env["AUTOPILOT_WORKSPACE"] = str(workspace)
    try:
        proc = subprocess.Popen(
            argv,
            cwd=workspace,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
    except OSError as exc:
        return AgentResult(None, False, f"{argv[0]}: {exc.strerror}")
    try:
        output, _ = proc.communicate(timeout=opts.timeout_s)
        return AgentResult(proc.returncode, False, (output or "")[-2000:])
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        return AgentResult(None, True, (output or "")[-2000:])


def last_run_dir(history: list[RunView], runs: Path) -> Path | None:
    finished = [v for v in history if v.state not in ("pending", "running")]
    return runs / finished[-1].id if finished else None


class AgentProposer(Proposer):
    """What runs when the agent wrote nothing usable: the GA, tagged as the agent's fallback."""

    name = "agent"
    runs_agent = True

    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        proposals = GAProposer().propose(history, n, context)
        for p in proposals:
            p.tags = [*p.tags, "agent-fallback", "via:ga"]
            p.proposer = self.name
            p.reasoning = f"the agent's proposal was missing or invalid; GA: {p.reasoning}"
        return proposals
