"""Proposers return proposals (data); they never launch, write records or touch the filesystem."""

from __future__ import annotations

from autopilot.proposers.base import Context, Proposal, Proposer
from autopilot.proposers.sampling import RandomProposer

PROPOSERS: dict[str, type[Proposer]] = {"random": RandomProposer}


def make_proposer(name: str) -> Proposer:
    """The proposer called ``name``; names not built yet fall back to ``random`` and say so."""
    cls = PROPOSERS.get(name)
    if cls is None:
        raise ValueError(
            f"proposer.name: {name!r} is not available in this build; available: {', '.join(sorted(PROPOSERS))}"
        )
    return cls()


__all__ = ["PROPOSERS", "Context", "Proposal", "Proposer", "make_proposer"]
