"""Proposers return proposals (data); they never launch, write records or touch the filesystem."""

from __future__ import annotations

from autopilot.proposers.agent import AgentProposer
from autopilot.proposers.base import Context, Proposal, Proposer
from autopilot.proposers.behavior import BehaviorProposer
from autopilot.proposers.ga import GAProposer
from autopilot.proposers.hybrid import HybridProposer
from autopilot.proposers.llm import LLMProposer
from autopilot.proposers.manual import ManualProposer
from autopilot.proposers.optuna_samplers import CmaEsProposer, RandomSamplerProposer, TPEProposer
from autopilot.proposers.protein import ProteinProposer

PROPOSERS: dict[str, type[Proposer]] = {
    "hybrid": HybridProposer,
    "ga": GAProposer,
    "tpe": TPEProposer,
    "cmaes": CmaEsProposer,
    "random": RandomSamplerProposer,
    "behavior": BehaviorProposer,
    "manual": ManualProposer,
    "llm": LLMProposer,
    "agent": AgentProposer,
    "protein": ProteinProposer,
}


def make_proposer(name: str) -> Proposer:
    cls = PROPOSERS.get(name)
    if cls is None:
        raise ValueError(f"proposer.name: {name!r} is not available; available: {', '.join(sorted(PROPOSERS))}")
    return cls()


__all__ = ["PROPOSERS", "Context", "Proposal", "Proposer", "make_proposer"]
