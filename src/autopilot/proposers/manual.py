"""``manual``: only what a human or agent writes to proposals/next_config.json runs.

The loop reads that file (proposers never touch the filesystem); this proposer adds nothing to it.
"""

from __future__ import annotations

from autopilot.proposers.base import Context, Proposal, Proposer
from autopilot.workspace.records import RunView


class ManualProposer(Proposer):
    name = "manual"
    fills_batches = False

    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        return []
