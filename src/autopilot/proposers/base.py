"""The proposer interface (DESIGN.md §8): ``propose(history, n, context) -> list[Proposal]``."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopilot.experiment import Objective, ProposerSpec
from autopilot.records import RunView
from autopilot.space import SearchSpace


@dataclass
class Proposal:
    overrides: dict[str, Any]
    parent_ids: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    proposer: str = ""
    reasoning: str = ""


@dataclass(frozen=True)
class Context:
    """What a proposer may read. It can never change any of it."""

    space: SearchSpace
    objective: Objective
    baseline: dict[str, Any]
    options: ProposerSpec
    seed: int
    safe_mode: bool = False
    last_analysis: dict[str, Any] | None = None
    prompt: str | None = None  # prompts/llm.md, read by the loop
    workspace: Path | None = None  # for validating checkpoint paths; never written by a proposer


class Proposer(ABC):
    name = "base"

    def __init__(self) -> None:
        self.notes: list[str] = []  # what the last call could not do (dropped actions, fallbacks): journalled

    @abstractmethod
    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        """Return up to ``n`` proposals; same seed + same history must give the same batch."""


def history_for_proposers(history: list[RunView]) -> list[RunView]:
    """Runs a proposer learns from: interrupted attempts are the loop's accident, not evidence."""
    return [v for v in history if v.record.failure_class != "interrupted"]


def batch_index(history: list[RunView]) -> int:
    """How many distinct cases have finished: the position of the next batch in the experiment."""
    return len({v.record.case_id for v in history_for_proposers(history)})


def case_id_for(seed: int, batch: int, index: int, overrides: dict[str, Any]) -> str:
    """Deterministic: the same seed, history position and overrides always give the same id."""
    blob = json.dumps([seed, batch, index, overrides], sort_keys=True, default=str)
    return "c" + hashlib.sha256(blob.encode()).hexdigest()[:11]
