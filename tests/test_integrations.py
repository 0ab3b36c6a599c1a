"""The tools users already watch: the Python API, Optuna and CSV exports, TensorBoard and W&B tracking, any
Optuna sampler by name, the champion back to PufferLib, and the first use of a command workspace."""

from __future__ import annotations

import configparser
import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from helpers import AUTOPILOT, make_loop, make_ws, queue

import autopilot
from autopilot.experiment.json_schema import experiment_schema
from autopilot.experiment.scaffold import render_experiment
from autopilot.tracking.mirror import TENSORBOARD_DIR

pytestmark = pytest.mark.slow  # real trainer processes

DOCS_SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "autopilot.schema.json"


def command_study(tmp_path: Path, **sections: Any) -> autopilot.Study:
    ws = make_ws(tmp_path / "ws", **sections)
    return autopilot.open(ws.root)


def test_a_study_runs_from_the_python_api_with_a_relative_path(tmp_path: Path, monkeypatch: Any) -> None:
    make_ws(tmp_path / "ws", resources={"timeout_minutes": 1, "stall_seconds": 30})  # a loaded machine is slow
    monkeypatch.chdir(tmp_path)
    study = autopilot.open("ws")  # relative: every trial still finds its config
    result = study.run(trials=4, quiet=True, proposer="random", seed=1)
    assert result.exit_code == 0, result.message
    assert [v.state for v in study.runs] == ["complete"] * 4
    frame = study.dataframe()
    assert list(frame["run_id"]) == [v.id for v in study.runs]
    assert frame["champion"].sum() == 1 and study.champion is not None
    assert frame.loc[frame["champion"], "run_id"].item() == study.champion.id
    assert "params_train.x" in frame.columns and "metrics_score" in frame.columns


