"""``random``, ``tpe`` and ``cmaes`` through Optuna's ask/tell API.

Each call replays the history into a fresh in-memory study (complete runs with their objective, failed runs
as FAIL, pruned as PRUNED, pending cases as RUNNING; constraints through Optuna's constraints support), asks
``n`` trials, and maps them to overrides. Nothing is stored: the history on disk is the only state.
"""

from __future__ import annotations

import contextlib
import copy
import math
import types
import warnings
from collections.abc import Iterator
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from autopilot.config import to_dotted
from autopilot.proposers.base import Context, Proposal, Proposer, batch_index, history_for_proposers
from autopilot.space import SearchSpace
from autopilot.workspace.records import RunView

STATE = {
    "complete": TrialState.COMPLETE,
    "failed": TrialState.FAIL,
    "timeout": TrialState.FAIL,
    "pruned": TrialState.PRUNED,
    "pending": TrialState.RUNNING,
    "running": TrialState.RUNNING,
}


def distributions(space: SearchSpace, bounds: str = "tune") -> dict[str, BaseDistribution]:
    """Optuna distributions of the tunable keys, over their tune ranges (``bounds="safe"``: the safe ranges,
    for exporting runs whose values lie anywhere validation accepts)."""
    out: dict[str, BaseDistribution] = {}
    for name, p in sorted(space.params.items()):
        if not p.tunable:
            continue
        tune_bounds = p.tune_bounds if bounds == "tune" else (lambda p=p: (p.low, p.high))
        if p.type == "bool":
            out[name] = CategoricalDistribution([False, True])
        elif p.type == "categorical":
            out[name] = CategoricalDistribution(list(p.choices))
        elif p.type == "pow2":
            low, high = tune_bounds()
            out[name] = CategoricalDistribution(
                [2**k for k in range(max(0, math.ceil(math.log2(max(low, 1)))), math.floor(math.log2(high)) + 1)]
            )
        elif p.type == "int":
            low, high = tune_bounds()
            out[name] = IntDistribution(math.ceil(low), math.floor(high), log=p.scale == "log" and low > 0)
        else:
            low, high = tune_bounds()
            out[name] = FloatDistribution(float(low), float(high), log=p.scale == "log" and low > 0)
    return out


def constraint_attrs(view: RunView, context: Context) -> dict[str, float]:
    """Optuna's convention (system attrs ``constraints:<name>``): a value <= 0 is satisfied; an unknown metric
    counts as violated."""
    attrs = {}
    for c in context.objective.constraints:
        metric = view.metrics.get(c.metric)
        bound = "max" if c.max is not None else "min"
        if metric is None:
            value = 1.0
        elif c.max is not None:
            value = float(metric) - c.max
        else:
            assert c.min is not None
            value = c.min - float(metric)
        attrs[f"constraints:{c.metric}_{bound}"] = value
    return attrs


class ReplayCache:
    """Trials already replayed, by run: a finished run's trial never changes, so a proposer that lives across
    batches (the loop keeps one) converts only the runs that are new or still running since its last call."""

    def __init__(self) -> None:
        self.key: tuple[Any, ...] | None = None
        self.trials: dict[str, FrozenTrial | None] = {}

    def get(self, context: Context, dists: dict[str, BaseDistribution]) -> dict[str, FrozenTrial | None]:
        key = (repr(sorted(dists.items())), repr(context.objective), repr(sorted(to_dotted(context.baseline).items())))
        if key != self.key:  # another space, objective or baseline: nothing cached applies
            self.key, self.trials = key, {}
        return self.trials


def replay(
    history: list[RunView],
    context: Context,
    dists: dict[str, BaseDistribution],
    cache: ReplayCache | None = None,
) -> list[FrozenTrial]:
    """The history as Optuna trials, oldest first."""
    known = cache.get(context, dists) if cache is not None else {}
    base = to_dotted(context.baseline)
    trials = []
    for view in history:
        if view.id in known:
            cached = known[view.id]
            if cached is not None:
                trials.append(cached)
            continue
        trial = _trial(view, context, dists, base)
        if cache is not None and STATE.get(view.state) not in (None, TrialState.RUNNING):  # final: never changes
            known[view.id] = trial
        if trial is not None:
            trials.append(trial)
    return trials


def _trial(
    view: RunView, context: Context, dists: dict[str, BaseDistribution], base: dict[str, Any]
) -> FrozenTrial | None:
    overrides = to_dotted(view.overrides)
    state = STATE.get(view.state)
    if state is None:
        return None
    params = {k: overrides.get(k, base.get(k)) for k in dists}
    if any(not contains(dists[k], v) for k, v in params.items()):
        return None  # set outside the tune ranges (by hand): Optuna cannot hold it
    value = None
    if state == TrialState.COMPLETE:
        score = view.metrics.get(context.objective.metric)
        if score is None:
            state = TrialState.FAIL
        else:
            value = float(score)
    return create_trial(
        state=state,
        value=value,
        params=params,
        distributions=dists,
        system_attrs=constraint_attrs(view, context),
    )


def contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` lies in ``dist`` (Optuna cannot hold a trial whose params do not)."""
    if value is None:
        return False
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


class OptunaProposer(Proposer):
    """Base for the Optuna-backed proposers; subclasses choose the sampler."""

    name = "optuna"
    sequential = True

    def __init__(self) -> None:
        self.replayed = ReplayCache()

    def sampler(self, seed: int, context: Context) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def propose(self, history: list[RunView], n: int, context: Context) -> list[Proposal]:
        history = history_for_proposers(history)
        dists = distributions(context.space)
        if not dists:
            return []
        seed = (context.seed * 1_000_003 + batch_index(history) * 7919 + len(self.name)) % 2**31
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
            sampler = self.sampler(seed, context)
            study = optuna.create_study(
                direction="maximize" if context.objective.mode == "max" else "minimize", sampler=sampler
            )
            with _no_template_copies():
                study.add_trials(self.continued(sampler, replay(history, context, dists, self.replayed), history))
            out = []
            for _ in range(n):
                trial = study.ask(dists)
                out.append(
                    Proposal(
                        dict(trial.params),
                        [],
                        ["explore", self.name],
                        self.name,
                        f"{self.name} sample given {len(history)} past runs",
                    )
                )
        return out

    def continued(
        self, sampler: optuna.samplers.BaseSampler, trials: list[FrozenTrial], history: list[RunView]
    ) -> list[FrozenTrial]:
        """The replayed trials as ``sampler`` needs them to go on where the loop's earlier batches left off."""
        return trials


@contextlib.contextmanager
def _no_template_copies() -> Iterator[None]:
    """Optuna's in-memory storage deep-copies every trial added to a study, most of a replay's time at hundreds of
    runs. The replayed trials belong to this one short-lived study (a cached one is numbered afresh by the next
    study, after this one is gone), so the copy is skipped."""
    module = optuna.storages._in_memory
    saved = module.copy
    module.copy = types.SimpleNamespace(deepcopy=lambda value, memo=None: value)  # type: ignore[assignment]
    try:
        yield
    finally:
        module.copy = saved


class RandomSamplerProposer(OptunaProposer):
    name = "random"
    sequential = False  # it learns nothing from results: a batch loses it nothing

    def sampler(self, seed: int, context: Context) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)


def startup_trials(context: Context) -> int:
    """Random trials before TPE models: a quarter of a known budget (3 to 10), else 8. A fixed 8 made a
    6-trial study pure random search."""
    if context.budget_trials is None:
        return 8
    return max(3, min(10, context.budget_trials // 4))


class TPEProposer(OptunaProposer):
    name = "tpe"

    def sampler(self, seed: int, context: Context) -> optuna.samplers.BaseSampler:
        # Constraints reach TPE through the replayed trials' ``constraints:*`` system attrs.
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, constant_liar=True, n_startup_trials=startup_trials(context)
        )


class CmaEsProposer(OptunaProposer):
    name = "cmaes"

    def sampler(self, seed: int, context: Context) -> optuna.samplers.BaseSampler:
        # CMA-ES handles the numeric parameters; categorical ones fall back to independent random sampling.
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=4, warn_independent_sampling=False)


UNINFORMED = frozenset({"RandomSampler", "QMCSampler", "GridSampler"})  # draws that no result changes
SEQUENCES = frozenset({"QMCSampler", "GridSampler"})  # draws numbered in the study: each batch goes on with them


class ContinuedQMCSampler(optuna.samplers.QMCSampler):
    """Optuna's QMC sampler numbers its draws in the study, and the loop rebuilds the study every batch: the
    numbering starts after the draws this proposer made in earlier batches (else every batch would repeat the
    sequence's first points)."""

    drawn = 0

    def _find_sample_id(self, study: optuna.Study, search_space: dict[str, BaseDistribution]) -> int:
        return self.drawn + super()._find_sample_id(study, search_space)


def with_grid_ids(sampler: optuna.samplers.GridSampler, trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Replayed trials marked with the grid point they ran, as a live GridSampler study marks them, so the
    sampler goes on to the points not yet run (it hands the first points out by trial number, which the loop's
    constant seed keeps in order; once they are handed out it picks among the points no trial is marked with)."""
    index = {tuple(point): i for i, point in enumerate(sampler._all_grids)}
    out = []
    for trial in trials:
        grid_id = index.get(tuple(trial.params.get(name) for name in sampler._param_names))
        if grid_id is not None:
            trial = copy.copy(trial)
            trial.system_attrs = {
                **trial.system_attrs,
                "grid_id": grid_id,
                "search_space": sampler._search_space,
            }
        out.append(trial)
    return out


class NamedSamplerProposer(OptunaProposer):
    """``optuna:<SamplerClass>``: any sampler of optuna.samplers, with ``proposer.optuna`` as its keyword
    arguments (a ``seed`` it accepts comes from the loop unless given), through the same replay of the history."""

    def __init__(self, sampler_name: str) -> None:
        super().__init__()
        self.sampler_name = sampler_name
        self.name = f"optuna:{sampler_name}"
        self.sequential = sampler_name not in UNINFORMED  # asked one at a time only where results steer it

    def sampler(self, seed: int, context: Context) -> optuna.samplers.BaseSampler:
        import inspect

        cls = getattr(optuna.samplers, self.sampler_name)
        kwargs = dict(context.options.optuna)
        if self.sampler_name in SEQUENCES:
            # One sequence per loop seed, continued batch after batch: a per-batch seed would start a new
            # scrambled sequence, or a new order of the grid, each time.
            seed = context.seed % 2**31
        if cls is optuna.samplers.QMCSampler:
            cls = ContinuedQMCSampler
            kwargs.setdefault("scramble", True)
        if "seed" in inspect.signature(cls).parameters and "seed" not in kwargs:
            kwargs["seed"] = seed
        sampler: optuna.samplers.BaseSampler = cls(**kwargs)
        return sampler

    def continued(
        self, sampler: optuna.samplers.BaseSampler, trials: list[FrozenTrial], history: list[RunView]
    ) -> list[FrozenTrial]:
        if isinstance(sampler, ContinuedQMCSampler):
            sampler.drawn = sum(view.record.proposer == self.name for view in history)
        if isinstance(sampler, optuna.samplers.GridSampler):
            return with_grid_ids(sampler, trials)
        return trials
