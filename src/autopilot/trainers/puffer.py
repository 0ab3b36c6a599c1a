"""The PufferLib driver: ``python -m autopilot.trainers.puffer --run-dir DIR``.

Implements the trainer protocol (DESIGN.md §6) on PufferLib 3.0's ``pufferl.PuffeRL``: reads
``DIR/config.json``, trains with an evaluate()/train() loop (no dashboard, no wandb, no 32-epoch final
evaluation), appends to ``metrics.jsonl``, checkpoints into ``DIR/checkpoints/``, evaluates the final policy
on held-out seeds into ``eval_episodes.jsonl`` and writes ``trainer_summary.json`` atomically. Failures end
with one ``<class>: <reason>`` line on stderr (``invalid_config``, ``nan_loss``, ``killed``, ``oom``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import numpy as np

from autopilot.trainers.protocol import (
    CHECKPOINTS,
    CONFIG_FILE,
    MetricsWriter,
    TrainerFailure,
    fail,
    finite_or_none,
    write_eval_episodes,
    write_summary,
)
from autopilot.workspace import atomic_write_text, read_json

BUILTIN_ENV = "drone_delivery"
EVAL_SEED_OFFSET = 1_000_003  # held-out evaluation seeds never overlap the training env seeds
METRICS_EVERY_S = 1.0  # at most one metrics line a second; logs in between are merged, weighted by episodes
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


def make_trainer_class(pufferl: ModuleType, checkpoint_dir: Path) -> type:
    """PuffeRL without its dashboard, saving checkpoints atomically into the run folder."""

    class DrivenPuffeRL(pufferl.PuffeRL):  # type: ignore[name-defined]
        def print_dashboard(self, *args: Any, **kwargs: Any) -> None:
            pass

        def mean_and_log(self) -> Any:
            # Weight the env's per-log averages by the episodes each covers, so a rate is a rate over episodes.
            weights = self.stats.get("episodes")
            if weights:
                w = np.asarray(weights, dtype=np.float64)
                for key, values in list(self.stats.items()):
                    if key != "episodes" and len(values) == len(w) and w.sum() > 0:
                        self.stats[key] = [float(np.dot(np.asarray(values, dtype=np.float64), w) / w.sum())]
                self.stats["episodes"] = [float(w.sum())]
            return super().mean_and_log()

        def save_checkpoint(self) -> str:
            import torch

            checkpoint_dir.mkdir(parents=True, exist_ok=True)
            path = checkpoint_dir / f"model_{self.epoch:06d}.pt"
            if not path.exists():
                tmp = path.with_suffix(".pt.tmp")
                torch.save(self.uncompiled_policy.state_dict(), tmp)
                os.replace(tmp, path)
                state = {
                    "optimizer_state_dict": self.optimizer.state_dict(),
                    "global_step": self.global_step,
                    "update": self.epoch,
                    "model_name": path.name,
                }
                torch.save(state, checkpoint_dir / "trainer_state.pt.tmp")
                os.replace(checkpoint_dir / "trainer_state.pt.tmp", checkpoint_dir / "trainer_state.pt")
            self.last_checkpoint = path
            return str(path)

    return DrivenPuffeRL


class MetricsAggregator:
    """Merges PufferLib logs between two metrics lines, weighting env stats by their episode counts."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping  # autopilot name -> trainer key
        self.sums: dict[str, float] = defaultdict(float)
        self.weights: dict[str, float] = defaultdict(float)
        self.last: dict[str, Any] = {}

    def add(self, logs: dict[str, Any]) -> None:
        weight = float(logs.get("environment/episodes") or 1.0)
        for key, value in logs.items():
            if key.startswith("environment/") and finite_or_none(value) is not None:
                self.sums[key] += float(value) * weight
                self.weights[key] += weight
        self.last = logs

    def pending(self) -> bool:
        return bool(self.last)

    def flush(self) -> tuple[dict[str, float | None], dict[str, Any]]:
        raw = {k: self.sums[k] / self.weights[k] for k in self.sums if self.weights[k] > 0}
        if "environment/episodes" in raw:  # a count, not a rate: the episodes this line covers
            raw["environment/episodes"] = self.weights["environment/episodes"]
        metrics: dict[str, float | None] = {}
        used = set()
        for name, key in self.mapping.items():
            if key in raw:
                metrics[name] = raw[key]
                used.add(key)
        metrics.update({k: v for k, v in raw.items() if k not in used})
        losses = {k.removeprefix("losses/"): v for k, v in self.last.items() if k.startswith("losses/")}
        self.sums.clear()
        self.weights.clear()
        self.last = {}
        return metrics, losses


