"""Building what a run trains: PufferLib imported safely, seeds, the env, the policy, the device.

Composes like PufferLib's own ``pufferl.train()`` (``load_env`` then ``load_policy``), driven from a config
dict instead of its command line.
"""

from __future__ import annotations

import importlib
import os
import random
import signal
import sys
import tempfile
import warnings
from types import FrameType, ModuleType
from typing import Any

import numpy as np

from autopilot.trainers.protocol import TrainerFailure

BUILTIN_ENV = "drone_delivery"
EXIT_INVALID, EXIT_NAN, EXIT_KILLED, EXIT_OOM = 2, 3, 4, 5


class StopRequest:
    """Set by SIGTERM/SIGINT; the training loop checks it between epochs and stops with a checkpoint."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)


def import_pufferl(stop: StopRequest) -> ModuleType:
    """Import ``pufferlib.pufferl`` and undo its process-wide side effects.

    It turns every RuntimeWarning into an error, installs a SIGINT handler that calls ``os._exit(0)`` (a
    kill that would look like success), installs rich tracebacks, and ``import pufferlib`` drops a
    ``resources`` symlink into the current folder (so the import runs from a scratch folder).
    """
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        try:
            pufferl = importlib.import_module("pufferlib.pufferl")
        finally:
            os.chdir(cwd)
    warnings.filterwarnings("default", category=RuntimeWarning)
    stop.install()
    sys.excepthook = sys.__excepthook__
    return pufferl


def seed_everything(seed: int) -> None:
    """PufferLib 3.0 does not seed torch (its seeding lines are commented out); the driver must."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def env_class(env_name: str, package: str | None) -> Any:
    """The env creator: the built-in task, a PufferLib ocean env, or a package of the user's checkout."""
    if env_name == BUILTIN_ENV:
        from autopilot.envs.drone_delivery import DroneDelivery

        return DroneDelivery
    module_name = "pufferlib.ocean" if package in (None, "ocean") else f"pufferlib.environments.{package}"
    try:
        module = importlib.import_module(module_name)
        return module.env_creator(env_name)
    except (ImportError, KeyError, AttributeError) as exc:
        raise TrainerFailure(
            "invalid_config", f"base.env_name: cannot load env {env_name!r} from {module_name}: {exc}", EXIT_INVALID
        ) from exc
    except Exception as exc:  # PufferLib raises APIUsageError for names it does not know
        raise TrainerFailure("invalid_config", f"base.env_name: {exc}", EXIT_INVALID) from exc


def build_policy(env_name: str, config: dict[str, Any], driver_env: Any) -> Any:
    import pufferlib.models

    base = config.get("base", {})
    policy_kwargs = dict(config.get("policy", {}))
    rnn_name = base.get("rnn_name")
    if env_name == BUILTIN_ENV:
        policy = pufferlib.models.Default(driver_env, **policy_kwargs)
        module: Any = pufferlib.models
    else:
        package = base.get("package") or "ocean"
        module_name = "pufferlib.ocean" if package == "ocean" else f"pufferlib.environments.{package}"
        module = importlib.import_module(module_name).torch
        policy = getattr(module, base.get("policy_name") or "Policy")(driver_env, **policy_kwargs)
    if rnn_name:
        rnn_cls = getattr(module, rnn_name, None) or pufferlib.models.LSTMWrapper
        policy = rnn_cls(driver_env, policy, **config.get("rnn", {}))
    return policy


def make_vecenv(config: dict[str, Any], env_name: str, seed: int) -> Any:
    """The vectorised env the config's ``env`` and ``vec`` sections describe."""
    import pufferlib.vector

    return pufferlib.vector.make(
        env_class(env_name, config.get("base", {}).get("package")),
        env_kwargs=config.get("env", {}),
        seed=seed,
        # PufferLib's default.ini carries vec.seed; the run's train.seed seeds the envs here (a study varies it).
        **{k: v for k, v in config.get("vec", {}).items() if k != "seed"},
    )


def close_vecenv(vecenv: Any) -> None:
    """Close a vecenv once, and make sure its worker processes are gone: they inherit this process's SIGTERM
    handler (a stop request, not an exit), so PufferLib's ``terminate()`` alone leaves them running and the
    trainer, waiting for them at exit, would never end."""
    if getattr(vecenv, "_autopilot_closed", False):
        return
    vecenv._autopilot_closed = True
    try:
        vecenv.close()
    finally:
        for process in getattr(vecenv, "processes", []):
            process.join(timeout=2.0)
            if process.is_alive():
                process.kill()
                process.join(timeout=5.0)


def build_env_and_policy(config: dict[str, Any], env_name: str, seed: int) -> tuple[Any, Any]:
    """The vectorised env and the policy the config describes, on its device; bad configs -> invalid_config."""
    import pufferlib

    device = config["train"].get("device", "cpu")
    if device != "cpu" and not _device_available(device):
        raise TrainerFailure("invalid_config", f"train.device: {device!r} is not available here", EXIT_INVALID)
    try:
        vecenv = make_vecenv(config, env_name, seed)
        policy = build_policy(env_name, config, vecenv.driver_env).to(device)
    except TrainerFailure:
        raise
    except (TypeError, ValueError, pufferlib.APIUsageError) as exc:
        raise TrainerFailure("invalid_config", f"env/policy: {exc}", EXIT_INVALID) from exc
    return vecenv, policy


def _device_available(device: str) -> bool:
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available())
    if device == "mps":
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return True
