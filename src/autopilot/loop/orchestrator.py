"""The orchestrator: pause check -> guardrails -> batch barrier -> propose + validate (intake) -> execute
(prepare, executor) -> record + analyse (settle), one iteration per batch. See docs/architecture.md.

The loop, never a proposer, owns launching, time limits, metrics and records. All state lives on disk: a loop
killed at any instant is replaced by a new one that rebuilds everything from the workspace.
"""

from __future__ import annotations

import contextlib
import errno
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from autopilot.analysis.failures import summary_problem
from autopilot.analysis.guardrails import GuardState, evaluate
from autopilot.analysis.promotion import Promotion
from autopilot.analysis.ranking import shown_estimate
from autopilot.config import to_dotted
from autopilot.executors.base import Executor, Job, TrialOutcome, TrialSpec
from autopilot.executors.local import LocalExecutor
from autopilot.executors.processes import end_trial_processes, group_members
from autopilot.experiment.loader import Loaded
from autopilot.ids import utc_now
from autopilot.loop.intake import Intake
from autopilot.loop.meta_review import meta_review
from autopilot.loop.preflight import preflight_problems
from autopilot.loop.prepare import Preparer, Rejection
from autopilot.loop.progress import Progress
from autopilot.loop.scheduler import Actions, Scheduler, batch_size, reserve_trials, trial_equivalent
from autopilot.loop.settle import Settled, Settler
from autopilot.proposers.base import history_for_proposers
from autopilot.proposers.registry import make_proposer
from autopilot.report.export import effective_params
from autopilot.report.html import write_report
from autopilot.tracking.mirror import Mirrors, NeptuneSink, Sink, TensorBoardSink, WandbSink
from autopilot.tracking.wandb_study import StudyRun
from autopilot.workspace.atomic import atomic_write_text, read_json
from autopilot.workspace.budget import Budget, start_budget, usage
from autopilot.workspace.control import pause_reason, window_start
from autopilot.workspace.journal import Journal
from autopilot.workspace.ledger import Failure, FailureEntry
from autopilot.workspace.lock import WorkspaceLock
from autopilot.workspace.records import Case, Records, RunRecord, RunView, read_config
from autopilot.workspace.run_folder import RunFolder

REPORT_EVERY_S = 30.0  # report.html is rendered at most this often while a study runs


POSITIVE_OPTIONS = (
    "iterations",
    "batch_size",
    "workers",
    "timeout_minutes",
    "stall_seconds",
    "pause_poll_s",
    "trials",
    "budget_steps",
    "budget_minutes",
)


@dataclass
class RunOptions:
    """Command-line choices; ``None`` means "as autopilot.yaml says"."""

    mode: str = "quick"
    iterations: int | None = 1
    nonstop: bool = False
    batch_size: int | None = None
    workers: int | None = None
    proposer: str | None = None
    seed: int | None = None
    executor: str | None = None
    ray_address: str | None = None
    timeout_minutes: float | None = None
    stall_seconds: float | None = None
    pause_poll_s: float = 30.0
    report: bool = True  # refresh report.html as the study runs and when it ends (the benchmarks turn it off)
    trials: int | None = None  # a budget: stop once this many trials have run (every trial counts)
    budget_steps: int | None = None  # a budget in environment steps
    budget_minutes: float | None = None  # no new trial starts after this many minutes (as Optuna's timeout)

    def __post_init__(self) -> None:
        # One check for every limit, whichever door it came in by (CLI, API, benchmark): a NaN compares false
        # with everything and would switch its limit off; a 0 or a negative is never meant.
        for name in POSITIVE_OPTIONS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"--{name.replace('_', '-')}: must be a finite number > 0, got {value!r}")


@dataclass
class LoopResult:
    exit_code: int
    message: str
    runs: list[str]


