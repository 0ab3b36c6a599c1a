"""An ended trial to the records: its state and failure class, summary.json, the champion, checkpoints kept,
the leaderboard, a confirmation when a lead is inconclusive, the journal line and the git commit.

The pending case is removed only once the run's record is final, so a loop killed in between re-runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopilot.analysis.failures import last_log_line, output_problem, summary_problem
from autopilot.analysis.promotion import Promotion, contenders, decide
from autopilot.analysis.summary import analyse
from autopilot.config import to_dotted
from autopilot.executors.base import TrialOutcome, TrialSpec
from autopilot.experiment.loader import Loaded
from autopilot.ids import utc_now
from autopilot.report.export import effective_params
from autopilot.report.leaderboard import read_champion, write_leaderboard
from autopilot.tracking.mirror import Mirrors, finite
from autopilot.trainers.protocol import TRAINER_FAILURE_CLASSES
from autopilot.workspace.atomic import atomic_write_json
from autopilot.workspace.checkpoints import apply_save_strategy
from autopilot.workspace.gitrecords import commit_run
from autopilot.workspace.journal import Journal
from autopilot.workspace.ledger import FAILURE_CLASSES, Failure, FailureEntry
from autopilot.workspace.records import Records, RunRecord, RunView, read_config
from autopilot.workspace.run_folder import RunFolder

# The executor's reason for stopping a trial -> (run state, failure class).
STOPPED_BY = {
    "not_found": ("failed", "trainer_not_found"),
    "worker_lost": ("failed", "worker_lost"),
    "timeout": ("timeout", "timeout"),
    "stalled": ("timeout", "stalled"),
    "stop": ("killed", "killed"),
    "output_limit": ("failed", "output_limit"),
}


def classify(outcome: TrialOutcome, folder: RunFolder, max_output_bytes: int) -> tuple[str, Failure | None]:
    """``(state, failure)`` from the outcome, the trainer's output files, its last log line and its summary."""
    if outcome.stopped_by in STOPPED_BY:
        state, failure_class = STOPPED_BY[outcome.stopped_by]
        return state, Failure(failure_class, outcome.detail)
    unreadable = output_problem(folder, max_output_bytes)
    if unreadable is not None:  # before anything reads them: a link out, an endless device, a huge file
        return "failed", Failure(*unreadable)
    if outcome.stopped_by == "pruned":
        return "pruned", None
    if outcome.exit_code == 0:
        problem = summary_problem(folder.trainer_summary)
        if problem:
            return "failed", Failure("missing_summary", f"exit 0 but {problem}")
        return "complete", None
    last = last_log_line(folder.train_log)
    named, _, text = last.partition(": ")
    if named in TRAINER_FAILURE_CLASSES and named in FAILURE_CLASSES and text:
        return "failed", Failure(named, text)
    if outcome.signal:
        hint = " (possibly out of memory)" if outcome.signal == "SIGKILL" else ""
        return "failed", Failure("crash", f"killed by {outcome.signal}{hint}; last output: {last[:300]}")
    return "failed", Failure("crash", f"exit code {outcome.exit_code}; last output: {last[:300]}")


@dataclass
class Settled:
    """What settling a trial decided, for the loop to act on (settle itself queues nothing)."""

    record: RunRecord
    summary: dict[str, Any] | None
    promotion: Promotion
    history: list[RunView]  # every run, this one settled
    requeue: str | None = None  # why the run's case deserves another attempt (a lost worker), if it does


