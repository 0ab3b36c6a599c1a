"""The console script, run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real processes (trainers, servers, the CLI)

AUTOPILOT = shutil.which("autopilot") or str(Path(sys.executable).with_name("autopilot"))


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUTOPILOT, *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60)


def test_init_creates_the_layout_and_never_overwrites_without_force(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    first = run("init", str(ws))
    assert first.returncode == 0, first.stderr
    for rel in (
        "autopilot.yaml",
        "configs/baseline_quick.json",
        "configs/baseline_full.json",
        "proposals/next_config.json",
        "journal/labbook.md",
        "journal/notes.md",
        "prompts/agent.md",
    ):
        assert (ws / rel).is_file(), rel
        assert f"created  {rel}" in first.stdout
    assert (ws / "cases" / "pending").is_dir() and (ws / "runs").is_dir()
    assert json.loads((ws / "proposals/next_config.json").read_text()) == {}

    (ws / "journal/notes.md").write_text("my notes\n")
    again = run("init", str(ws))
    assert again.returncode == 0
    assert "kept  journal/notes.md" in again.stdout and "use --force" in again.stdout
    assert (ws / "journal/notes.md").read_text() == "my notes\n"

    forced = run("init", str(ws), "--force")
    assert "overwritten  journal/notes.md" in forced.stdout
    assert (ws / "journal/notes.md").read_text() != "my notes\n"


def test_init_uses_the_workspace_env_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPILOT_WORKSPACE", str(tmp_path / "from_env"))
    assert run("init").returncode == 0
    assert (tmp_path / "from_env" / "autopilot.yaml").is_file()


def test_init_rejects_an_env_the_builtin_trainer_cannot_run(tmp_path: Path) -> None:
    result = run("init", str(tmp_path / "ws"), "--env", "puffer_cartpole")
    assert result.returncode == 2
    assert "--env: the builtin trainer runs 'drone_delivery'" in result.stderr


def test_validate_prints_the_normalised_override_with_derived_values(tmp_path: Path) -> None:
    run("init", str(tmp_path / "ws"))
    result = run(
        "validate", "-w", str(tmp_path / "ws"), "-", stdin='{"train": {"learning_rate": 0.01}, "env.num_drones": 4}'
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == {
        "env.num_drones": 4,
        "train.batch_size": 8192,
        "train.learning_rate": 0.01,
        "train.max_minibatch_size": 8192,
        "train.minibatch_size": 8192,
    }


def test_the_builtin_policy_width_may_be_set_as_a_power_of_two(tmp_path: Path) -> None:
    run("init", str(tmp_path / "ws"))
    ok = run("validate", "-w", str(tmp_path / "ws"), "-", stdin='{"policy.hidden_size": 256}')
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout) == {"policy.hidden_size": 256}
    bad = run("validate", "-w", str(tmp_path / "ws"), "-", stdin='{"policy.hidden_size": 300}')
    assert bad.returncode == 1 and bad.stdout.startswith("policy.hidden_size: ") and "power of two" in bad.stdout


def test_validate_lists_every_error_and_exits_1(tmp_path: Path) -> None:
    override = tmp_path / "o.json"
    override.write_text('{"train.anneal_lr": "true", "train.gamma": 1.5}')
    result = run("validate", "-w", str(tmp_path / "missing-ws-uses-defaults"), str(override))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "train.anneal_lr: must be JSON true or false, got string 'true'",
        "train.gamma: 1.5 is outside the safe range [0.0, 0.999999]",
    ]


@pytest.mark.parametrize(
    ("text", "where"), [('{"a": 1,,}', "<stdin>:1:9"), ("[1]", "<stdin>:1:1"), ("", "<stdin>:1:1")]
)
def test_validate_exits_2_with_line_and_column_for_non_objects(text: str, where: str) -> None:
    result = run("validate", "-", stdin=text)
    assert result.returncode == 2
    assert result.stderr.startswith(where)


def test_validate_reports_an_invalid_experiment_file(tmp_path: Path) -> None:
    run("init", str(tmp_path / "ws"))
    yaml_path = tmp_path / "ws" / "autopilot.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("mode: max", "mode: up"))
    result = run("validate", "-w", str(tmp_path / "ws"), "-", stdin="{}")
    assert result.returncode == 2
    assert "objective.mode: must be one of max, min, got 'up'" in result.stderr


def test_help_explains_every_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    for word in ("init", "validate", "run"):
        assert word in result.stdout


def test_every_command_and_every_option_has_a_help_text() -> None:
    import argparse

    from autopilot.cli import build_parser

    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    helped = {c.dest: c.help for c in commands._choices_actions}
    silent = [name for name in commands.choices if not helped.get(name)]
    for name, parser in commands.choices.items():
        silent += [
            f"{name} {' '.join(a.option_strings) or a.dest}"
            for a in parser._actions
            if not a.help and not isinstance(a, argparse._HelpAction)
        ]
    assert silent == []


def test_propose_makes_one_case_per_worker_for_a_model_based_proposer(tmp_path: Path) -> None:
    assert run("init", str(tmp_path / "ws"), "--trainer", "command").returncode == 0

    def batch(*extra: str) -> list[dict]:
        done = run("propose", "-w", str(tmp_path / "ws"), "--dry-run", "--proposer", "tpe", "--batch-size", "8", *extra)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert len(batch()) == 1  # TPE learns from each result: one case for the one worker
    assert len(batch("--workers", "4")) == 4  # four trials at once: four cases (at most the batch size)
    assert not list((tmp_path / "ws" / "cases" / "pending").glob("*.json"))  # a dry run writes nothing


def test_bash_completes_commands_and_options_from_the_printed_script(tmp_path: Path) -> None:
    done = run("completion", "bash")
    assert done.returncode == 0, done.stderr
    script = tmp_path / "autopilot.bash"
    script.write_text(done.stdout)

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        program = (
            f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'; "
            'COMP_POINT=${#COMP_LINE}; _shtab_autopilot; echo "${COMPREPLY[@]}"'
        )
        return subprocess.run(["bash", "-c", program], capture_output=True, text=True).stdout.split()

    assert complete("autopilot", "exp") == ["export"]
    assert complete("autopilot", "run", "--budget-s") == ["--budget-steps"]
    assert run("completion", "zsh").stdout.startswith("#compdef autopilot")
