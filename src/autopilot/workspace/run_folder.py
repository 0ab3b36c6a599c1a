"""The files of one run folder ``runs/<run_id>/``: one place for their names (docs/architecture.md).

The loop writes the record files, the trainer writes its own (metrics, summary, episodes, checkpoints); both
sides take the names from here, so a renamed file cannot drift between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RUN_FILE = "run.json"
OVERRIDE_FILE = "override.json"
CONFIG_FILE = "config.json"
CONFIG_DIFF_FILE = "config_diff.json"
TRAIN_LOG = "train.log"
METRICS_FILE = "metrics.jsonl"
TRAINER_SUMMARY_FILE = "trainer_summary.json"
EVAL_FILE = "eval_episodes.jsonl"
SUMMARY_FILE = "summary.json"
NOTES_FILE = "notes.txt"
CHECKPOINTS = "checkpoints"
EVALS = "evals"

# What a remote worker sends back for every trial, finished or not (the checkpoints travel separately).
TRAINER_OUTPUTS = (TRAIN_LOG, METRICS_FILE, TRAINER_SUMMARY_FILE, EVAL_FILE)


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run's files; creating nothing, reading nothing."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def run_json(self) -> Path:
        return self.path / RUN_FILE

    @property
    def override(self) -> Path:
        return self.path / OVERRIDE_FILE

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def config_diff(self) -> Path:
        return self.path / CONFIG_DIFF_FILE

    @property
    def train_log(self) -> Path:
        return self.path / TRAIN_LOG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def trainer_summary(self) -> Path:
        return self.path / TRAINER_SUMMARY_FILE

    @property
    def eval_episodes(self) -> Path:
        return self.path / EVAL_FILE

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY_FILE

    @property
    def notes(self) -> Path:
        return self.path / NOTES_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def evals(self) -> Path:
        return self.path / EVALS
