"""Shipped defaults: the built-in task's search space (every trainer key with its safe range), PufferLib's
cross-key rules, and baseline trainer configs.

The search space sits next to the defaults it overrides, with the same dotted paths (PufferLib's habit).
"""

from __future__ import annotations

import copy
from typing import Any

# PufferLib documents torch.compile's modes for train.compile_mode.
COMPILE_MODES = ["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
# The loop's run-policy keys (resume, save strategy): searchable by no optimiser, set by a person per run.
RUN_POLICY_SPACE: dict[str, dict[str, Any]] = {
    "autopilot.resume_mode": {"type": "categorical", "choices": ["fresh", "continue"], "tune": False},
    "autopilot.resume_from": {"type": "run_ref"},
    "autopilot.save_strategy": {"type": "categorical", "choices": ["best", "latest", "all"], "tune": False},
}

# Seed 000's keys with their exact safe ranges. ``tune`` is where optimisers sample by default (inside the
# safe range); ``tune: false`` keys are validated but proposed only by humans, agents or explicit rules.
DEFAULT_SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "train.learning_rate": {"type": "float", "low": 1e-6, "high": 1.0, "scale": "log", "tune": [1e-4, 3e-2]},
    "train.ent_coef": {"type": "float", "low": 0.0, "high": 1.0, "scale": "log", "tune": [1e-5, 0.1]},
    "train.bptt_horizon": {"type": "int", "low": 1, "high": 512, "scale": "log", "tune": [4, 64]},
    "train.total_timesteps": {
        "type": "int",
        "low": 1_000,
        "high": 1_000_000_000,
        "scale": "log",
        "tune": False,
    },
    "train.seed": {"type": "int", "low": 0, "high": 2_147_483_647, "tune": False},
    "train.update_epochs": {"type": "int", "low": 1, "high": 32, "tune": [1, 4]},
    "train.gae_lambda": {"type": "float", "low": 0.0, "high": 1.0, "tune": [0.8, 0.99]},
    "train.gamma": {"type": "float", "low": 0.0, "high": 0.999999, "tune": [0.9, 0.999]},
    "train.clip_coef": {"type": "float", "low": 0.0, "high": 1.0, "tune": [0.05, 0.5]},
    "train.vf_clip_coef": {"type": "float", "low": 0.0, "high": 10.0, "tune": [0.05, 5.0]},
    "train.optimizer": {"type": "categorical", "choices": ["muon", "adam", "adamw"]},
    "train.vf_coef": {"type": "float", "low": 0.0, "high": 10.0, "tune": [0.1, 5.0]},
    "train.max_grad_norm": {"type": "float", "low": 0.0, "high": 100.0, "tune": [0.1, 5.0]},
    "train.checkpoint_interval": {"type": "int", "low": 1, "high": 1_000_000, "tune": False},
    "train.adam_beta1": {"type": "float", "low": 0.0, "high": 0.999999, "tune": [0.8, 0.99]},
    "train.adam_beta2": {"type": "float", "low": 0.0, "high": 0.9999999, "tune": [0.99, 0.99999]},
    "train.adam_eps": {"type": "float", "low": 1e-14, "high": 1e-2, "scale": "log", "tune": [1e-12, 1e-6]},
    "train.anneal_lr": {"type": "bool"},
    "train.torch_deterministic": {"type": "bool", "tune": False},
    "train.cpu_offload": {"type": "bool", "tune": False},
    "train.compile": {"type": "bool", "tune": False},
    "train.compile_fullgraph": {"type": "bool", "tune": False},
    "train.precision": {"type": "categorical", "choices": ["float32", "bfloat16"], "tune": False},
    "train.compile_mode": {"type": "categorical", "choices": COMPILE_MODES, "tune": False},
    "train.device": {"type": "categorical", "choices": ["mps", "cpu", "cuda"], "tune": False},
    "env.num_envs": {"type": "int", "low": 1, "high": 16_384, "tune": False},
    "env.num_drones": {"type": "int", "low": 1, "high": 256, "tune": False},
    "vec.num_envs": {"type": "int", "low": 1, "high": 1_024, "tune": False},
    "vec.num_workers": {"type": "int", "low": 1, "high": 256, "tune": False},
    **RUN_POLICY_SPACE,
}


def puffer_rules(multi_agent_env: bool = True) -> list[dict[str, Any]]:
    """The cross-key rules of docs/architecture.md and PufferLib 3.0's own checks (pufferl.PuffeRL.__init__), as data.

    ``multi_agent_env``: the env has ``env.num_drones`` agents per instance (the built-in task, a PufferLib
    ``puffer_drone_pp``); otherwise one agent per ``env.num_envs`` instance.
    """
    agents = ["env.num_envs", "env.num_drones", "vec.num_envs"] if multi_agent_env else ["env.num_envs", "vec.num_envs"]
    return [
        {
            "check": "divisible",
            "key": "vec.num_envs",
            "by": "vec.num_workers",
            "doc": "PufferLib splits vec.num_envs evenly over its workers",
        },
        {
            "check": "derive",
            "key": "train.batch_size",
            "product": [*agents, "train.bptt_horizon"],
            "doc": "one horizon of experience from every agent",
        },
        {"check": "derive", "key": "train.minibatch_size", "product": ["train.batch_size"]},
        {"check": "derive", "key": "train.max_minibatch_size", "product": ["train.batch_size"]},
        {
            "check": "at_least",
            "key": "train.batch_size",
            "divided_by": "train.bptt_horizon",
            "than": agents,
            "doc": "PufferLib: batch_size // bptt_horizon segments must hold every agent",
        },
        {
            "check": "at_least",
            "key": "train.total_timesteps",
            "than": ["train.batch_size"],
            "doc": "at least one full batch",
        },
        {"check": "divisible", "key": "train.minibatch_size", "by": "train.bptt_horizon"},
        {"check": "divisible", "key": "train.batch_size", "by": "train.minibatch_size"},
    ]


