"""Driver fidelity: steps per second through the autopilot driver against PufferLib's own `puffer train` loop
(`pufferl.train`), same env, same config, same machine, one run after the other (alternating, --repeat runs of
each; the median run of each side is shown, and every run's figures); and the final training score each logs.

    .venv/bin/python -m benchmarks.bench_fidelity --envs drone_delivery puffer_cartpole puffer_squared --steps 2000000

Both sides are timed the same way: environment steps divided by the time from the first evaluate() to the end
of the last train() (pufferl.train's 32-epoch final evaluation and the driver's held-out evaluation are not
training). The score is the last logged value of the env's sweep metric (`environment/<metric>`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from autopilot.config import to_dotted
from autopilot.experiment.presets import baseline_config
from autopilot.experiment.puffer_native import load_native
from benchmarks.provenance import header

PUFFERL_SIDE = r"""
import json, sys, time, warnings
from pufferlib import pufferl
from autopilot.trainers.puffer.build import build_env_and_policy, seed_everything
config = json.load(open(sys.argv[1]))
env_name = config["base"]["env_name"]
warnings.filterwarnings("default", category=RuntimeWarning)
seed_everything(int(config["train"]["seed"]))
vecenv, policy = build_env_and_policy(config, env_name, int(config["train"]["seed"]))
marks, last = {}, {}
real_evaluate, real_train = pufferl.PuffeRL.evaluate, pufferl.PuffeRL.train
def evaluate(self):
    marks.setdefault("start", time.monotonic())
    return real_evaluate(self)
def train(self):
    out = real_train(self)
    marks["end"], marks["steps"] = time.monotonic(), self.global_step
    if out:  # the last value of each key (a log may lack the env's stats)
        last.update({k: float(v) for k, v in out.items() if isinstance(v, (int, float))})
    return out
pufferl.PuffeRL.evaluate, pufferl.PuffeRL.train = evaluate, train
pufferl.PuffeRL.print_dashboard = lambda self, *a, **k: None
args = {**config, **config["base"], "load_model_path": None, "load_id": None, "neptune": False, "wandb": False}
args["train"] = {**config["train"], "use_rnn": bool(config["base"].get("rnn_name")), "data_dir": sys.argv[2]}
pufferl.train(env_name, args, vecenv=vecenv, policy=policy)
sps = marks["steps"] / (marks["end"] - marks["start"])
print(json.dumps({"sps": sps, "steps": marks["steps"], "last": last}))
"""


def configs(env: str, steps: int, shrink: int) -> tuple[dict[str, Any], str]:
    """The env's config; ``shrink`` divides its env count and batch (GPU-sized configs on a 2-core CPU), the
    same for both sides."""
    if env == "drone_delivery":
        config = baseline_config("builtin", env, "quick")
        metric = "success_rate"
    else:
        native = load_native(env, None, None)
        config, metric = native.baseline_full, native.metric
    config["train"]["total_timesteps"] = steps
    if shrink > 1 and env != "drone_delivery":
        train = config["train"]
        config["env"]["num_envs"] = max(1, int(config["env"].get("num_envs", 1)) // shrink)
        train["batch_size"] = max(train["bptt_horizon"], int(train["batch_size"]) // shrink)
        for key in ("minibatch_size", "max_minibatch_size"):
            train[key] = min(int(train[key]), train["batch_size"])
    config["vec"]["seed"] = config["train"]["seed"]  # pufferl seeds the envs with vec.seed, the driver with train.seed
    config["train"]["device"] = "cpu"
    config.setdefault("autopilot", {})["evaluation"] = {"episodes": 16}
    return config, metric


def driver_side(config: dict[str, Any], tmp: Path) -> dict[str, Any]:
    run_dir = tmp / "driver"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "autopilot.trainers.puffer", "--run-dir", str(run_dir)],
        cwd=run_dir,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"driver failed: {done.stderr[-1000:]}")
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {"sps": lines[-1]["sps"], "steps": lines[-1]["step"], "lines": lines}


def pufferl_side(config: dict[str, Any], tmp: Path) -> dict[str, Any]:
    path = tmp / "config.json"
    path.write_text(json.dumps(config))
    (tmp / "data").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", PUFFERL_SIDE, str(path), str(tmp / "data")], cwd=tmp, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"pufferl.train failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["drone_delivery", "puffer_cartpole", "puffer_squared"])
    parser.add_argument("--steps", type=int, default=5_000_000)
    parser.add_argument("--shrink", type=int, default=16, help="divide PufferLib envs' env count and batch by this")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating; the median is shown")
    args = parser.parse_args()
    print("\n".join(header()))
    print(f"PufferLib envs at 1/{args.shrink} of their shipped env count and batch (the same config on both sides)")
    print(
        "| env | steps | pufferl.train steps/s | driver steps/s | driver / pufferl | final score pufferl | driver "
        "| each run, pufferl/driver steps/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for env in args.envs:
        config, metric = configs(env, args.steps, args.shrink)
        refs, drivers = [], []
        for _ in range(args.repeat):  # alternating, so a drift in the machine's speed hits both sides alike
            with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                refs.append(pufferl_side(config, Path(a)))
                drivers.append(driver_side(config, Path(b)))
        ref = sorted(refs, key=lambda r: r["sps"])[len(refs) // 2]  # the median run of each side
        ours = sorted(drivers, key=lambda r: r["sps"])[len(drivers) // 2]
        runs = ", ".join(f"{r['sps']:,.0f}/{o['sps']:,.0f}" for r, o in zip(refs, drivers, strict=True))
        key = f"environment/{metric}"
        ref_score = ref["last"].get(key)
        # The driver logs a mapped name (the built-in task's) or PufferLib's own environment/<metric> key.
        our_score = next(
            (
                value
                for line in reversed(ours["lines"])
                for value in (line["metrics"].get(metric), line["metrics"].get(key))
                if value is not None
            ),
            None,
        )
        print(
            f"| {env} | {to_dotted(config)['train.total_timesteps']:,} | {ref['sps']:,.0f} | {ours['sps']:,.0f} | "
            f"{ours['sps'] / ref['sps']:.1%} | {metric} {ref_score if ref_score is None else round(ref_score, 4)} | "
            f"{our_score if our_score is None else round(our_score, 4)} | {runs} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