@dataclass
class Settler:
    loaded: Loaded
    records: Records
    journal: Journal
    mirrors: Mirrors | None = None  # the trials' live tracking (TensorBoard, W&B), closed as each trial settles

    def summarise(self, run_dir: Path, others: list[RunView]) -> dict[str, Any]:
        """Analyse a completed run against the runs before it and write its summary.json."""
        exp = self.loaded.experiment
        previous = next((v for v in reversed(others) if v.state == "complete"), None)
        champion = decide(others, exp.objective, self.records.ws.runs).champion
        summary = analyse(run_dir, exp.objective, exp.trainer.metrics, exp.analysis.behavior_rules, previous, champion)
        atomic_write_json(RunFolder(run_dir).summary, summary)
        return summary

    def rebuild_damaged_summaries(self) -> list[str]:
        """Complete runs whose summary.json cannot be read get it rebuilt from their own files; returns their
        ids (a run whose files no longer give a summary is left as it is, and ``status`` keeps naming it)."""
        history = self.records.history()
        rebuilt = []
        for i, view in enumerate(history):
            if view.state != "complete" or view.summary is not None:
                continue
            try:
                self.summarise(self.records.run_dir(view.id), history[:i])
            except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
                continue
            rebuilt.append(view.id)
        return rebuilt

    def _close_mirror(self, run_id: str, run_dir: Path, summary: dict[str, Any] | None, history: list[RunView]) -> None:
        """The trial's tracking ends: its held-out result and hyperparameters (tools' problems journalled)."""
        assert self.mirrors is not None
        final = {k: float(v) for k, v in ((summary or {}).get("metrics") or {}).items() if finite(v)}
        view = next((v for v in history if v.id == run_id), None)
        params = effective_params(self.records.ws, self.loaded.experiment, view) if view else {}
        self.mirrors.close(run_id, run_dir, final, params)
        for problem in self.mirrors.take_problems():
            self.journal.write("tracking", problem)

    def note_champion(self, history: list[RunView], promotion: Promotion | None = None) -> Promotion:
        """Write the leaderboard for ``history``; a champion other than the one it named before is journalled
        with the reason (a better estimate, or the old champion's record no longer readable)."""
        exp = self.loaded.experiment
        promotion = promotion or decide(history, exp.objective, self.records.ws.runs)
        before = read_champion(self.records.ws)
        write_leaderboard(self.records.ws, history, exp.objective, promotion)
        after = promotion.champion.id if promotion.champion else None
        if before == after:
            return promotion
        if before is not None and all(v.id != before for v in history):
            why = f"run {before}'s record can no longer be read (run.json missing or damaged), so it is out of the pick"
        elif after is not None:
            why = promotion.evidence.get(after, "the best estimate")
        else:
            why = "no completed run has a score"
        key = f"champion:{before}:{after}:{len(history)}"
        self.journal.write("champion", f"{before or 'none'} -> {after or 'none'}: {why}", key=key)
        return promotion

    def settle(self, spec: TrialSpec, outcome: TrialOutcome) -> Settled:
        """Record the outcome; analyse a completed run; decide the champion."""
        exp = self.loaded.experiment
        ws = self.records.ws
        folder = RunFolder(spec.run_dir)
        restored = self.records.restore_records(spec.run_id)  # before anything in the folder is read
        for line in restored.lines:
            self.journal.write("records", f"run {spec.run_id}: {line}", key=f"restored:{spec.run_id}:{line[:40]}")
        record = self.records.read_run(spec.run_id)
        state, failure = classify(outcome, folder, int(exp.resources.max_output_mb * 2**20))
        if restored.folder_replaced:
            state, failure = "failed", Failure("bad_output", restored.lines[0])
        before = self.records.history()
        summary = None
        if state == "complete":
            try:
                summary = self.summarise(spec.run_dir, [v for v in before if v.id != spec.run_id])
            except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
                reason = str(exc)[:300] or type(exc).__name__
                state, failure = "failed", Failure("missing_summary", f"trainer summary unusable: {reason}")
            if summary is not None and summary.get("missing_metric"):
                state, failure = "failed", Failure("missing_metric", str(summary["missing_metric"]))
        record.state = state
        record.ended = utc_now()
        record.exit_code = outcome.exit_code
        record.signal = outcome.signal
        record.wall_s = outcome.wall_s
        record.failure = failure.to_dict() if failure else None
        record.pruned_reason = outcome.detail if state == "pruned" else None
        self.records.write_run(record)
        if failure is not None:
            self.records.add_failure(
                FailureEntry(failure.failure_class, failure.reason, record.id, record.case_id, record.proposer)
            )
        requeue = None
        case_path = ws.pending / f"{record.case_id}.json"
        if state == "killed" and case_path.exists():
            pass  # stopped by the user: the case stays pending and runs again next time
        elif failure is not None and failure.failure_class == "worker_lost":
            requeue = "its worker was lost"
        else:
            self.records.remove_case(record.case_id)
        # Settling holds the loop's write lock: no other record changed since ``before``, only this run's.
        history = [(self.records.view(v.id) or v) if v.id == record.id else v for v in before]
        promotion = decide(history, exp.objective, ws.runs)
        best = promotion.champion
        strategy = to_dotted(read_config(spec.run_dir) or {}).get("autopilot.save_strategy", "best")
        for refusal in apply_save_strategy(ws, history, str(strategy), contenders(history, promotion)).refused:
            self.journal.write("checkpoints", refusal, key=f"refused:{refusal}")
        self.note_champion(history, promotion)
        metric = exp.objective.metric
        value = (summary or {}).get("metrics", {}).get(metric)
        text = f"run {record.id} {state}"
        text += f" {metric}={value:.4g}" if isinstance(value, float) else ""
        text += f" ({failure.failure_class}: {failure.reason})" if failure else ""
        if best is not None and best.id == record.id:
            text += "; new best"
        self.journal.write("run-end", text, key=f"end:{record.id}")
        if self.mirrors is not None:
            self._close_mirror(record.id, spec.run_dir, summary, history)
        if exp.git.commit_per_run:
            problem = commit_run(ws.root, record.id, f"autopilot: {text}")
            if problem and problem != "nothing to commit":
                self.journal.write(
                    "git", f"records of run {record.id} not committed: {problem}", key=f"git:{record.id}"
                )
        self.records.release(record.id)
        return Settled(record, summary, promotion, history, requeue)
