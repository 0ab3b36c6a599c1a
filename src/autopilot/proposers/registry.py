"""A proposer by its name (experiment/proposer_names.py holds the names; a class is imported only when asked
for)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from autopilot.experiment.proposer_names import OPTUNA_PREFIX, PROPOSER_CLASSES, proposer_problem

if TYPE_CHECKING:
    from autopilot.proposers.base import Proposer


def make_proposer(name: str) -> Proposer:
    """A fresh proposer; a name that is none raises ValueError with ``proposer_problem``'s line."""
    problem = proposer_problem(name)
    if problem:
        raise ValueError(problem)
    if name.startswith(OPTUNA_PREFIX):
        from autopilot.proposers.optuna_samplers import NamedSamplerProposer

        return NamedSamplerProposer(name[len(OPTUNA_PREFIX) :])
    module, _, attr = PROPOSER_CLASSES[name].partition(":")
    cls: type[Proposer] = getattr(importlib.import_module(module), attr)
    return cls()