def metric_mapping(env_name: str, config: dict[str, Any]) -> dict[str, str]:
    if env_name == BUILTIN_ENV:
        from autopilot.envs.drone_delivery import RATE_NAMES

        names = [*RATE_NAMES.values(), "mean_reward", "episode_length"]
        return {name: f"environment/{name}" for name in names}
    return dict(config.get("autopilot", {}).get("metrics", {}))


def evaluate_builtin(policy: Any, config: dict[str, Any], episodes: int, seed: int) -> list[dict[str, Any]]:
    """Run the policy on fresh arenas seeded ``seed``; each drone flies exactly one episode."""
    import torch

    from autopilot.envs.drone_delivery import DroneDelivery

    env_kwargs = dict(config.get("env", {}))
    drones = int(env_kwargs.pop("num_drones", 8))
    env_kwargs.pop("num_envs", None)
    arenas = math.ceil(episodes / drones)
    env = DroneDelivery(
        num_envs=arenas, num_drones=drones, single_episode=True, record_episodes=True, seed=seed, **env_kwargs
    )
    obs, _ = env.reset(seed=seed)
    with torch.no_grad():
        while env.active.any():
            action = _policy_action(policy, obs)
            obs, *_ = env.step(action)
    # Take the first ``episodes`` drones by index, not by finishing time: fast endings would bias the sample.
    chosen = sorted(env.episodes, key=lambda e: e["agent"])[:episodes]
    return [
        {
            "episode": i,
            "seed": seed,
            "success": e["delivered"],
            **{k: e[k] for k in ("delivered", "hover", "grip", "carry", "collision", "oob", "timeout")},
            "return": round(e["return"], 6),
            "length": e["length"],
        }
        for i, e in enumerate(chosen)
    ]


def evaluate_generic(policy: Any, vecenv: Any, episodes: int, seed: int, max_steps: int = 100_000) -> list[dict]:
    """Any PufferLib env: per-episode return and length tracked from rewards and dones (no outcome flags)."""
    import torch

    obs, _ = vecenv.reset(seed=seed)
    n = vecenv.num_agents
    ret, length = np.zeros(n), np.zeros(n, dtype=np.int64)
    done_eps: list[dict[str, Any]] = []
    with torch.no_grad():
        for _ in range(max_steps):
            obs, rewards, terminals, truncations, _ = vecenv.step(_policy_action(policy, obs))
            ret += rewards
            length += 1
            for i in np.flatnonzero(np.logical_or(terminals, truncations)):
                done_eps.append(
                    {
                        "episode": len(done_eps),
                        "seed": seed,
                        "return": round(float(ret[i]), 6),
                        "length": int(length[i]),
                    }
                )
                ret[i], length[i] = 0.0, 0
            if len(done_eps) >= episodes:
                break
    return done_eps[:episodes]


def _policy_action(policy: Any, obs: np.ndarray) -> np.ndarray:
    """Sample from the policy as it was trained (PPO's policies are stochastic; a mean action can stall)."""
    import pufferlib.pytorch
    import torch

    logits, _ = policy.forward_eval(torch.as_tensor(obs), None)
    action, _, _ = pufferlib.pytorch.sample_logits(logits)
    action = action.cpu().numpy()
    if isinstance(logits, torch.distributions.Normal):
        action = np.clip(action, -1.0, 1.0)
    return action


def eval_metrics(episodes: list[dict[str, Any]]) -> dict[str, float | None]:
    """Rates over the evaluation episodes (unknown, i.e. absent, when the env has no such flag)."""
    from autopilot.envs.drone_delivery import RATE_NAMES

    out: dict[str, float | None] = {}
    if not episodes:
        return out
    for flag, name in RATE_NAMES.items():
        if flag in episodes[0]:
            out[name] = sum(bool(e[flag]) for e in episodes) / len(episodes)
    out["mean_reward"] = float(np.mean([e["return"] for e in episodes]))
    out["episode_length"] = float(np.mean([e["length"] for e in episodes]))
    return out


def _check_finite(losses: dict[str, Any], policy: Any, step: int) -> None:
    import torch

    bad = [k for k, v in losses.items() if isinstance(v, float) and not math.isfinite(v) and k != "explained_variance"]
    if bad:
        raise TrainerFailure("nan_loss", f"non-finite {', '.join(sorted(bad))} at step {step}", EXIT_NAN)
    for name, param in policy.named_parameters():
        if not torch.isfinite(param).all():
            raise TrainerFailure("nan_loss", f"non-finite policy parameter {name} at step {step}", EXIT_NAN)


