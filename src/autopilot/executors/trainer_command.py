"""How the loop launches a trainer: the argv (never through a shell) and the environment (docs/architecture.md)."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from autopilot.experiment.schema import TrainerSpec
from autopilot.trainers.protocol import CONFIG_FILE, protocol_env
from autopilot.workspace.secrets import secret_env_names, secret_value


def trainer_argv(trainer: TrainerSpec, run_dir: Path) -> list[str]:
    """``builtin``/``puffer``: the PufferLib driver under ``trainer.python``; ``command``: the argv template
    with ``{run_dir}``, ``{config}`` and ``{workspace}`` filled in (a run folder is ``<workspace>/runs/<id>``)."""
    if trainer.kind == "command":
        assert trainer.command, "trainer.command is checked when autopilot.yaml is loaded"
        values = {"run_dir": str(run_dir), "config": str(run_dir / CONFIG_FILE), "workspace": str(run_dir.parents[1])}
        out = []
        for arg in trainer.command:
            for name, value in values.items():
                arg = arg.replace("{" + name + "}", value)
            out.append(arg)
        return out
    python = trainer.python or sys.executable
    return [python, "-m", "autopilot.trainers.puffer", "--run-dir", str(run_dir)]


def trainer_env(trainer: TrainerSpec, run_dir: Path) -> dict[str, str]:
    """This process's environment for the trainer, without the proposers' API keys unless
    ``trainer.env_passthrough`` names them, plus the trainer protocol's variables."""
    hidden = secret_env_names() - set(trainer.env_passthrough)
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    # A secret the trainer is meant to have, held by this process (not in its environment after the re-exec).
    env.update({name: value for name in trainer.env_passthrough if (value := secret_value(name))})
    env.update({**protocol_env(run_dir), "PYTHONUNBUFFERED": "1"})
    # A trainer under another interpreter (trainer.python) must still import this package's driver, and
    # nothing else of this interpreter's: a folder holding only ``autopilot`` goes first on its path.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root()), env.get("PYTHONPATH", "")) if p)
    return env


def package_root() -> Path:
    """A folder whose only importable entry is this package: the source tree's ``src`` for a checkout, else a
    folder with a link to the installed package (never the whole site-packages, which would shadow the
    trainer's own numpy or torch)."""
    package = Path(__file__).resolve().parents[1]
    parent = package.parent
    if parent.name == "src" and {p.name for p in parent.iterdir() if p.suffix != ".egg-info"} <= {package.name}:
        return parent
    digest = hashlib.sha256(str(package).encode()).hexdigest()[:12]
    shim = Path(tempfile.gettempdir()) / f"autopilot-path-{os.getuid()}-{digest}"
    link = shim / package.name
    if not link.exists():
        shim.mkdir(parents=True, exist_ok=True)
        tmp = shim / f".{package.name}.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(package, target_is_directory=True)
        os.replace(tmp, link)
    return shim
