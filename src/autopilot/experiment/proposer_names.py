"""The one list of proposer names, each with where its class lives: ``proposer.name`` in autopilot.yaml is
checked against it when the experiment is loaded (proposers/registry.py makes the proposer)."""

from __future__ import annotations

# name -> "module:Class". Lazy, so that naming a proposer in autopilot.yaml is checked without importing
# every proposer's dependencies (the LLM SDKs, Optuna, PufferLib's Protein).
PROPOSER_CLASSES: dict[str, str] = {
    "auto": "autopilot.proposers.auto:AutoProposer",
    "hybrid": "autopilot.proposers.hybrid:HybridProposer",
    "ga": "autopilot.proposers.ga:GAProposer",
    "tpe": "autopilot.proposers.optuna_samplers:TPEProposer",
    "cmaes": "autopilot.proposers.optuna_samplers:CmaEsProposer",
    "random": "autopilot.proposers.optuna_samplers:RandomSamplerProposer",
    "behavior": "autopilot.proposers.behavior:BehaviorProposer",
    "manual": "autopilot.proposers.manual:ManualProposer",
    "llm": "autopilot.proposers.llm:LLMProposer",
    "agent": "autopilot.proposers.agent:AgentProposer",
    "protein": "autopilot.proposers.protein:ProteinProposer",
    "pbt": "autopilot.proposers.population:PopulationProposer",
}
PROPOSER_NAMES: tuple[str, ...] = tuple(PROPOSER_CLASSES)


OPTUNA_PREFIX = "optuna:"


def proposer_problem(name: str) -> str | None:
    """Why ``name`` is not a proposer, as a ``proposer.name: ...`` line, or None."""
    if name.startswith(OPTUNA_PREFIX):
        known = sampler_names()
        if name[len(OPTUNA_PREFIX) :] not in known:
            return f"proposer.name: {name!r} names no sampler of optuna.samplers; available: {', '.join(known)}"
        return None
    if name not in PROPOSER_CLASSES:
        return (
            f"proposer.name: {name!r} is not available; available: {', '.join(sorted(PROPOSER_CLASSES))}, "
            "or optuna:<SamplerClass>"
        )
    return None


def sampler_names() -> list[str]:
    """The samplers optuna.samplers ships (the classes a ``optuna:<SamplerClass>`` proposer may name)."""
    import optuna  # only when a proposer names one: loading an experiment does not need Optuna otherwise

    return sorted(
        name
        for name in dir(optuna.samplers)
        if isinstance(getattr(optuna.samplers, name), type)
        and issubclass(getattr(optuna.samplers, name), optuna.samplers.BaseSampler)
        and name != "BaseSampler"
    )