# The built-in task's policy (PufferLib's default MLP): its width may be set (by a person, an LLM or an agent),
# never sampled by an optimiser unless the user gives it a tune range; the recorded benchmarks hold it at 128.
BUILTIN_POLICY_SPACE: dict[str, dict[str, Any]] = {
    "policy.hidden_size": {"type": "pow2", "low": 16, "high": 1024, "tune": False},
}


def default_search_space(multi_agent_env: bool = True) -> dict[str, dict[str, Any]]:
    """Seed 000's space; without ``env.num_drones`` for envs that have no such key."""
    space = copy.deepcopy(DEFAULT_SEARCH_SPACE)
    if not multi_agent_env:
        del space["env.num_drones"]
    return space


def is_multi_agent_env(trainer: str, env: str) -> bool:
    """Envs known to take ``env.num_drones``: the built-in task and PufferLib forks' ``*_drone_pp`` envs."""
    return trainer == "builtin" or env.endswith("drone_pp")


def search_space_for(trainer: str, env: str) -> dict[str, dict[str, Any]]:
    """The space a new experiment declares: seed 000's, less the keys its env does not take, plus the built-in
    task's policy width (PufferLib envs' policies may take no ``hidden_size``)."""
    space = default_search_space(is_multi_agent_env(trainer, env))
    if trainer == "builtin":
        space.update(copy.deepcopy(BUILTIN_POLICY_SPACE))
    return space


# PufferLib 3.0's [train] defaults (config/default.ini), sized for a CPU.
_PUFFER_TRAIN: dict[str, Any] = {
    "seed": 1,
    "torch_deterministic": True,
    "cpu_offload": False,
    "device": "cpu",
    "optimizer": "adam",
    "anneal_lr": True,
    "precision": "float32",
    "total_timesteps": 2_000_000,
    "learning_rate": 0.003,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "update_epochs": 1,
    "clip_coef": 0.2,
    "vf_coef": 2.0,
    "vf_clip_coef": 0.2,
    "max_grad_norm": 1.5,
    "ent_coef": 0.001,
    "adam_beta1": 0.95,
    "adam_beta2": 0.999,
    "adam_eps": 1e-12,
    "checkpoint_interval": 50,
    "batch_size": 16_384,
    "minibatch_size": 16_384,
    "max_minibatch_size": 16_384,
    "bptt_horizon": 16,
    "compile": False,
    "compile_mode": "max-autotune-no-cudagraphs",
    "compile_fullgraph": True,
    "vtrace_rho_clip": 1.0,
    "vtrace_c_clip": 1.0,
    "prio_alpha": 0.8,
    "prio_beta0": 0.2,
}

_AUTOPILOT_RUN_POLICY: dict[str, Any] = {
    "resume_mode": "fresh",
    "resume_from": "latest",
    "save_strategy": "best",
}

# The built-in drone delivery task (autopilot.envs.drone_delivery); env keys documented there.
_DRONE_ENV: dict[str, Any] = {
    "num_envs": 128,
    "num_drones": 8,
    "max_steps": 300,
    "arena_size": 10.0,
    "box_mass": 0.5,
    "grip_tolerance": 0.35,
    "wind": 0.0,
    "obs_noise": 0.0,
    "reward_approach": 0.25,
    "reward_grip": 0.5,
    "reward_carry": 0.25,
    "reward_deliver": 1.0,
    "penalty_collision": 1.0,
    "penalty_oob": 1.0,
}


def baseline_config(trainer: str, env: str, mode: str) -> dict[str, Any]:
    """The full nested baseline for ``trainer`` (builtin | puffer | command) in ``mode`` (quick | full)."""
    if trainer == "command":
        # A command trainer's config is its own; these keys fit the example my_optimiser.py that init writes.
        return {
            "train": {"seed": 1, "budget": 100 if mode == "quick" else 1000, "x": 0.0, "y": 0.0},
            "autopilot": {"resume_mode": "fresh", "save_strategy": "best"},
        }
    train = copy.deepcopy(_PUFFER_TRAIN)
    train["total_timesteps"] = 6_000_000 if mode == "quick" else 12_000_000
    if trainer == "builtin":
        env_section = copy.deepcopy(_DRONE_ENV)
    elif is_multi_agent_env(trainer, env):
        env_section = {"num_envs": 128, "num_drones": 8}
    else:
        env_section = {"num_envs": 1024}
    n_agents = env_section["num_envs"] * env_section.get("num_drones", 1)
    for key in ("batch_size", "minibatch_size", "max_minibatch_size"):
        train[key] = n_agents * train["bptt_horizon"]
    return {
        "base": {"env_name": env, "policy_name": "Policy", "rnn_name": None},
        "train": train,
        "env": env_section,
        "vec": {"backend": "Serial", "num_envs": 1, "num_workers": 1, "batch_size": 1, "zero_copy": True},
        "policy": {"hidden_size": 128},
        "rnn": {},
        "autopilot": copy.deepcopy(_AUTOPILOT_RUN_POLICY),
    }


def command_search_space() -> dict[str, dict[str, Any]]:
    """An example space for a ``command`` trainer (the example my_optimiser.py): its own keys, no PufferLib
    rules."""
    return {
        "train.x": {"type": "float", "low": -5.0, "high": 5.0},
        "train.y": {"type": "float", "low": -5.0, "high": 5.0},
        "train.budget": {"type": "int", "low": 10, "high": 100_000, "scale": "log", "tune": False},
        "train.seed": {"type": "int", "low": 0, "high": 2_147_483_647, "tune": False},
        **RUN_POLICY_SPACE,
    }
