"""Proposals to validated cases: the manual file, the agent, the proposer, rollback, safe mode, confirmations.

Every proposal, whoever made it, is validated here; a rejected one goes to failures.json with its reasons and
never reaches ``cases/pending/``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from autopilot.analysis.guardrails import GuardState
from autopilot.config import JSONInputError, parse_json_object, to_dotted
from autopilot.experiment.loader import Loaded
from autopilot.experiment.scaffold import AGENT_PROMPT
from autopilot.ids import case_id_for, utc_now
from autopilot.proposers.agent import last_run_dir, render_prompt, run_agent
from autopilot.proposers.base import Context, Proposal, Proposer, batch_index, notes_of, refused_of
from autopilot.workspace.atomic import atomic_write_json, atomic_write_text, read_bytes, read_json_object, read_text
from autopilot.workspace.control import rollback_parent
from autopilot.workspace.journal import Journal
from autopilot.workspace.layout import Workspace
from autopilot.workspace.ledger import FailureEntry
from autopilot.workspace.records import Case, Records, RunView
from autopilot.workspace.run_folder import RunFolder

SAFE_MODE_TIMESTEP_FRACTION = 0.5  # safe mode caps train.total_timesteps at half the baseline's
MANUAL_MAX_BYTES = 1_000_000  # a larger proposals/next_config.json is refused unread
RETRIES = 8  # times the proposer is asked again, each with a fresh seed, when all its proposals were invalid


@dataclass
class Intake:
    loaded: Loaded
    records: Records
    journal: Journal
    proposer: Proposer
    proposer_name: str
    seed: int
    budget_trials: int | None = None

    @property
    def ws(self) -> Workspace:
        return self.loaded.workspace

    def context(self, guard: GuardState, history: list[RunView]) -> Context:
        last = next((v for v in reversed(history) if v.summary), None)
        return Context(
            space=self.loaded.experiment.space,
            objective=self.loaded.experiment.objective,
            baseline=self.loaded.baseline,
            options=self.loaded.experiment.proposer,
            seed=self.seed,
            safe_mode=guard.safe_mode,
            last_analysis=(last.summary or {}).get("behavioral_analysis") if last else None,
            prompt=_read_text(self.ws.prompts / "llm.md"),
            workspace=self.ws.root,
            budget_trials=self.budget_trials,
        )

    def make_batch(self, history: list[RunView], guard: GuardState, n: int, dry_run: bool = False) -> list[Case]:
        """Manual override first, then the proposer, ``n`` proposals in all (the scheduler's number); every
        proposal validated, rejects to the ledger."""
        batch_size = max(1, n)
        proposals: list[Proposal] = []
        if self.proposer.runs_agent and not dry_run:
            self._run_agent(history)
        manual = self._manual_proposal(dry_run)
        if manual is not None:
            proposals.append(manual)
        wanted = batch_size - len(proposals)
        if self.proposer.runs_agent and manual is not None:
            if self.loaded.validate(manual.overrides).ok:
                manual.tags, manual.proposer = ["agent"], "agent"
                wanted = 0  # the agent's one experiment is the batch
            else:
                wanted = batch_size  # rejected below with its reasons; the GA proposes instead
        context = self.context(guard, history)
        made = self._propose(history, wanted, context, dry_run) if wanted > 0 else []
        cases = self._validated(proposals + made, history, guard, dry_run)
        for attempt in range(1, RETRIES + 1):
            if cases or not made:
                break
            # Every proposal broke a rule the ranges alone do not hold. Asked again with the same history, a
            # proposer would repeat itself (its draws are seeded by the history), so it gets a seed of its own.
            if not dry_run:
                self.journal.write(
                    "retry",
                    f"every proposal of {self.proposer_name} was invalid (see failures.json); "
                    f"asking again with a fresh seed ({attempt} of {RETRIES})",
                    key=f"retry:{batch_index(history)}:{self.seed}:{attempt}",
                )
            made = self._propose(history, wanted, context.derive(f"retry:{attempt}"), dry_run)
            cases = self._validated(made, history, guard, dry_run)
        if not dry_run:
            for case in cases:
                self.records.write_case(case)
                self.journal.write(
                    "propose",
                    f"{case.proposer} case {case.case_id} {_short(case.overrides)}",
                    key=f"propose:{case.case_id}",
                )
        return cases

    def _propose(self, history: list[RunView], wanted: int, context: Context, dry_run: bool) -> list[Proposal]:
        """The proposer's ``wanted`` proposals; its notes to the journal, the ones it refused to the ledger."""
        made = self.proposer.propose(history, wanted, context)
        for note in notes_of(made) if not dry_run else []:
            self.journal.write(self.proposer_name, note, key=f"note:{batch_index(history)}:{_digest(note)}")
        for reasons, overrides in refused_of(made) if not dry_run else []:
            self.records.add_failure(
                FailureEntry(
                    "invalid_config", "; ".join(reasons)[:4000], proposer=self.proposer_name, overrides=overrides
                )
            )
        if len(made) < wanted and not dry_run and self.proposer.fills_batches:
            self.journal.write(
                "short-batch",
                f"{self.proposer_name} proposed {len(made)} of {wanted}: no "
                "further novel config near the parents (every candidate repeated a recent run)",
                key=f"short:{batch_index(history)}:{self.seed}",
            )
        return list(made)

    def _validated(
        self, proposals: list[Proposal], history: list[RunView], guard: GuardState, dry_run: bool
    ) -> list[Case]:
        rollback = rollback_parent(self.ws, history)
        batch = batch_index(history)
        cases: list[Case] = []
        for index, proposal in enumerate(proposals):
            overrides = dict(proposal.overrides)
            if rollback is not None and "manual" not in proposal.tags:
                overrides = {**to_dotted(rollback.overrides), **to_dotted(overrides)}
                proposal.parent_ids = proposal.parent_ids or [rollback.id]
            if guard.safe_mode:
                overrides = self._safe_mode_cap(overrides)
            result = self.loaded.validate(overrides)
            case_id = case_id_for(self.seed, batch, index, result.normalized if result.ok else overrides)
            if not result.ok:
                if not dry_run:
                    self.reject(case_id, proposal.proposer, result.errors, overrides)
                continue
            tags = [*proposal.tags, *(["safe_mode"] if guard.safe_mode else [])]
            cases.append(
                Case(
                    case_id=case_id,
                    overrides=result.normalized,
                    parent_ids=proposal.parent_ids,
                    tags=tags,
                    proposer=proposal.proposer,
                    reasoning=proposal.reasoning,
                    seed=self.seed,
                    mode=self.loaded.mode,
                )
            )
        return cases

    def reject(self, case_id: str | None, proposer: str, errors: list[str], overrides: Any = None) -> None:
        """A refused proposal: one failures.json entry with every reason, and a journal line."""
        self.records.add_failure(
            FailureEntry("invalid_config", "; ".join(errors), case_id=case_id, proposer=proposer, overrides=overrides)
        )
        what = f"{proposer} proposal {case_id}" if case_id else f"{proposer} proposal"
        self.journal.write(
            "reject", f"{what} rejected: {'; '.join(errors)}"[:2000], key=f"reject:{case_id or _digest(str(errors))}"
        )

    def _run_agent(self, history: list[RunView]) -> None:
        opts = self.loaded.experiment.proposer.agent
        if not opts.command:
            self.journal.write(
                "agent",
                "proposer.agent.command is not set: the GA proposes instead",
                key=f"agent-unset:{batch_index(history)}",
            )
            return
        last = last_run_dir(history, self.ws.runs)
        template = _read_text(self.ws.prompts / "agent.md") or AGENT_PROMPT
        prompt = render_prompt(template, self.ws.root, self.loaded.experiment.objective, last)
        result = run_agent(opts, self.ws.root, prompt, last)
        outcome = "timed out" if result.timed_out else f"exit {result.exit_code}"
        self.journal.write(
            "agent",
            f"agent ran ({outcome}): {result.output_tail[-300:]}",
            key=f"agent:{batch_index(history)}:{utc_now()}",
        )

    def _manual_proposal(self, dry_run: bool) -> Proposal | None:
        """A non-empty proposals/next_config.json becomes a case tagged manual; the file is archived and reset.
        Anything that is not a JSON object of overrides is refused with its reason, archived, and reset."""
        path = self.ws.next_config
        if path.is_symlink() or (path.exists() and self.ws.root.resolve() not in path.resolve().parents):
            if not dry_run:
                self.reject(None, "manual", ["proposals/next_config.json is a symbolic link: refused and reset"])
                path.unlink()
                atomic_write_json(path, {})
            return None
        try:
            raw, problem = read_bytes(path, MANUAL_MAX_BYTES), ""
        except FileNotFoundError:
            return None
        except OSError as exc:
            raw, problem = b"", f"cannot be read ({exc.strerror or exc})"
        data = None
        if not problem:
            data, problem = parse_manual(raw)
        if problem:
            if not dry_run:
                try:
                    self._archive_manual(raw)
                    problem += "; archived and reset"
                except OSError as exc:  # e.g. a folder in its place: left for a person to clear
                    problem += f"; could not be reset ({exc.strerror})"
                self.reject(None, "manual", [f"proposals/next_config.json {problem}"])
            return None
        if not data:
            return None
        if not dry_run:
            self._archive_manual(raw)
        return Proposal(overrides=data, tags=["manual"], proposer="manual", reasoning="proposals/next_config.json")

    def _archive_manual(self, raw: bytes) -> None:
        archive = self.ws.root / "proposals" / "archive" / f"{utc_now().replace(':', '')}.json"
        atomic_write_text(archive, raw.decode("utf-8", errors="replace"))
        atomic_write_json(self.ws.next_config, {})

    def _safe_mode_cap(self, overrides: dict[str, Any]) -> dict[str, Any]:
        base_steps = to_dotted(self.loaded.baseline).get("train.total_timesteps")
        if not isinstance(base_steps, int):
            return overrides
        cap = max(int(base_steps * SAFE_MODE_TIMESTEP_FRACTION), 1)
        try:
            flat = to_dotted(overrides)
        except ValueError:
            return overrides  # validation names the problem
        steps = flat.get("train.total_timesteps", base_steps)
        if isinstance(steps, int) and not isinstance(steps, bool) and steps > cap:
            flat["train.total_timesteps"] = cap
        return flat

    def schedule_confirmation(
        self, run_id: str, history: list[RunView], why: str = "its better estimate rests on fewer seeds"
    ) -> None:
        """Queue a re-run of run ``run_id``'s override on a fresh seed, tagged confirm (once per run)."""
        seed_param = self.loaded.experiment.space.params.get("train.seed")
        record = next((v.record for v in history if v.id == run_id), None)
        if seed_param is None or record is None:
            return
        overrides = to_dotted(read_json_object(RunFolder(self.records.run_dir(record.id)).override))
        seed = int(record.seed or 0)
        assert seed_param.high is not None
        overrides["train.seed"] = (seed * 7919 + 104_729) % int(seed_param.high)
        case_id = case_id_for(self.seed, 0, 0, {"confirm": record.case_id, **overrides})
        if (self.ws.pending / f"{case_id}.json").exists() or any(v.record.case_id == case_id for v in history):
            return
        self.records.write_case(
            Case(
                case_id=case_id,
                overrides=overrides,
                parent_ids=[record.id],
                tags=["confirm"],
                proposer="confirm",
                seed=self.seed,
                mode=self.loaded.mode,
                reasoning=f"re-run of {record.id} on a fresh seed: {why}",
            )
        )
        self.journal.write(
            "confirm",
            f"run {record.id} re-run ({why}): confirmation case {case_id} "
            f"queued with train.seed={overrides['train.seed']}",
            key=f"confirm:{record.id}",
        )


def parse_manual(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """The override in proposals/next_config.json, or why it is not one. ``{}`` means no change."""
    try:
        return parse_json_object(raw, "proposals/next_config.json", allow_nan=False), ""
    except JSONInputError as exc:
        return None, f"is not JSON, or not an object ({str(exc)[:300]})"


def _digest(text: str) -> str:
    """A stable short key (Python's hash() differs between processes, so a restarted loop would repeat lines)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _read_text(path: Any) -> str | None:
    try:
        return read_text(path)
    except OSError:
        return None


def _short(overrides: dict[str, Any], limit: int = 6) -> str:
    items = list(overrides.items())
    text = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items[:limit])
    return text + (f", +{len(items) - limit} more" if len(items) > limit else "") if items else "(baseline)"
