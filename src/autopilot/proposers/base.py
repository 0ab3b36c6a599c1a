"""The proposer interface (docs/architecture.md): ``propose(history, n, context) -> list[Proposal]``."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from autopilot.config import to_dotted
from autopilot.experiment.schema import ProposerSpec
from autopilot.objective import Objective
from autopilot.space import SearchSpace
from autopilot.workspace.records import RunView


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
    budget_trials: int | None = None  # the study's trial budget, when it has one (sizes TPE's start-up)

    def derive(self, part: str) -> Context:
        """The same context with a seed of its own for a sub-proposer, so two parts never draw alike."""
        digest = hashlib.sha256(f"{self.seed}:{part}".encode()).digest()
        return replace(self, seed=int.from_bytes(digest[:4], "big") % 2**31)


class Batch(list[Proposal]):
    """A batch of proposals with the proposer's notes on what it could not do (fallbacks), which the loop
    journals, and the proposals it refused itself (``(reasons, overrides)``), which the loop records in
    failures.json. Any proposer may return a plain list: it has nothing to note."""

    def __init__(
        self,
        proposals: Iterable[Proposal] = (),
        notes: Iterable[str] = (),
        refused: Iterable[tuple[list[str], Any]] = (),
    ) -> None:
        super().__init__(proposals)
        self.notes = list(notes)
        self.refused = list(refused)


def notes_of(batch: list[Proposal]) -> list[str]:
    return batch.notes if isinstance(batch, Batch) else []


def refused_of(batch: list[Proposal]) -> list[tuple[list[str], Any]]:
    return batch.refused if isinstance(batch, Batch) else []


class Proposer(ABC):
    """A proposer declares what it needs from the loop through these flags; the loop never tests names."""

    name = "base"
    runs_agent = False  # the loop runs the coding agent before each batch; its next_config.json is the batch
    meta_reviews = False  # the loop asks the LLM for a meta-review every ``llm.meta_review_every`` iterations
    fills_batches = True  # a batch shorter than asked for is news (journalled); False: it proposes nothing
    # A model that learns from every finished trial: the loop asks it for one proposal per worker (at most
    # proposer.batch_size), so no proposal is made blind to a trial that could have finished first.
    sequential = False
    # The loop's early-stopping rule may end its trials; False where the proposer's own rule decides which
    # trials go on (PBT's exploit step), so a second rule would only cut its population short.
    early_stopping = True

    @abstractmethod
    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        """Return up to ``n`` proposals; same seed + same history must give the same batch."""


def history_for_proposers(history: list[RunView]) -> list[RunView]:
    """Runs a proposer learns from: interrupted attempts are the loop's accident, not evidence."""
    return [v for v in history if v.record.failure_class != "interrupted"]


def at_baseline_budget(history: list[RunView], context: Context) -> list[RunView]:
    """Runs trained for the baseline's step budget: evidence comparable with what the next trial will get
    (a run given a different ``train.total_timesteps`` is not evidence about the same question)."""
    budget = to_dotted(context.baseline).get("train.total_timesteps")
    if budget is None:
        return history
    return [v for v in history if to_dotted(v.overrides).get("train.total_timesteps", budget) == budget]


def batch_index(history: list[RunView]) -> int:
    """How many distinct cases have finished: the position of the next batch in the experiment."""
    return len({v.record.case_id for v in history_for_proposers(history)})


def is_baseline(view: RunView, context: Context) -> bool:
    """The unchanged baseline (a different seed or a derived key alone does not make another config)."""
    ignored = {*context.space.derived_keys, "train.seed"}
    return not {k for k in to_dotted(view.overrides) if k not in ignored}


def baseline_slot(history: list[RunView], context: Context) -> list[Proposal]:
    """The baseline itself, once, while it has no record: every later result needs a reference."""
    if any(is_baseline(v, context) for v in history):
        return []
    return [Proposal({}, [], ["baseline"], "baseline", "the baseline config, as a reference")]


def credited_to(proposals: list[Proposal], name: str) -> list[Proposal]:
    """A composite proposer's batch under its own name, each proposal tagged ``via:<part>`` with its source."""
    for p in proposals:
        p.tags = [*p.tags, f"via:{p.proposer}"]
        p.proposer = name
    return proposals
