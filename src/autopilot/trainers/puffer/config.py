"""``python -m autopilot.trainers.puffer.config --env NAME | --ini PATH``: print a PufferLib env's config as
``puffer train NAME`` would load it, as JSON on stdout.

It runs under the trainer's interpreter (``trainer.python``, e.g. your PufferLib checkout's venv), so it reads
that checkout's ``default.ini`` and env inis. ``--env`` goes through pufferl's own ``load_config``; ``--ini``
reads ``default.ini`` then the given file with the same parsing. ``auto`` values are resolved as pufferl
resolves them at launch: ``vec.num_workers`` = ``vec.num_envs``; ``vec.batch_size`` = ``num_envs // 2`` (1 for
one env); ``train.batch_size`` = total agents x ``train.bptt_horizon`` (the agents counted on one env instance,
built from the config; the count is printed too, for PufferLib's segments rule).
A ``cuda`` device on a machine without CUDA becomes ``cpu``, and the output says so.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import importlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

SECTIONS = ("train", "env", "vec", "policy", "rnn")
BASE_KEYS = ("package", "env_name", "policy_name", "rnn_name")


def _value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def from_ini(paths: list[Path]) -> dict[str, Any]:
    parser = configparser.ConfigParser()
    read = parser.read(paths)
    missing = [str(p) for p in paths if str(p) not in read]
    if missing:
        raise SystemExit(f"invalid_config: cannot read {', '.join(missing)}")
    out: dict[str, Any] = {}
    for section in parser.sections():
        values = {key: _value(parser[section][key]) for key in parser[section]}
        if section == "base":
            out.update(values)
        else:
            node = out
            for part in section.split("."):
                node = node.setdefault(part, {})
            node.update(values)
    return out


def base_section(env_name: str) -> dict[str, Any]:
    """The [base] section of ``default.ini`` and the env's ini, found as pufferl's ``load_config`` finds it
    (its args mix [base] with command-line options, which this keeps apart)."""
    import glob

    import pufferlib

    config_dir = Path(pufferlib.__file__).parent / "config"
    for path in sorted(glob.glob(str(config_dir / "**" / "*.ini"), recursive=True)):
        parser = configparser.ConfigParser()
        parser.read([config_dir / "default.ini", path])
        if env_name in parser["base"].get("env_name", "").split():
            return {key: _value(parser["base"][key]) for key in parser["base"]}
    return {}


def via_pufferl(env_name: str) -> dict[str, Any]:
    saved = sys.argv
    sys.argv = ["puffer"]  # its loader parses the command line: give it none
    try:
        pufferl = importlib.import_module("pufferlib.pufferl")
        args = pufferl.load_config(env_name)
    finally:
        sys.argv = saved
    return json.loads(json.dumps(args, default=str))


def resolve(
    raw: dict[str, Any],
    base: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[str], int | None, dict[str, Any]]:
    """(config in the driver's shape, the sweep section, notes on what was resolved, the agents on one env
    instance as built from the config (None when it cannot be built here), and the env's own values of the keys
    resolved or left out, dotted: what an export writes back for PufferLib)."""
    notes: list[str] = []
    config: dict[str, Any] = {"base": {k: raw.get(k) for k in BASE_KEYS}}
    for section in SECTIONS:
        config[section] = dict(raw.get(section) or {})
    vec, train = config["vec"], config["train"]
    originals = {f"{section}.{k}": v for section in ("vec", "train") for k, v in config[section].items()}
    # [base] keys the driver does not take (max_suggestion_cost: puffer sweep's cost cap) go back on export
    originals.update({f"base.{k}": v for k, v in (base or {}).items() if k not in BASE_KEYS})
    num_envs = int(vec.get("num_envs", 1))
    if vec.get("num_workers") == "auto":
        vec["num_workers"] = num_envs
        notes.append(f"vec.num_workers auto -> {num_envs} (pufferl: one worker per env)")
    if vec.get("batch_size") == "auto":
        vec["batch_size"] = 1 if num_envs == 1 else num_envs // 2
        notes.append(f"vec.batch_size auto -> {vec['batch_size']} (pufferl: num_envs // 2)")
    try:
        per_instance: int | None = count_agents(config)
    except Exception as exc:  # an env that does not build here: its agents go uncounted, and the rule unchecked
        per_instance = None
        notes.append(f"agents not counted ({type(exc).__name__}: {exc}): PufferLib's segments rule is not checked")
    if train.get("batch_size") == "auto" or train.get("bptt_horizon") == "auto":
        if per_instance is None:
            raise ValueError("train.batch_size or bptt_horizon is auto, and the env's agents cannot be counted")
        agents = per_instance * num_envs
        if train.get("batch_size") == "auto":
            train["batch_size"] = agents * int(train["bptt_horizon"])
            notes.append(f"train.batch_size auto -> {train['batch_size']} ({agents} agents x bptt_horizon)")
        else:
            train["bptt_horizon"] = int(train["batch_size"]) // agents
            notes.append(f"train.bptt_horizon auto -> {train['bptt_horizon']} (batch_size // {agents} agents)")
    if str(train.get("device", "cpu")).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            train["device"] = "cpu"
            notes.append("train.device cuda -> cpu (no CUDA on this machine)")
    for key in ("data_dir", "name", "project"):
        train.pop(key, None)  # pufferl's output folder and logger names: the run folder replaces them
    sweep = raw.get("sweep") or {}
    resolved = {f"{section}.{k}": v for section in ("vec", "train") for k, v in config[section].items()}
    changed = {k: v for k, v in originals.items() if resolved.get(k, _DROPPED) != v}
    return config, sweep, notes, per_instance, changed


_DROPPED = object()  # a key the driver's config leaves out (pufferl's output folder and logger names)


def count_agents(config: dict[str, Any]) -> int:
    package = config["base"].get("package") or "ocean"
    module = importlib.import_module("pufferlib.ocean" if package == "ocean" else f"pufferlib.environments.{package}")
    env = module.env_creator(config["base"]["env_name"])(**config["env"])
    try:
        return int(env.num_agents)
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autopilot.trainers.puffer.config", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--env", help="PufferLib env name, e.g. puffer_cartpole")
    group.add_argument("--ini", type=Path, help="your own env's ini file (read after PufferLib's default.ini)")
    args = parser.parse_args(argv)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # `import pufferlib` drops a resources link into the working folder
        try:
            import pufferlib

            if args.ini:
                default = Path(pufferlib.__file__).parent / "config" / "default.ini"
                raw = from_ini([default, Path(cwd, args.ini).resolve()])
                base = {k: v for k, v in raw.items() if not isinstance(v, dict)}
            else:
                raw = via_pufferl(args.env)
                base = base_section(args.env)
            config, sweep, notes, agents, originals = resolve(raw, base)
        except SystemExit:
            raise
        except Exception as exc:  # PufferLib's APIUsageError for an unknown env, an env that fails to build
            print(f"invalid_config: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        finally:
            os.chdir(cwd)
    out = {"config": config, "sweep": sweep, "notes": notes, "agents_per_instance": agents, "originals": originals}
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