def _swap_optimizer(trainer: Any, train_cfg: dict[str, Any]) -> None:
    """PufferLib 3.0 knows adam and muon; the search space also allows adamw, built here the same way."""
    import torch

    trainer.optimizer = torch.optim.AdamW(
        trainer.policy.parameters(),
        lr=train_cfg["learning_rate"],
        betas=(train_cfg["adam_beta1"], train_cfg["adam_beta2"]),
        eps=train_cfg["adam_eps"],
    )
    trainer.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(trainer.optimizer, T_max=trainer.total_epochs)


def build_env_and_policy(config: dict[str, Any], env_name: str, seed: int) -> tuple[Any, Any]:
    """The vectorised env and the policy the config describes, on its device; bad configs -> invalid_config."""
    import pufferlib.vector

    train_cfg = config["train"]
    base = config.get("base", {})
    device = train_cfg.get("device", "cpu")
    if device != "cpu" and not _device_available(device):
        raise TrainerFailure("invalid_config", f"train.device: {device!r} is not available here", EXIT_INVALID)
    try:
        vecenv = pufferlib.vector.make(
            env_class(env_name, base.get("package")),
            env_kwargs=config.get("env", {}),
            seed=seed,
            **config.get("vec", {}),
        )
        policy = build_policy(env_name, config, vecenv.driver_env).to(device)
    except TrainerFailure:
        raise
    except (TypeError, ValueError, pufferlib.APIUsageError) as exc:
        raise TrainerFailure("invalid_config", f"env/policy: {exc}", EXIT_INVALID) from exc
    return vecenv, policy


def evaluate_checkpoint(
    run_dir: Path, checkpoint: Path, episodes: int, seed: int, out: Path, stop: StopRequest
) -> dict[str, Any]:
    """Re-evaluate a run's checkpoint on ``episodes`` held-out episodes seeded ``seed``; writes ``out``."""
    import torch

    config = read_json(run_dir / CONFIG_FILE)
    env_name = config.get("base", {}).get("env_name") or BUILTIN_ENV
    import_pufferl(stop)
    seed_everything(seed)
    vecenv, policy = build_env_and_policy(config, env_name, seed)
    state = torch.load(checkpoint, map_location=config["train"].get("device", "cpu"))
    policy.load_state_dict({k.replace("module.", ""): v for k, v in state.items()})
    policy.eval()
    torch.manual_seed(seed)
    if env_name == BUILTIN_ENV:
        records = evaluate_builtin(policy, config, episodes, seed)
    else:
        records = evaluate_generic(policy, vecenv, episodes, seed)
    vecenv.close()
    lines = "".join(json.dumps(r) + "\n" for r in records)
    atomic_write_text(out, lines)
    return {"episodes": len(records), "seed": seed, "metrics": eval_metrics(records), "out": str(out)}


