"""The Python API, for notebooks and scripts: the same loop as the CLI, on a workspace opened by path.

import autopilot
study = autopilot.open("ws")                 # scaffolds the built-in task when the folder has no workspace
study.run(trials=8)                          # a budgeted study, as ``autopilot run --trials 8``
study.champion                               # the run the loop hands you (or None)
study.dataframe()                            # one row per run (pandas)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopilot.analysis.promotion import decide
from autopilot.experiment.loader import Loaded, load
from autopilot.experiment.scaffold import scaffold
from autopilot.loop.orchestrator import Loop, LoopResult, RunOptions
from autopilot.loop.progress import Progress
from autopilot.report.export import run_rows, to_optuna, write_csv
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records, RunView


class Study:
    """A workspace and its runs. Every call reads the records afresh: a loop in another process (``autopilot
    run``) and this object see the same study."""

    def __init__(self, path: str | Path, mode: str = "quick") -> None:
        # Absolute: trainers run with their run folder as working directory, so a relative path would break.
        self.workspace = Workspace(Path(path).expanduser().absolute())
        self.mode = mode

    def loaded(self) -> Loaded:
        return load(self.workspace, self.mode)

    def run(
        self,
        trials: int | None = None,
        budget_steps: int | None = None,
        iterations: int | None = None,
        quiet: bool = False,
        **options: Any,
    ) -> LoopResult:
        """Run the loop: with ``trials`` or ``budget_steps`` until that budget is used, else ``iterations``
        batches (default 1). Other keywords are :class:`RunOptions` fields (proposer, seed, batch_size,
        workers, executor, timeout_minutes, ...)."""
        loaded = self.loaded()
        budgeted = trials is not None or budget_steps is not None or options.get("budget_minutes") is not None
        run_options = RunOptions(
            mode=self.mode,
            iterations=iterations if iterations is not None else (None if budgeted else 1),
            trials=trials,
            budget_steps=budget_steps,
            **options,
        )
        progress = Progress(self.workspace, loaded.experiment.objective.metric, live=False)
        if quiet:
            progress.message = lambda text: None  # type: ignore[method-assign]
        return Loop(loaded, run_options, progress=progress).run()

    @property
    def runs(self) -> list[RunView]:
        return Records(self.workspace).history()

    @property
    def champion(self) -> RunView | None:
        exp = self.loaded().experiment
        return decide(self.runs, exp.objective, self.workspace.runs).champion

    def rows(self) -> list[dict[str, Any]]:
        return run_rows(self.workspace, self.loaded().experiment)

    def dataframe(self) -> Any:
        """One row per run (``pandas.DataFrame``): state, score, interval, failure class, the champion flag,
        ``params.<key>`` and ``metrics.<name>`` columns."""
        import pandas as pd

        return pd.DataFrame(self.rows())

    def to_csv(self, path: str | Path) -> Path:
        return write_csv(self.rows(), Path(path))

    def to_optuna(self, storage: str, study_name: str | None = None) -> Any:
        """An ``optuna.Study`` in ``storage`` with one trial per finished run (see ``autopilot export optuna``)."""
        return to_optuna(self.workspace, self.loaded().experiment, storage, study_name)


def open(path: str | Path, trainer: str = "builtin", mode: str = "quick", **init: Any) -> Study:
    """The study in ``path``; a folder with no workspace gets one (``trainer``, and ``autopilot init``'s other
    choices: env, python, force)."""
    study = Study(path, mode)
    if not study.workspace.exists():
        scaffold(study.workspace.root, trainer, **init)
    return study
