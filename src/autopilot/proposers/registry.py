"""The one list of proposer names, each with where its class lives (imported only when asked for)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autopilot.proposers.base import Proposer

# name -> "module:Class". Lazy, so that naming a proposer in autopilot.yaml is checked without importing
# every proposer's dependencies (the LLM SDKs, Optuna, PufferLib's Protein).
_CLASSES: dict[str, str] = {
    "auto": "autopilot.proposers.auto:AutoProposer",
    "hybrid": "autopilot.proposers.hybrid:HybridProposer",
    "ga": "autopilot.proposers.ga:GAProposer",
    "tpe": "autopilot.proposers.optuna_samplers:TPEProposer",
    "cmaes": "autopilot.proposers.optuna_samplers:CmaEsProposer",
    "random": "autopilot.proposers.optuna_samplers:RandomSamplerProposer",
    "behavior": "autopilot.proposers.behavior:BehaviorProposer",
    "manual": "autopilot.proposers.manual:ManualProposer",
    "llm": "autopilot.proposers.llm:LLMProposer",
    "agent": "autopilot.proposers.agent:AgentProposer",
    "protein": "autopilot.proposers.protein:ProteinProposer",
}
PROPOSER_NAMES: tuple[str, ...] = tuple(_CLASSES)


OPTUNA_PREFIX = "optuna:"


def proposer_problem(name: str) -> str | None:
    """Why ``name`` is not a proposer, as a ``proposer.name: ...`` line, or None."""
    if name.startswith(OPTUNA_PREFIX):
        from autopilot.proposers.optuna_samplers import sampler_names

        known = sampler_names()
        if name[len(OPTUNA_PREFIX) :] not in known:
            return f"proposer.name: {name!r} names no sampler of optuna.samplers; available: {', '.join(known)}"
        return None
    if name not in _CLASSES:
        return (
            f"proposer.name: {name!r} is not available; available: {', '.join(sorted(_CLASSES))}, "
            "or optuna:<SamplerClass>"
        )
    return None


def make_proposer(name: str) -> Proposer:
    """A fresh proposer; a name that is none raises ValueError with ``proposer_problem``'s line."""
    problem = proposer_problem(name)
    if problem:
        raise ValueError(problem)
    if name.startswith(OPTUNA_PREFIX):
        from autopilot.proposers.optuna_samplers import NamedSamplerProposer

        return NamedSamplerProposer(name[len(OPTUNA_PREFIX) :])
    module, _, attr = _CLASSES[name].partition(":")
    cls: type[Proposer] = getattr(importlib.import_module(module), attr)
    return cls()
