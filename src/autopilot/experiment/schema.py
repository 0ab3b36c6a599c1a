"""autopilot.yaml's sections as typed dataclasses, with their defaults. Parsing and checking: ``parse.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autopilot.experiment.behavior_rules import DEFAULT_RULES
from autopilot.objective import Objective
from autopilot.space import SearchSpace

TRAINER_KINDS = ("builtin", "puffer", "command")
CURVE_TRAINER_KINDS = ("builtin", "puffer")  # the PufferLib driver logs learning curves early stopping can read
EXECUTOR_KINDS = ("local", "ray")


@dataclass
class TrainerSpec:
    """How runs are executed: ``builtin`` (drone task), ``puffer`` (a PufferLib env), ``command`` (any argv)."""

    kind: str = "builtin"
    env: str = "drone_delivery"
    python: str | None = None
    command: list[str] | None = None
    metrics: dict[str, str] = field(default_factory=dict)
    # Secret variables (the LLM proposers' API keys) are removed from the trainer's environment unless named here.
    env_passthrough: list[str] = field(default_factory=list)


@dataclass
class GAOptions:
    exploit_fraction: float = 0.5
    top_k: int = 10
    sigma: float = 0.2
    structural_mutation_prob: float = 0.2
    novelty_window: int = 50


@dataclass
class PBTOptions:
    """Population-based training (proposer.name: pbt); docs/proposers.md."""

    population: int = 4  # members trained side by side
    segment_fraction: float = 0.5  # a segment's steps, as a fraction of the baseline's train.total_timesteps
    quantile: float = 0.25  # the bottom quantile continues from a member of the top one
    perturb: float = 0.1  # explore: a numeric key moves this fraction of its tune range, up or down
    resample: float = 0.25  # explore: a key is re-drawn from its tune range with this probability


@dataclass
class LLMOptions:
    provider: str = "openai"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 120.0
    context_tokens: int = 6000
    meta_review_every: int = 0


@dataclass
class AgentOptions:
    command: list[str] | None = None
    timeout_s: float = 1800.0


# next_focus -> the kind of experiment the behaviour proposer runs (diagnose, then fix the weakest stage).
# timesteps: [low, high] budget range; scale: multiply the parent's value; tune: the keys the GA may move.
DEFAULT_BEHAVIOR_TABLE: dict[str, dict[str, Any]] = {
    "diagnostic_grip": {
        "timesteps": [100_000, 500_000],
        "tune": ["train.learning_rate", "train.ent_coef"],
        "doc": "short diagnostic runs: the agent does not even try to grip",
    },
    "improve_grip": {
        "scale": {"env.num_drones": 0.5},
        "tune": ["train.learning_rate", "train.ent_coef"],
        "doc": "fewer drones per arena: less interference while learning to grip",
    },
    "improve_carrying": {
        "timesteps": [1_000_000, 5_000_000],
        "tune": ["train.gamma", "train.gae_lambda", "train.vf_coef", "train.max_grad_norm"],
        "doc": "stability parameters and longer runs: grips but does not deliver",
    },
    "fix_stability": {
        "scale": {"train.learning_rate": 0.5},
        "tune": ["train.max_grad_norm", "train.clip_coef", "train.vf_clip_coef"],
        "doc": "lower learning rate and gentler updates: collisions, out of bounds",
    },
    "optimize_performance": {"tune": "all", "doc": "full-length runs, search around the best parent"},
}


@dataclass
class ProposerSpec:
    # a registered name, or optuna:<SamplerClass> (any sampler optuna.samplers ships, with ``optuna`` as kwargs)
    name: str = "auto"
    batch_size: int = 4
    seed: int = 0
    ga: GAOptions = field(default_factory=GAOptions)
    pbt: PBTOptions = field(default_factory=PBTOptions)
    llm: LLMOptions = field(default_factory=LLMOptions)
    agent: AgentOptions = field(default_factory=AgentOptions)
    behavior: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_BEHAVIOR_TABLE))
    optuna: dict[str, Any] = field(default_factory=dict)  # keyword arguments of an optuna:<SamplerClass> proposer
    protein_gp_steps: int = 1000  # Adam steps per fit of Protein's GPs (PufferLib's 1000); fewer: faster batches


@dataclass
class AnalysisSpec:
    behavior_rules: list[dict[str, Any]] = field(default_factory=lambda: list(DEFAULT_RULES))


@dataclass
class Guardrails:
    window: int = 30
    max_fail_rate: float = 0.6
    safe_mode_fail_rate: float = 0.35
    max_common_failure_count: int = 12
    critical_classes: list[str] = field(default_factory=lambda: ["nan_loss", "timeout", "crash"])
    max_critical_class_count: int = 10


@dataclass
class Resources:
    workers: int = 1
    timeout_minutes: float = 60.0
    stall_seconds: float = 300.0
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_log_mb: float = 50.0  # train.log keeps its first and last halves of this; the middle is dropped
    max_output_mb: float = 256.0  # a larger metrics, episode or summary file fails the run (output_limit)


@dataclass
class EarlyStopping:
    """Asynchronous successive halving on learning curves (local executor; off in safe mode).

    ``enabled``: true, false, or ``auto`` (the default): on for a budgeted run (``--trials`` or
    ``--budget-steps``) of a trainer that logs learning curves (builtin, puffer), where stopping a trial that is
    clearly behind frees budget for others; off for an open-ended run, where nothing is gained by stopping."""

    enabled: Any = "auto"
    rungs: list[float] = field(default_factory=lambda: [1 / 3, 0.5, 0.75])
    keep_fraction: float = 0.5
    min_trials: int = 4
    min_delta: float = 0.0
    smoothing: int = 3
    min_se: float = 2.0  # below the quantile by more than this many standard errors of the trial's own value
    exempt_every: int = 4  # every n-th trial runs to its end (Hyperband's hedge); 0: none
    # Rank trials at the rungs by this weighted sum of logged metrics instead of the objective ({}: the objective)
    signal: dict[str, float] = field(default_factory=dict)

    def active(self, budgeted: bool, trainer_kind: str) -> bool:
        if self.enabled == "auto":
            return budgeted and trainer_kind in CURVE_TRAINER_KINDS
        return bool(self.enabled)


@dataclass
class ExecutorSpec:
    kind: str = "local"
    ray_address: str | None = None


@dataclass
class GitOptions:
    commit_per_run: bool = False


@dataclass
class Tracking:
    """Where the study also goes (the ``tracking`` extra). tensorboard: every run's metrics mirrored into
    runs/<id>/tensorboard/ as they are written, with its hyperparameters (HParams). wandb: one W&B run per trial
    (the PufferLib driver's through PufferLib's logger, a command trainer's mirrored by the loop) and one for
    the study; offline under WORKSPACE/wandb/ when no WANDB_API_KEY is set. neptune: one Neptune run per trial
    in neptune_project ("workspace/project"); offline when no NEPTUNE_API_TOKEN is set."""

    tensorboard: bool = False
    wandb: bool = False
    wandb_project: str = "autopilot"
    neptune: bool = False
    neptune_project: str | None = None


@dataclass
class Experiment:
    trainer: TrainerSpec = field(default_factory=TrainerSpec)
    objective: Objective = field(default_factory=Objective)
    search_space: SearchSpace | None = None
    proposer: ProposerSpec = field(default_factory=ProposerSpec)
    guardrails: Guardrails = field(default_factory=Guardrails)
    resources: Resources = field(default_factory=Resources)
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    git: GitOptions = field(default_factory=GitOptions)
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    tracking: Tracking = field(default_factory=Tracking)
    # Environment variables whose values are secrets, besides the LLM keys (always secret): kept out of
    # trainers' environments (unless trainer.env_passthrough names one) and redacted from every file and log.
    secrets: list[str] = field(default_factory=list)

    @property
    def space(self) -> SearchSpace:
        assert self.search_space is not None, "experiment loaded without a search space"
        return self.search_space
