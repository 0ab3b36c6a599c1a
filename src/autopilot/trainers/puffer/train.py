"""Training one run: PuffeRL's evaluate()/train() loop without its dashboard, metrics lines as it learns,
checkpoints (the final one and the best by the smoothed training objective), then held-out evaluation."""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from autopilot.trainers.protocol import (
    CHECKPOINTS,
    CONFIG_FILE,
    MetricsWriter,
    TrainerFailure,
    finite_or_none,
    write_eval_episodes,
    write_summary,
)
from autopilot.trainers.puffer.build import (
    BUILTIN_ENV,
    EXIT_INVALID,
    EXIT_KILLED,
    EXIT_NAN,
    EXIT_OOM,
    StopRequest,
    build_env_and_policy,
    close_vecenv,
    import_pufferl,
    seed_everything,
)
from autopilot.trainers.puffer.evaluate import HeldOut, evaluate_policy
from autopilot.trainers.puffer.tracking import finish as finish_logger
from autopilot.trainers.puffer.tracking import make_logger
from autopilot.workspace.atomic import read_json

METRICS_EVERY_S = 1.0  # at most one metrics line a second; logs in between are merged, weighted by episodes


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


class BestTracker:
    """Keeps ``checkpoints/best.pt``: the policy at its best smoothed training objective so far (the mean of
    the last ``smoothing`` metrics lines), so a run whose learning collapses late still has its peak."""

    def __init__(self, checkpoint_dir: Path, metric: str | None, maximize: bool, smoothing: int = 3) -> None:
        self.path = checkpoint_dir / "best.pt"
        self.metric = metric
        self.sign = 1.0 if maximize else -1.0
        self.smoothing = smoothing
        self.values: list[float] = []
        self.best: float | None = None
        self.step: int | None = None

    def observe(self, metrics: dict[str, float | None], step: int, policy: Any) -> None:
        value = metrics.get(self.metric) if self.metric else None
        if value is None:
            return
        self.values.append(float(value))
        if len(self.values) < self.smoothing:
            return  # too early: one lucky log is not a peak
        smoothed = float(np.mean(self.values[-self.smoothing :]))
        if self.best is None or smoothed * self.sign > self.best * self.sign:
            import torch

            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".pt.tmp")
            torch.save(policy.state_dict(), tmp)
            os.replace(tmp, self.path)
            self.best, self.step = smoothed, step


def load_policy_state(policy: Any, path: Path, device: str) -> None:
    import torch

    state = torch.load(path, map_location=device)
    policy.load_state_dict({k.replace("module.", ""): v for k, v in state.items()})


def run(run_dir: Path, stop: StopRequest) -> dict[str, Any]:
    config = read_json(run_dir / CONFIG_FILE)
    env_name = config.get("base", {}).get("env_name") or BUILTIN_ENV
    seed = int(config["train"].get("seed", 1))
    evaluation = evaluation_settings(config, seed)
    pufferl = import_pufferl(stop)
    seed_everything(seed)
    vecenv, policy = build_env_and_policy(config, env_name, seed)
    try:
        return _train_and_evaluate(run_dir, stop, config, env_name, seed, evaluation, pufferl, vecenv, policy)
    finally:  # on every path: a multiprocessing vecenv's workers would otherwise outlive the trainer
        close_vecenv(vecenv)