def run(run_dir: Path, stop: StopRequest) -> dict[str, Any]:
    config = read_json(run_dir / CONFIG_FILE)
    train_cfg = dict(config["train"])
    base = config.get("base", {})
    env_name = base.get("env_name") or BUILTIN_ENV
    seed = int(train_cfg.get("seed", 1))
    run_policy = config.get("autopilot", {})
    pufferl = import_pufferl(stop)
    import pufferlib
    import torch

    seed_everything(seed)
    vecenv, policy = build_env_and_policy(config, env_name, seed)
    load_path = train_cfg.pop("load_model_path", None)
    if load_path:
        state = torch.load(Path(load_path), map_location=train_cfg.get("device", "cpu"))
        policy.load_state_dict({k.replace("module.", ""): v for k, v in state.items()})
    optimizer = train_cfg.get("optimizer", "adam")
    trainer_config = {
        **train_cfg,
        "env": env_name,
        "use_rnn": bool(base.get("rnn_name")),
        "optimizer": "adam" if optimizer == "adamw" else optimizer,
        "data_dir": str(run_dir),
    }
    trainer_cls = make_trainer_class(pufferl, run_dir / CHECKPOINTS)
    try:
        trainer = trainer_cls(trainer_config, vecenv, policy)
    except (ValueError, KeyError, pufferlib.APIUsageError) as exc:
        raise TrainerFailure("invalid_config", f"train: {exc}", EXIT_INVALID) from exc
    if optimizer == "adamw":
        _swap_optimizer(trainer, train_cfg)

    writer = MetricsWriter(run_dir)
    aggregator = MetricsAggregator(metric_mapping(env_name, config))
    total = int(train_cfg["total_timesteps"])
    started = time.monotonic()
    last_write = 0.0
    try:
        while trainer.global_step < total and stop.signal_name is None:
            try:
                trainer.evaluate()
                logs = trainer.train()
            except ValueError as exc:  # torch.distributions refuses NaN parameters before any loss is logged
                if "invalid values" in str(exc):
                    raise TrainerFailure(
                        "nan_loss", f"non-finite policy output at step {trainer.global_step}", EXIT_NAN
                    ) from exc
                raise
            if logs is not None:
                aggregator.add(logs)
            _check_finite(trainer.losses, trainer.uncompiled_policy, trainer.global_step)
            now = time.monotonic()
            if aggregator.pending() and (now - last_write >= METRICS_EVERY_S or trainer.global_step >= total):
                metrics, losses = aggregator.flush()
                sps = trainer.global_step / max(now - started, 1e-9)
                writer.write(trainer.global_step, sps, metrics, losses, epoch=trainer.epoch, total=total)
                last_write = now
    except torch.OutOfMemoryError as exc:
        raise TrainerFailure("oom", str(exc).splitlines()[0], EXIT_OOM) from exc
    finally:
        checkpoint = Path(trainer.save_checkpoint())
        trainer.utilization.stop()
        writer.close()
    wall = time.monotonic() - started
    if stop.signal_name is not None:
        raise TrainerFailure(
            "killed",
            f"stopped by {stop.signal_name} after {trainer.global_step} steps; "
            f"checkpoint {checkpoint.relative_to(run_dir)}",
            EXIT_KILLED,
        )

    n_eval = int(run_policy.get("eval_episodes", 512))
    eval_seed = int(run_policy.get("eval_seed", (seed + EVAL_SEED_OFFSET) % 2**31))
    policy.eval()
    torch.manual_seed(eval_seed)  # sampled actions: the evaluation is reproducible given its seed
    if env_name == BUILTIN_ENV:
        episodes = evaluate_builtin(policy, config, n_eval, eval_seed)
    else:
        episodes = evaluate_generic(policy, vecenv, n_eval, eval_seed)
    vecenv.close()
    write_eval_episodes(run_dir, episodes)
    metrics = eval_metrics(episodes)
    mapped_train = {k: v for k, v in (metrics or {}).items()}
    summary = {
        "metrics": {
            **mapped_train,
            "sps": trainer.global_step / max(wall, 1e-9),
            "agent_steps": trainer.global_step,
            "steps": trainer.global_step,
        },
        "eval": {"episodes": len(episodes), "seed": eval_seed, "policy": "sampled"},
        "steps": trainer.global_step,
        "wall_s": round(wall, 3),
        "checkpoint": str(checkpoint.relative_to(run_dir)),
        "seed": seed,
        "env": env_name,
        "train_config": {k: v for k, v in trainer_config.items() if k != "env"},
    }
    write_summary(run_dir, summary)
    return summary


def _device_available(device: str) -> bool:
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available())
    if device == "mps":
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autopilot.trainers.puffer",
        description="Train one run with PufferLib (the autopilot trainer protocol).",
    )
    parser.add_argument(
        "--run-dir",
        default=os.environ.get("AUTOPILOT_RUN_DIR"),
        help="run folder holding config.json (default: $AUTOPILOT_RUN_DIR)",
    )
    parser.add_argument("--eval-only", metavar="CHECKPOINT", help="only evaluate this checkpoint; writes --out")
    parser.add_argument("--episodes", type=int, default=512, help="evaluation episodes with --eval-only")
    parser.add_argument("--seed", type=int, default=EVAL_SEED_OFFSET, help="evaluation seed with --eval-only")
    parser.add_argument("--out", help="episodes file (JSON lines) with --eval-only")
    args = parser.parse_args(argv)
    if not args.run_dir:
        parser.error("--run-dir is required (or set AUTOPILOT_RUN_DIR)")
    stop = StopRequest()
    stop.install()
    if args.eval_only:
        if not args.out:
            parser.error("--out is required with --eval-only")
        try:
            result = evaluate_checkpoint(
                Path(args.run_dir).resolve(), Path(args.eval_only), args.episodes, args.seed, Path(args.out), stop
            )
        except TrainerFailure as failure:
            fail(failure)
        print(json.dumps(result))
        return 0
    try:
        summary = run(Path(args.run_dir).resolve(), stop)
    except TrainerFailure as failure:
        fail(failure)
    except FileNotFoundError as exc:
        fail(TrainerFailure("invalid_config", f"cannot read {exc.filename}: {exc.strerror}", EXIT_INVALID))
    except KeyError as exc:
        fail(TrainerFailure("invalid_config", f"config.json: missing key {exc}", EXIT_INVALID))
    metrics = summary["metrics"]
    shown = ", ".join(f"{k}={v:.3f}" for k, v in metrics.items() if isinstance(v, float) and k != "sps")
    print(f"done: {summary['steps']} steps in {summary['wall_s']:.1f}s ({metrics['sps']:.0f} steps/s); {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
