"""The Python API, for notebooks and scripts: the same loop as the CLI, on a workspace opened by path.

import autopilot
study = autopilot.open("ws", create=True)    # create: scaffold the built-in task when the folder has none
study.run(trials=8)                          # a budgeted study, as ``autopilot run --trials 8``
study.champion                               # the run the loop hands you (or None)
study.best_value, study.best_params          # its config's estimate and values, as Optuna's study names them
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

    @property
    def best_trial(self) -> Any:
        """The champion's config as an ``optuna.trial.FrozenTrial`` (``.value``: its estimate over its seeds,
        ``.params``, ``.user_attrs``), from the in-memory Optuna export; None before a run completed."""
        study = self.to_optuna()
        try:
            return study.best_trial
        except ValueError:  # no completed trial yet
            return None

    @property
    def best_value(self) -> float | None:
        """The champion config's estimate (its seeds pooled), in the objective's units."""
        best = self.best_trial
        return None if best is None else float(best.value)

    @property
    def best_params(self) -> dict[str, Any]:
        """The values the champion trained with, for every searched key."""
        best = self.best_trial
        return {} if best is None else dict(best.params)

    def rows(self) -> list[dict[str, Any]]:
        return run_rows(self.workspace, self.loaded().experiment)

    def dataframe(self) -> Any:
        """One row per run (``pandas.DataFrame``), named as Optuna's ``trials_dataframe`` names its columns:
        state, score, interval, failure class, ``config_id`` with the config's ``estimate`` and ``seeds``, the
        champion flag, ``params_<key>`` and ``metrics_<name>``; ``created`` as a timestamp."""
        import pandas as pd

        frame = pd.DataFrame(self.rows())
        if "created" in frame:
            frame["created"] = pd.to_datetime(frame["created"], utc=True, format="ISO8601")
        return frame

    def to_csv(self, path: str | Path) -> Path:
        return write_csv(self.rows(), Path(path))

    def to_optuna(self, storage: str | None = None, study_name: str | None = None) -> Any:
        """An ``optuna.Study`` with one trial per config (see ``autopilot export optuna``): in ``storage``
        (replacing a study of that name there), or in memory when None."""
        return to_optuna(self.workspace, self.loaded().experiment, storage, study_name)


def open(path: str | Path, create: bool = False, trainer: str = "builtin", mode: str = "quick", **init: Any) -> Study:
    """The study in ``path``. A folder with no workspace is an error (a typo must not start a new study)
    unless ``create``: then it gets one (``trainer``, and ``autopilot init``'s other choices: env, python,
    force)."""
    study = Study(path, mode)
    if not study.workspace.exists():
        if not create:
            raise FileNotFoundError(
                f"no autopilot workspace at {study.workspace.root} (no autopilot.yaml there); "
                f"autopilot.open({str(path)!r}, create=True) makes one"
            )
        scaffold(study.workspace.root, trainer, **init)
    return study