def test_the_optuna_export_loads_back_with_the_champion_as_its_best_trial(tmp_path: Path) -> None:
    study = command_study(tmp_path)
    study.run(trials=5, quiet=True, proposer="random", seed=2)
    champion = study.champion
    assert champion is not None
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    done = subprocess.run(
        [AUTOPILOT, "export", "optuna", storage, "-w", str(study.workspace.root), "--study-name", "s"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded = optuna.load_study(study_name="s", storage=storage)
    assert len(loaded.trials) == sum("confirm" not in v.record.tags for v in study.runs)  # one per config
    assert loaded.best_trial.user_attrs["run_id"] == champion.id
    assert loaded.best_trial.user_attrs["champion"] is True
    assert loaded.best_trial.params["train.x"] == pytest.approx(champion.overrides.get("train.x", 0.5))
    assert all(t.intermediate_values for t in loaded.trials)  # the learning curves


def test_the_csv_export_has_one_row_per_run(tmp_path: Path) -> None:
    study = command_study(tmp_path)
    study.run(trials=3, quiet=True, proposer="random", seed=3)
    out = tmp_path / "runs.csv"
    done = subprocess.run(
        [AUTOPILOT, "export", "csv", str(out), "-w", str(study.workspace.root)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["run_id"] for r in rows] == [v.id for v in study.runs]
    assert {r["state"] for r in rows} == {"complete"}


def test_tensorboard_gets_every_trial_of_a_command_study(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    study = command_study(tmp_path, tracking={"tensorboard": True})
    study.run(trials=3, quiet=True, proposer="random", seed=4)
    for view in study.runs:
        events = EventAccumulator(str(study.workspace.runs / view.id / TENSORBOARD_DIR))
        events.Reload()
        assert "metrics/score" in events.Tags()["scalars"]
        [final] = events.Scalars("final/score")
        assert final.value == pytest.approx(view.metrics["score"])


def test_any_optuna_sampler_by_name_through_the_same_replay(tmp_path: Path) -> None:
    study = command_study(tmp_path, proposer={"name": "optuna:NSGAIISampler", "optuna": {"population_size": 4}})
    result = study.run(trials=3, quiet=True)
    assert result.exit_code == 0, result.message
    assert {v.record.proposer for v in study.runs} >= {"optuna:NSGAIISampler"}

    ws = make_ws(tmp_path / "bad", proposer={"name": "optuna:NoSuchSampler"})
    done = subprocess.run([AUTOPILOT, "status", "-w", str(ws.root)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "proposer.name: 'optuna:NoSuchSampler'" in done.stderr and "TPESampler" in done.stderr


def test_the_champion_goes_back_to_pufferlib_as_an_ini(tmp_path: Path) -> None:
    study = command_study(tmp_path)
    study.run(trials=2, quiet=True, proposer="random", seed=5)
    champion = study.champion
    assert champion is not None
    out = tmp_path / "champion.ini"
    done = subprocess.run(
        [AUTOPILOT, "export", "puffer-ini", champion.id, str(out), "-w", str(study.workspace.root)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    parser = configparser.ConfigParser()
    parser.read(out)
    assert "autopilot" not in parser.sections()
    config = json.loads((study.workspace.runs / champion.id / "config.json").read_text())
    assert float(parser["train"]["x"]) == config["train"]["x"]
    assert "--train.x" in done.stdout  # the same as `puffer train` flags


def test_init_command_then_run_succeeds_as_scaffolded(tmp_path: Path) -> None:
    ws = tmp_path / "mine"
    assert subprocess.run([AUTOPILOT, "init", str(ws), "--trainer", "command"], capture_output=True).returncode == 0
    done = subprocess.run(
        [AUTOPILOT, "run", "-w", str(ws), "--trials", "2"], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done: budget used (2/2 trials)" in done.stdout
    assert (ws / "autopilot.yaml").read_text().startswith("# yaml-language-server: $schema=")


def test_the_published_json_schema_is_current_and_accepts_every_scaffold() -> None:
    import jsonschema

    schema = experiment_schema()
    assert json.loads(DOCS_SCHEMA.read_text()) == schema, "regenerate: python -m autopilot.experiment.json_schema"
    for trainer, env in (("builtin", "drone_delivery"), ("command", "custom"), ("puffer", "puffer_drone")):
        jsonschema.validate(yaml.safe_load(render_experiment(trainer, env)), schema)
    bad = yaml.safe_load(render_experiment("builtin", "drone_delivery"))
    bad["resources"]["workers"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    good = yaml.safe_load(render_experiment("builtin", "drone_delivery"))
    good["rules"].append({"check": "at_least", "key": "train.batch_size", "than": ["vec.num_envs", 4]})
    good["proposer"]["name"] = "optuna:GPSampler"
    jsonschema.validate(good, schema)
    # an editor flags what the loader refuses: a proposer name, a search-space entry's field, a rule's factor
    for section, key, value in (
        ("proposer", "name", "tpee"),
        ("search_space", "train.gamma", {"type": "float", "low": 0.9, "hgih": 0.999}),
        ("search_space", "train.gamma", {"type": "float", "low": 0.9, "high": 0.999, "tune": [0.9]}),
    ):
        wrong = yaml.safe_load(render_experiment("builtin", "drone_delivery"))
        wrong[section][key] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)
    wrong = yaml.safe_load(render_experiment("builtin", "drone_delivery"))
    wrong["rules"][0] = {"check": "at_least", "key": "a", "than": [0]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema)


@pytest.mark.puffer
def test_offline_wandb_runs_for_a_pufferlib_driver_study(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    subprocess.run([AUTOPILOT, "init", str(root)], check=True, capture_output=True)
    experiment = yaml.safe_load((root / "autopilot.yaml").read_text())
    experiment["tracking"] = {"wandb": True, "wandb_project": "autopilot-test"}
    experiment["objective"]["evaluation"]["episodes"] = 32
    (root / "autopilot.yaml").write_text(yaml.safe_dump(experiment))
    baseline = json.loads((root / "configs" / "baseline_quick.json").read_text())
    baseline["train"]["total_timesteps"] = 150_000
    (root / "configs" / "baseline_quick.json").write_text(json.dumps(baseline))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    done = subprocess.run(
        [AUTOPILOT, "run", "-w", str(root), "--trials", "2", "--proposer", "random", "--batch-size", "2"],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(Path(autopilot.__file__).parents[1])},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # every W&B run of the study in WORKSPACE/wandb/, where `wandb sync` run in the workspace looks
    trial_runs = sorted(p for p in root.glob("wandb/offline-run-*/run-*.wandb") if "-study-" not in p.name)
    assert len(trial_runs) == 2
    for path in trial_runs:
        keys, config = wandb_records(path)
        assert any(k.startswith("environment/") for k in keys) and "final/success_rate" in keys
        assert {"train.learning_rate", "env.num_drones", "autopilot.evaluation.episodes"} <= config  # all of it
    [study_run] = root.glob("wandb/offline-run-*-study-*/run-*.wandb")
    keys, _ = wandb_records(study_run)
    assert {"trial/success_rate", "champion_so_far", "failure_class", "param/train.learning_rate"} <= keys


def wandb_records(path: Path) -> tuple[set[str], set[str]]:
    """The metric names logged to an offline W&B run and its config's keys, parsed with wandb's own record
    schema (its Python reader of .wandb files is gone from wandb 0.31; the file is LevelDB's log format: 32 KiB
    blocks, 7-byte record headers of crc, length and type, after wandb's 7-byte header)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", path
    pos, block, pending, keys, config = 7, 32768, b"", set(), set()
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block  # the block's tail is padding
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (2, 3):  # the first and middle pieces of a record that spans blocks
            pending = chunk if kind == 2 else pending + chunk
            continue
        record = wandb_internal_pb2.Record()
        record.ParseFromString(pending + chunk if kind == 4 else chunk)
        if record.WhichOneof("record_type") == "history":
            keys.update(item.key or "/".join(item.nested_key) for item in record.history.item)
        elif record.WhichOneof("record_type") == "config":
            config.update(item.key or "/".join(item.nested_key) for item in record.config.update)
        elif record.WhichOneof("record_type") == "run":
            config.update(item.key or "/".join(item.nested_key) for item in record.run.config.update)
    return keys, config


def test_a_command_trainers_trials_go_to_every_tracking_tool_with_their_hyperparameters(tmp_path: Path) -> None:
    """One offline W&B run and one offline Neptune run per trial of a command trainer (the loop mirrors
    metrics.jsonl), with the full applied config; the study run's rows carry each trial's hyperparameters;
    `wandb sync --dry-run` in the workspace finds them all; TensorBoard has each run's hyperparameters
    (HParams) beside its result."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tracking = {"tensorboard": True, "wandb": True, "wandb_project": "t", "neptune": True, "neptune_project": "w/t"}
    study = command_study(tmp_path, tracking=tracking)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "NEPTUNE_"))}
    done = subprocess.run(
        [AUTOPILOT, "run", "-w", str(study.workspace.root), "--trials", "3", "--proposer", "random", "--seed", "5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    root = study.workspace.root
    assert "Z tracking: " not in study.workspace.labbook.read_text()  # no tool failed
    for view in study.runs:
        [path] = root.glob(f"wandb/offline-run-*-{view.id}/run-*.wandb")
        keys, config = wandb_records(path)
        assert {"metrics/score", "final/score"} <= keys
        assert {"train.x", "train.behavior", "autopilot.evaluation.episodes"} <= config
        events = EventAccumulator(str(root / "runs" / view.id / TENSORBOARD_DIR))
        events.Reload()
        assert "metrics/score" in events.Tags()["scalars"]
        assert events.PluginTagToContent("hparams")  # HParams: this run's session with its hyperparameters
    [study_run] = root.glob("wandb/offline-run-*-study-*/run-*.wandb")
    assert "param/train.x" in wandb_records(study_run)[0]
    neptune_runs = {}  # run id -> the paths its offline Neptune run logged (neptune's own operation log)
    for log in root.glob(".neptune/offline/run__*/data-*.log"):
        operations = [json.loads(line)["obj"] for line in log.read_text().splitlines()]
        name = next(o["value"] for o in operations if o["path"] == ["sys", "name"])
        neptune_runs[name] = {"/".join(o["path"]) for o in operations}
    assert set(neptune_runs) == {v.id for v in study.runs}
    assert all({"metrics/score", "final/score", "config/train.x"} <= paths for paths in neptune_runs.values())
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "wandb"), "sync", "--dry-run"], cwd=root, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert all(view.id in listed.stdout + listed.stderr for view in study.runs)


def test_tensorboard_is_written_while_a_trial_runs(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    study = command_study(
        tmp_path, tracking={"tensorboard": True}, resources={"timeout_minutes": 2, "stall_seconds": 60}
    )
    queue(study.workspace, {"train.behavior": "curve", "train.sleep": 1.0})  # ten lines, a second apart
    loop = threading.Thread(target=lambda: make_loop(study.workspace).run())
    loop.start()
    try:
        seen_running = []
        for _ in range(600):
            [view] = study.runs or [None]
            folder = study.workspace.runs / view.id / TENSORBOARD_DIR if view is not None else None
            if view is not None and view.state == "running" and folder is not None and folder.is_dir():
                events = EventAccumulator(str(folder))
                events.Reload()
                if "metrics/score" in events.Tags()["scalars"]:
                    seen_running.append(len(events.Scalars("metrics/score")))
                    break
            if view is not None and view.state not in ("pending", "running"):
                break
            time.sleep(0.1)
        assert seen_running and seen_running[0] >= 1  # curve points before the trial ended
    finally:
        loop.join(timeout=120)


def test_cli_help_does_not_import_matplotlib() -> None:
    code = "import sys, autopilot.cli; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