class Loop:
    def __init__(
        self,
        loaded: Loaded,
        options: RunOptions,
        progress: Progress | None = None,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,  # a simulated backend's virtual clock (the benchmarks)
    ) -> None:
        self.loaded = loaded
        self.ws = loaded.workspace
        self.exp = loaded.experiment
        self.options = options
        self.records = Records(self.ws)
        self.journal = Journal(self.ws.labbook)
        self.progress = progress or Progress(self.ws, self.exp.objective.metric)
        self.stop = threading.Event()
        self.stop_reason = ""
        self.proposer_name = options.proposer or self.exp.proposer.name
        self.seed = self.exp.proposer.seed if options.seed is None else options.seed
        self.workers = options.workers or self.exp.resources.workers
        self.executor = executor or self._make_executor()
        self.clock = clock
        budget_trials = trial_equivalent(options.trials, options.budget_steps, loaded.baseline)
        self.intake = Intake(
            loaded,
            self.records,
            self.journal,
            make_proposer(self.proposer_name),
            self.proposer_name,
            self.seed,
            budget_trials,
        )
        self.batch = batch_size(
            options.batch_size or self.exp.proposer.batch_size, self.workers, self.intake.proposer.sequential
        )
        self.preparer = Preparer(
            loaded,
            self.records,
            options.timeout_minutes or self.exp.resources.timeout_minutes,
            options.stall_seconds or self.exp.resources.stall_seconds,
        )
        self.scheduler = Scheduler(
            loaded,
            budget_trials,
            budgeted=options.trials is not None
            or options.budget_steps is not None
            or options.budget_minutes is not None,
            window_start=lambda: window_start(self.ws),
            early_stopping=self.intake.proposer.early_stopping,
        )
        tracking = self.exp.tracking
        mirrored = tracking.tensorboard or ((tracking.wandb or tracking.neptune) and self.exp.trainer.kind == "command")
        self.mirrors = Mirrors(self._tracking_sinks) if mirrored else None
        self.settler = Settler(loaded, self.records, self.journal, self.mirrors)
        self._write_lock = threading.Lock()
        self.study_run: StudyRun | None = None  # the study's W&B run (tracking.wandb), opened at the first trial
        self._budget: Budget | None = None  # this session's budget and deadline, for the study's progress line
        self._deadline: float | None = None
        self.finished_runs: list[str] = []
        self._report_due = 0.0  # time.monotonic() after which the report may be rendered again
        self._report_stale = False  # runs ended since the report was last rendered

    def _tracking_sinks(self, run_id: str, run_dir: Path) -> list[Sink]:
        """Where a trial's metrics are mirrored: TensorBoard (any trainer); W&B and Neptune for a command trainer
        (the PufferLib driver logs to them itself, through PufferLib's loggers)."""
        tracking = self.exp.tracking
        sinks: list[Sink] = []
        if tracking.tensorboard:
            sinks.append(TensorBoardSink(run_dir))
        if self.exp.trainer.kind == "command" and (tracking.wandb or tracking.neptune):
            tags = [self.records.read_run(run_id).proposer or ""]
            config = to_dotted(read_config(run_dir) or {})
            if tracking.wandb:
                sinks.append(WandbSink(self.ws.root, tracking.wandb_project, run_id, config, tags))
            if tracking.neptune:
                sinks.append(NeptuneSink(self.ws.root, tracking.neptune_project, run_id, config, tags))
        return sinks

    def _make_executor(self) -> Executor:
        kind = self.options.executor or self.exp.executor.kind
        if kind == "ray":
            from autopilot.executors.ray_cluster import RayExecutor  # optional extra, imported only when asked

            address = self.options.ray_address or self.exp.executor.ray_address
            return RayExecutor(self.workers, address, self.exp.resources, self.ws)
        return LocalExecutor(self.workers)

    # ------------------------------------------------------------------ entry points

    def run(self) -> LoopResult:
        """``autopilot run``: iterate until the iteration count or the budget, a pause, a halt or a signal. A
        study that cannot start exits 2 before any trial; one whose trials all failed exits 1."""
        problems = preflight_problems(self.loaded, self.proposer_name)
        if problems:
            return LoopResult(2, "cannot start the study: " + "; ".join(problems), [])
        return self._none_completed(self._finish_report(self._guarded(self._run)))

    def _none_completed(self, result: LoopResult) -> LoopResult:
        """``result``, or exit 1 when the loop ran trials and none of them completed (a CI job must not pass)."""
        if result.exit_code != 0 or not result.runs:
            return result
        views = [view for run_id in result.runs if (view := self.records.view(run_id)) is not None]
        if any(v.state in ("complete", "pruned") for v in views):
            return result
        classes = sorted({v.record.failure_class or v.state for v in views})
        return LoopResult(
            1,
            f"{result.message}; but none of its {len(result.runs)} trial(s) completed "
            f"({', '.join(classes)}; see failures.json)",
            result.runs,
        )

    def step(self) -> LoopResult:
        """``autopilot step``: run what is pending, then propose the next batch into cases/pending/, exit."""
        return self._finish_report(self._guarded(self._step))

    def _finish_report(self, result: LoopResult) -> LoopResult:
        """However the loop ended, the report shows every run it finished."""
        if self._report_stale:
            with contextlib.suppress(OSError):  # a vanished workspace has already been reported
                self.refresh_report(force=True)
        return result

    def _guarded(self, body: Callable[[], LoopResult]) -> LoopResult:
        """A full disk or a vanished workspace ends the loop with one line (exit 1), and PAUSE_AUTORUN where it
        can still be written; the records stay as they were (every write is atomic), and the next loop settles
        a run whose trainer had finished. The study's W&B run is closed however the loop ends."""
        try:
            return body()
        except OSError as exc:
            if not self.ws.root.is_dir():
                reason = f"the workspace {self.ws.root} is gone (renamed or deleted while the loop ran)"
            elif exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                reason = f"cannot write to the workspace: {exc.strerror} ({exc.filename or self.ws.root})"
            else:
                raise
            with contextlib.suppress(OSError):
                atomic_write_text(self.ws.pause_file, f"loop stopped: {reason}\n")
            return LoopResult(1, f"stopped: {reason}", self.finished_runs)
        finally:
            if self.study_run is not None:
                self.study_run.finish()
                self.study_run = None

    def _run(self) -> LoopResult:
        with WorkspaceLock(self.ws.lock_file), self._signals():
            self.recover()
            budget = None
            if self.options.trials is not None or self.options.budget_steps is not None:
                budget, resumed = start_budget(self.ws, self.options.trials, self.options.budget_steps, self.history())
                if resumed:
                    used = usage(self.ws, self.history(), budget)
                    self.progress.message(f"finishing the study begun {budget.since[:19]}Z ({used.describe(budget)})")
                else:  # a finished study's budget asked for again is a new study: say so, never silently
                    self.progress.message(f"starting a new study ({usage(self.ws, [], budget).describe(budget)} used)")
                    self._announce_small(budget)
            deadline = None if self.options.budget_minutes is None else self.clock() + 60 * self.options.budget_minutes
            self._budget, self._deadline = budget, deadline
            iteration = 0
            while True:
                if self.stop.is_set():
                    return self._stopped()
                history = self.history()  # one read a turn: no run ends between here and the batch
                finished = set(self.finished_runs)
                room, done = self.scheduler.room(
                    history,
                    budget,
                    None if deadline is None else deadline - self.clock(),
                    self.options.budget_minutes,
                    [v.record.wall_s or 0.0 for v in history if v.id in finished and v.state == "complete"],
                    self.workers,
                )
                if done is not None:
                    return LoopResult(0, f"done: {done}", self.finished_runs)
                paused = pause_reason(self.ws)
                if paused is not None:
                    if not self.options.nonstop:
                        return LoopResult(
                            0,
                            f"paused: {paused} (remove {self.ws.pause_file} or run `autopilot resume`)",
                            self.finished_runs,
                        )
                    self.progress.message(f"paused: {paused}; checking again in {self.options.pause_poll_s:g} s")
                    self.stop.wait(self.options.pause_poll_s)
                    continue
                guard = self.guard(history)
                if guard.halted:
                    continue  # the pause file now holds the reason; the branch above reports it
                actions = self.scheduler.next_actions(history, self.records.pending_cases(), room, self.batch)
                cases = self._carry_out(actions, guard, history)
                if not cases:
                    return LoopResult(1, "the proposer produced no valid case (see failures.json)", self.finished_runs)
                if actions.run_at_most is not None:
                    cases = cases[: actions.run_at_most]  # the rest stay pending for a later session
                self.journal.write(
                    "iteration",
                    f"{iteration + 1}: running {len(cases)} case(s)",
                    key=f"iteration:{'+'.join(c.case_id for c in cases)}:{cases[0].attempt}",
                )
                self.execute(cases)
                self.refresh_report()
                iteration += 1
                every = self.exp.proposer.llm.meta_review_every
                if self.intake.proposer.meta_reviews and every > 0 and iteration % every == 0:
                    meta_review(self.exp.proposer.llm, self.journal, self.ws.notes, iteration)
                if self.stop.is_set():
                    return self._stopped()
                unbounded = budget is not None or deadline is not None
                if self.options.nonstop or (unbounded and self.options.iterations is None):
                    continue  # until stopped, or until the budget is used
                if iteration >= (self.options.iterations or 1):
                    return LoopResult(0, f"done: {iteration} iteration(s)", self.finished_runs)

    def _announce_small(self, budget: Budget) -> None:
        """Say so when a trial budget leaves (almost) nothing to tune: its last trials re-run the top configs,
        and a proposer's first config is usually the baseline."""
        if budget.trials is None:
            return
        reserve = reserve_trials(budget.trials)
        if budget.trials - reserve <= 1:
            self.progress.message(
                f"note: {budget.trials} trial(s) hold {budget.trials - reserve} new config(s) and {reserve} final "
                "re-run(s) of the best; the first config is usually the baseline, so nothing may be tuned: give "
                "--trials 8 or more to tune"
            )

    def study_line(self, history: list[RunView], promotion: Promotion | None) -> str:
        """The study at a glance: trials (of the budget), steps, time left, and the champion so far."""
        parts = []
        if self._budget is not None:
            parts.append(usage(self.ws, history, self._budget).describe(self._budget))
        else:
            parts.append(f"{len(self.finished_runs)} trial(s) this session")
        if self._deadline is not None:
            parts.append(f"{max(0.0, self._deadline - self.clock()) / 60:.0f} min left")
        champion = promotion.champion if promotion is not None else None
        if promotion is None or champion is None:
            parts.append("no champion yet")
        else:
            estimate = shown_estimate(promotion, champion.id, self.exp.objective)
            seeds = promotion.estimates.get(champion.id, (0.0, 1))[1]
            shown = f"{estimate:.4g}" if isinstance(estimate, float) else "?"
            parts.append(f"champion {champion.id} ({self.exp.objective.metric} {shown} over {seeds} seed(s))")
        return "study: " + "; ".join(parts)

    def _carry_out(self, actions: Actions, guard: GuardState | None, history: list[RunView]) -> list[Case]:
        """Queue what the scheduler asked for; the cases to run, in the order they were queued."""
        for run_id in actions.confirmations:
            self.intake.schedule_confirmation(run_id, history)
        for run_id in actions.final_reruns:
            self.intake.schedule_confirmation(run_id, history, why="a final re-run of a top config")
        cases = self.records.pending_cases()
        if actions.proposals and not cases and guard is not None:
            cases = self.make_batch(guard, actions.proposals, history=history)
        return cases

    def _step(self) -> LoopResult:
        with WorkspaceLock(self.ws.lock_file), self._signals():
            self.recover()
            pending = self.records.pending_cases()
            if pending and pause_reason(self.ws) is None and not self.guard().halted:
                self.execute(pending)
                self.refresh_report()
                if self.stop.is_set():
                    return self._stopped()
            ran = f"ran {len(self.finished_runs)} case(s)"
            cases, gate = self._propose_next()
            if gate is not None:
                return LoopResult(0, f"{ran}; nothing proposed: {gate}", self.finished_runs)
            return LoopResult(0, f"{ran}; proposed {len(cases)} into {self.ws.pending}", self.finished_runs)

    def propose(self) -> tuple[list[Case], str | None]:
        """``autopilot propose``: the next batch into cases/pending/, unless paused, halted or cases wait."""
        with WorkspaceLock(self.ws.lock_file):
            return self._propose_next()

    def _propose_next(self) -> tuple[list[Case], str | None]:
        """The scheduler's next actions queued (confirmations first, else a batch), or why nothing may be."""
        gate, guard = self._proposal_gate()
        if gate is not None:
            return [], gate
        history = self.history()
        return self._carry_out(self.scheduler.next_actions(history, [], None, self.batch), guard, history), None

    def _proposal_gate(self) -> tuple[str | None, GuardState]:
        """Why no batch may be proposed now (pause, the batch barrier, a guardrail halt) or None, with the
        guardrail state the batch is then proposed under."""
        guard = self.guard()
        paused = pause_reason(self.ws)
        if paused is not None:
            return f"paused ({paused})", guard
        pending = self.records.pending_cases()
        if pending:
            return f"{len(pending)} case(s) still pending in {self.ws.pending} (batch barrier)", guard
        if guard.halted:
            return f"guardrail halt ({guard.halt_reason})", guard
        return None, guard

    # ------------------------------------------------------------------ state

    def history(self) -> list[RunView]:
        return self.records.history()

    def guard_readonly(self) -> GuardState:
        """The guardrail state, without writing the pause file (for --dry-run and status)."""
        return evaluate(self.history(), self.exp.guardrails, window_start(self.ws))

    def guard(self, history: list[RunView] | None = None) -> GuardState:
        since = window_start(self.ws)
        history = self.history() if history is None else history
        state = evaluate(history, self.exp.guardrails, since)
        if state.halted:
            atomic_write_text(self.ws.pause_file, f"guardrail halt: {state.halt_reason}\n")
            self.journal.write(
                "guardrail",
                f"halt: {state.halt_reason}; wrote PAUSE_AUTORUN",
                key=f"halt:{state.halt_reason}:{since}",
            )
        elif state.safe_mode:
            self.journal.write(
                "guardrail",
                f"safe mode: {state.describe()}",
                key=f"safe:{state.window_size}:{state.fail_rate:.3f}:{len(history)}",
            )
        return state

    def recover(self) -> None:
        """Runs left pending/running by a dead loop become failed/interrupted; their case is re-queued once.
        Files in cases/pending/ that are not valid cases (hand-written, truncated, links) are moved aside."""
        if not self.ws.labbook.exists():  # `init` writes it: a missing one was deleted, and a new one says so
            self.journal.write(
                "journal",
                "labbook.md was missing and is recreated here: the lines before this one are lost (runs/ and "
                "failures.json still hold every run)",
            )
        for run_id in self.settler.rebuild_damaged_summaries():
            self.journal.write("recover", f"run {run_id}: damaged summary.json rebuilt from its own files")
        for name in self.records.quarantine_invalid_cases():
            self.journal.write("reject", f"cases/pending/{name[:200]} is not a valid case: moved to cases/rejected/")
        for view in self.history():
            if view.state not in ("pending", "running"):
                continue
            left = view.state
            record = view.record
            _end_orphans(record)
            folder = RunFolder(self.records.run_dir(record.id))
            if left == "running" and summary_problem(folder.trainer_summary) is None:
                # Its trainer finished and wrote a valid summary before the loop died: settle it, do not re-run.
                spec = TrialSpec(record.id, [], folder.path, {}, 0.0, 0.0)
                self._on_finish(spec, TrialOutcome(record.id, exit_code=0, detail="settled by the next loop"))
                self.journal.write(
                    "recover",
                    f"run {record.id} was left running by a dead loop, but its trainer had finished: settled",
                    key=f"recover:{record.id}",
                )
                continue
            record.state = "failed"
            record.ended = utc_now()
            record.failure = Failure("interrupted", "the loop driving this run died before it finished").to_dict()
            self.records.write_run(record)
            self.records.add_failure(FailureEntry("interrupted", record.failure["reason"], record.id, record.case_id))
            self.journal.write(
                "recover",
                f"run {record.id} was left {left} by a dead loop: interrupted",
                key=f"recover:{record.id}",
            )
            self._requeue_once(record.case_id, record.attempt, "its loop died mid-run")
        for line in self.records.strays():
            self.journal.write("recover", line, key=f"stray:{line[:80]}")
        self.settler.note_champion(self.history())

    def make_batch(
        self, guard: GuardState, n: int | None = None, dry_run: bool = False, history: list[RunView] | None = None
    ) -> list[Case]:
        """``n`` new proposals (a batch when None), validated, into cases/pending/ (nowhere with ``dry_run``)."""
        history = self.history() if history is None else history
        return self.intake.make_batch(history_for_proposers(history), guard, n or self.batch, dry_run)

    # ------------------------------------------------------------------ executing

    def execute(self, cases: list[Case]) -> None:
        jobs: list[Job] = [self._job(case) for case in cases]
        self.progress.begin()
        if self.mirrors is not None:
            self.mirrors.begin()
        try:
            self.executor.run(jobs, self._on_start, self._on_finish, self.stop)
        finally:
            if self.mirrors is not None:
                self.mirrors.end()
            self.progress.end()

    def _job(self, case: Case) -> Job:
        def prepare() -> TrialSpec | None:
            if pause_reason(self.ws) is not None:
                return None  # honoured before the next case starts; the case stays pending
            history = self.history()  # read once: the trial's config and its early-stopping peers
            prepared = self.preparer.prepare(case, history)
            if isinstance(prepared, Rejection):
                with self._write_lock:
                    self.intake.reject(case.case_id, case.proposer, prepared.errors, case.overrides)
                    self.records.remove_case(case.case_id)
                return None
            return replace(prepared, should_stop=self.scheduler.stopper(prepared.run_dir, case.tags, history))

        return prepare

    def _on_start(self, spec: TrialSpec, pid: int | None) -> None:
        with self._write_lock:
            record = self.records.read_run(spec.run_id)
            record.state = "running"
            record.started = utc_now()
            record.pid = pid
            self.records.write_run(record)
            self.journal.write(
                "run-start", f"run {spec.run_id} (case {record.case_id}, {record.proposer})", key=f"start:{spec.run_id}"
            )
            self.progress.started(spec)
        if self.mirrors is not None:  # outside the lock: a tracking tool may take seconds to start
            self.mirrors.start(spec.run_id, spec.run_dir)

    def _on_finish(self, spec: TrialSpec, outcome: TrialOutcome) -> None:
        with self._write_lock:
            settled = self.settler.settle(spec, outcome)
            record = settled.record
            if settled.requeue:
                self._requeue_once(record.case_id, record.attempt, settled.requeue)
            history = settled.history
            self._carry_out(self.scheduler.on_trial_end(history, self.records.pending_cases()), None, history)
            self.finished_runs.append(record.id)
            self.progress.finished(record, settled.summary)
            self.progress.study(self.study_line(history, settled.promotion))
            self._track(history, settled)

    def _track(self, history: list[RunView], settled: Settled) -> None:
        """The study's W&B run (tracking.wandb): the trial's summary, failure class and the champion so far."""
        if not self.exp.tracking.wandb:
            return
        try:
            if self.study_run is None:
                self.study_run = StudyRun(self.ws.root, self.exp.tracking.wandb_project)
            view = next(v for v in history if v.id == settled.record.id)
            index = [v.id for v in history].index(view.id) + 1
            params = effective_params(self.ws, self.exp, view)
            self.study_run.trial_ended(index, view, settled.promotion.champion, self.exp.objective.metric, params)
        except Exception as exc:  # a tracking tool must never stop the loop; the journal says why
            self.journal.write("tracking", f"W&B study run not updated: {exc!r}"[:500])

    def refresh_report(self, force: bool = False) -> None:
        """Rewrite report.html after a turn, at most every ``REPORT_EVERY_S`` and at most a tenth of the loop's
        time (its plots grow with the history), and when the loop ends; a broken report is journalled, never
        allowed to stop the loop."""
        self._report_stale = True
        if not self.options.report or (not force and time.monotonic() < self._report_due):
            return
        started = time.monotonic()
        try:
            write_report(self.ws, self.exp, self.loaded.baseline)
        except Exception as exc:  # plotting can fail on odd data; the records are what matter
            self.journal.write("report", f"report.html not refreshed: {exc!r}", key=f"report:{utc_now()}")
        took = time.monotonic() - started
        self._report_due = time.monotonic() + max(REPORT_EVERY_S, 9 * took)
        self._report_stale = False

    def _requeue_once(self, case_id: str, attempt: int, why: str) -> None:
        """Give a pending case one more attempt; after a second mishap it is dropped (both journalled)."""
        path = self.ws.pending / f"{case_id}.json"
        if not path.exists():
            return
        if attempt < 1:
            self.records.write_case(replace(Case.from_dict(read_json(path)), attempt=attempt + 1))
            self.journal.write(
                "requeue",
                f"case {case_id} re-queued: {why} (attempt {attempt + 1})",
                key=f"requeue:{case_id}:{attempt + 1}",
            )
        else:
            self.records.remove_case(case_id)
            self.journal.write("drop", f"case {case_id} dropped: {why}, a second time", key=f"drop:{case_id}")

    # ------------------------------------------------------------------ signals

    def _signals(self) -> _SignalScope:
        return _SignalScope(self)

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.stop.set()

    def _stopped(self) -> LoopResult:
        self.journal.write("stop", f"loop stopped: {self.stop_reason}", key=f"stop:{utc_now()}")
        return LoopResult(
            130,
            f"stopped: {self.stop_reason}; running trials were terminated and recorded as killed",
            self.finished_runs,
        )


class _SignalScope:
    """SIGINT/SIGTERM set the loop's stop flag (only in the main thread; elsewhere signals stay as they are)."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _SignalScope:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        self.loop.request_stop(f"received {signal.Signals(signum).name}")

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _end_orphans(record: RunRecord) -> None:
    """A trainer can outlive a loop killed with -9 (it runs in its own session), and so can anything it
    started: end its process group and every process carrying the run's id."""
    import socket

    if record.host != socket.gethostname():
        return
    group: int | None = None
    members: tuple[int, ...] = ()
    if record.pid is not None:
        try:  # the pid may have been reused since: a live leader is ours only if it carries this run's id
            ours = f"AUTOPILOT_RUN_ID={record.id}".encode() in Path(f"/proc/{record.pid}/environ").read_bytes().split(
                b"\0"
            )
            group = record.pid if ours else None
        except OSError:  # the leader is gone; its group lives on in the members it started
            started = _epoch(record.started)
            members = tuple(group_members(record.pid, started)) if started is not None else ()
    end_trial_processes(group, record.id, wait_s=10.0, members=members)


def _epoch(stamp: str | None) -> float | None:
    """A record's UTC time (``2026-01-01T00:00:00.123456Z``) as epoch seconds; None when absent or unreadable."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