def _train_and_evaluate(
    run_dir: Path,
    stop: StopRequest,
    config: dict[str, Any],
    env_name: str,
    seed: int,
    evaluation: dict[str, Any],
    pufferl: ModuleType,
    vecenv: Any,
    policy: Any,
) -> dict[str, Any]:
    import pufferlib
    import torch

    train_cfg = dict(config["train"])
    base = config.get("base", {})
    device = train_cfg.get("device", "cpu")
    load_path = train_cfg.pop("load_model_path", None)
    if load_path:
        load_policy_state(policy, Path(load_path), device)
    optimizer = train_cfg.get("optimizer", "adam")
    trainer_config = {
        **train_cfg,
        "env": env_name,
        "use_rnn": bool(base.get("rnn_name")),
        "optimizer": "adam" if optimizer == "adamw" else optimizer,
        "data_dir": str(run_dir),
    }
    trainer_cls = make_trainer_class(pufferl, run_dir / CHECKPOINTS)
    logger = make_logger(pufferl, config, run_dir)
    try:
        trainer = trainer_cls(trainer_config, vecenv, policy, logger)
    except (ValueError, KeyError, pufferlib.APIUsageError) as exc:
        raise TrainerFailure("invalid_config", f"train: {exc}", EXIT_INVALID) from exc
    if optimizer == "adamw":
        _swap_optimizer(trainer, train_cfg)

    writer = MetricsWriter(run_dir)
    mapping = metric_mapping(env_name, config)
    aggregator = MetricsAggregator(mapping)
    tracker = BestTracker(run_dir / CHECKPOINTS, evaluation["metric"], evaluation["maximize"])
    total = int(train_cfg["total_timesteps"])
    started = time.monotonic()
    last_write = 0.0
    own_s = 0.0  # time the driver spends outside PufferLib's evaluate()/train(): its whole cost over `puffer train`
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
            own_started = time.monotonic()
            if logs is not None:
                aggregator.add(logs)
            _check_finite(trainer.losses, trainer.uncompiled_policy, trainer.global_step)
            now = time.monotonic()
            if now - last_write >= METRICS_EVERY_S or trainer.global_step >= total:
                sps = trainer.global_step / max(now - started, 1e-9)
                if aggregator.pending():
                    metrics, losses = aggregator.flush()
                    writer.write(trainer.global_step, sps, metrics, losses, epoch=trainer.epoch, total=total)
                    tracker.observe(metrics, trainer.global_step, trainer.uncompiled_policy)
                else:  # no env logs since the last line (a C env logs as its episodes end): progress only
                    writer.write(trainer.global_step, sps, {}, {}, epoch=trainer.epoch, total=total)
                last_write = now
            own_s += time.monotonic() - own_started
    except torch.OutOfMemoryError as exc:
        raise TrainerFailure("oom", str(exc).splitlines()[0], EXIT_OOM) from exc
    finally:
        checkpoint = Path(trainer.save_checkpoint())
        trainer.utilization.stop()
        writer.close()
        close_vecenv(vecenv)  # its workers busy-wait: evaluation runs on an env of its own
    wall = time.monotonic() - started
    if stop.signal_name is not None:
        raise TrainerFailure(
            "killed",
            f"stopped by {stop.signal_name} after {trainer.global_step} steps; "
            f"checkpoint {checkpoint.relative_to(run_dir)}",
            EXIT_KILLED,
        )

    def held_out(state: Path, episodes: int, eval_seed: int) -> HeldOut:
        load_policy_state(policy, state, device)
        policy.eval()
        torch.manual_seed(eval_seed)  # sampled actions: the evaluation is reproducible given its seed
        return evaluate_policy(policy, config, env_name, episodes, eval_seed, evaluation["env"])

    chosen, selection = checkpoint, select_checkpoint(run_dir, checkpoint, tracker, evaluation, held_out, mapping)
    if selection["chosen"] == "best":
        chosen = tracker.path
    evaluated = held_out(chosen, evaluation["episodes"], evaluation["seed"])
    episodes = evaluated.episodes
    write_eval_episodes(run_dir, episodes)
    metrics = evaluated.metrics(mapping)
    summary = {
        "metrics": {
            **metrics,
            "sps": trainer.global_step / max(wall, 1e-9),
            "agent_steps": trainer.global_step,
            "steps": trainer.global_step,
        },
        "eval": {
            "episodes": len(episodes),
            "env_episodes": evaluated.env_episodes,  # as the env's own logs counted them (ends it never flags too)
            "seed": evaluation["seed"],
            "policy": "sampled",
            "env": evaluation["env"],
        },
        "steps": trainer.global_step,
        "wall_s": round(wall, 3),
        "driver_overhead_s": round(own_s, 4),
        "checkpoint": str(chosen.relative_to(run_dir)),
        "final_checkpoint": str(checkpoint.relative_to(run_dir)),
        "selection": selection,
        "seed": seed,
        "env": env_name,
        "train_config": {k: v for k, v in trainer_config.items() if k != "env"},
    }
    write_summary(run_dir, summary)
    finish_logger(logger, summary["metrics"], trainer.global_step, chosen)
    return summary


def evaluation_settings(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """``autopilot.evaluation`` as the loop wrote it (episodes, seed, env, metric); defaults when run by hand."""
    from autopilot.objective import EVAL_SEED_OFFSET

    given = config.get("autopilot", {}).get("evaluation") or {}
    return {
        "episodes": int(given.get("episodes", 512)),
        "seed": int(given.get("seed", (seed + EVAL_SEED_OFFSET) % 2**31)),
        "env": dict(given.get("env") or config.get("env", {})),
        "metric": given.get("metric", "success_rate"),
        "maximize": bool(given.get("maximize", True)),
    }


def select_checkpoint(
    run_dir: Path,
    final: Path,
    tracker: BestTracker,
    evaluation: dict[str, Any],
    held_out: Any,
    mapping: dict[str, str],
) -> dict[str, Any]:
    """Final or best-smoothed checkpoint, chosen on selection episodes of their own (another seed), so the
    held-out evaluation that follows is not the one the choice was made on."""
    if tracker.step is None or not tracker.path.exists():
        return {"chosen": "final", "why": "final checkpoint (no smoothed objective to pick a best one by)"}
    n = max(16, evaluation["episodes"] // 4)
    seed = (evaluation["seed"] + 1) % 2**31
    metric, sign = evaluation["metric"], 1.0 if evaluation["maximize"] else -1.0
    scores = {}
    for name, path in (("final", final), ("best", tracker.path)):
        values = held_out(path, n, seed).metrics(mapping)
        scores[name] = values.get(metric)
    final_score, best_score = scores["final"], scores["best"]
    chosen = (
        "best"
        if best_score is not None and (final_score is None or best_score * sign > final_score * sign)
        else "final"
    )
    step = tracker.step
    return {
        "chosen": chosen,
        "selection_episodes": n,
        "selection_seed": seed,
        "final": {"checkpoint": str(final.relative_to(run_dir)), metric: final_score},
        "best": {
            "checkpoint": str(tracker.path.relative_to(run_dir)),
            "step": step,
            metric: best_score,
            "smoothed_training_value": tracker.best,
        },
        "why": (
            f"{'best-smoothed' if chosen == 'best' else 'final'} checkpoint: on {n} selection episodes "
            f"{metric} was {_fmt(best_score)} for the best-smoothed one (step {step:,}) and {_fmt(final_score)} "
            "for the final one"
        ),
    }


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3f}"
