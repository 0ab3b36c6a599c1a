"""No input crashes anything: NaN and Infinity tokens, huge numbers, long strings, deep nesting, non-object
JSON, invalid UTF-8 and symbolic links, through every channel. Each gives a clear error that names the key
(exit 1 or 2 from the CLI), a failures.json record where a proposal was refused, and never a traceback."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import AUTOPILOT, make_loop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopilot.config import JSONInputError, decode_text, parse_json_object
from autopilot.experiment import presets
from autopilot.experiment.scaffold import scaffold
from autopilot.loop.intake import parse_manual
from autopilot.space import SearchSpace
from autopilot.workspace.layout import Workspace
from autopilot.workspace.ledger import json_safe
from autopilot.workspace.records import Records

pytestmark = pytest.mark.slow  # real processes (trainers, servers, the CLI)

SPACE = SearchSpace.from_dict(presets.default_search_space(), presets.puffer_rules())
BASELINE = presets.baseline_config("builtin", "drone_delivery", "quick")
KEYS = [*SPACE.params, "autopilot.evaluation.episodes", "autopilot.eval_episodes", "train", "env", "x.y", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.builds(lambda c, n: c * n, st.characters(), st.integers(min_value=2000, max_value=100_000)),  # long text
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4))
documents = st.one_of(st.dictionaries(keys, values, max_size=6), values)


def as_bytes(document: Any, mode: int) -> bytes:
    """The same document as a user, an agent or an LLM might write it: JSON with NaN/Infinity tokens, or
    mangled (cut short, invalid UTF-8, or nested far too deep)."""
    text = json.dumps(document, allow_nan=True)
    if mode == 1:
        return text[: len(text) // 2].encode()
    if mode == 2:
        return b"\xff\xfe" + text.encode() + b"\xc3"
    if mode == 3:
        return ("[" * 1500 + text + "]" * 1500).encode()  # deeper than Python's recursion limit
    return text.encode()


def check_errors(errors: list[str]) -> None:
    assert errors, "a refusal must say why"
    for line in errors:
        assert ": " in line and len(line) < 4000  # "key: reason", bounded however large the input


@settings(max_examples=2_500, suppress_health_check=list(HealthCheck))  # derandomized: the same 2,500 each run
@given(documents, st.integers(min_value=0, max_value=3))
def test_thousands_of_hostile_documents_through_the_manual_channel_and_validation(document: Any, mode: int) -> None:
    raw = as_bytes(document, mode)
    data, problem = parse_manual(raw)
    if data is None:
        assert problem and len(problem) < 400
        return
    assert isinstance(data, dict) and not problem
    result = SPACE.validate(data, BASELINE, None)
    if not result.ok:
        check_errors(result.errors)
    else:
        for value in result.normalized.values():
            assert not (isinstance(value, float) and not math.isfinite(value))
    # Whatever was refused can be recorded: the ledger entry is strict JSON.
    json.dumps(json_safe({"overrides": data, "reason": "; ".join(result.errors)}), allow_nan=False)


@settings(max_examples=150, suppress_health_check=list(HealthCheck))
@given(documents, st.integers(min_value=0, max_value=3))
def test_hostile_documents_through_the_files_of_a_real_workspace(
    tmp_path_factory: Any, document: Any, mode: int
) -> None:
    root = tmp_path_factory.mktemp("ws") / "ws"
    scaffold(root)
    ws = Workspace(root)
    ws.next_config.write_bytes(as_bytes(document, mode))
    loop = make_loop(ws, proposer="manual")
    cases = loop.make_batch(loop.guard_readonly())
    failures = Records(ws).failures()
    assert len(cases) + len(failures) == (0 if document == {} and mode == 0 else 1)
    assert json.loads(ws.next_config.read_text()) == {}  # reset, the original archived
    for failure in failures:
        assert failure["class"] == "invalid_config" and failure["proposer"] == "manual" and failure["reason"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"train.learning_rate": NaN}', "train.learning_rate"),
        ('{"train": {"learning_rate": Infinity}}', "train.learning_rate"),
        ('{"train.learning_rate": -Infinity}', "train.learning_rate"),
        ('{"train.learning_rate": 1e400}', "train.learning_rate"),
        ('{"train.update_epochs": 100000000000000000000000000000}', "train.update_epochs"),
        ('{"autopilot.resume_from": "' + "a" * 100_000 + '"}', "autopilot.resume_from"),
        ('{"autopilot.resume_from": "' + "x/" * 3000 + 'model.pt"}', "autopilot.resume_from"),
        ('{"autopilot.resume_from": "bad\\u0000name"}', "autopilot.resume_from"),
        ('{"autopilot.eval_episodes": 1}', "belongs to the objective"),
        ('{"autopilot": {"evaluation": {"episodes": 1}}}', "belongs to the objective"),
        ('{"autopilot.evaluation.env.num_drones": 1}', "belongs to the objective"),
        ('{"' + "k" * 5000 + '": 1}', "too long"),
        ("{" + '"a": {' * 40 + "}" * 40 + "}", "nested deeper"),
    ],
)
def test_validate_names_the_key_for_hostile_values(tmp_path: Path, text: str, named: str) -> None:
    source = tmp_path / "override.json"
    source.write_text(text)
    result = subprocess.run([AUTOPILOT, "validate", str(source), "-w", str(tmp_path / "none")], capture_output=True)
    assert result.returncode == 1, result.stderr.decode()[-2000:]
    out = result.stdout.decode()
    assert named in out and "Traceback" not in out + result.stderr.decode()
    assert max(len(line) for line in out.splitlines()) < 4000


@pytest.mark.parametrize(
    "raw",
    [b'["a list"]', b"42", b'"text"', b"null", b"\xff\xfe{}", b"{" * 100_000, b"", b'{"a": 1'],
)
def test_validate_refuses_what_is_not_a_json_object_with_exit_2(tmp_path: Path, raw: bytes) -> None:
    source = tmp_path / "override.json"
    source.write_bytes(raw)
    result = subprocess.run([AUTOPILOT, "validate", str(source), "-w", str(tmp_path / "none")], capture_output=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr.decode()
    assert str(source) in result.stderr.decode()


def test_decode_and_parse_never_raise_anything_but_their_own_error() -> None:
    for raw in (b"\x80", b"[" * 50_000, b"NaN", b'{"a": NaN}'):
        try:
            parse_json_object(decode_text(raw))
        except JSONInputError as exc:
            assert str(exc)


def hostile_ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    scaffold(root)
    return Workspace(root)


def test_pending_cases_that_are_not_cases_are_moved_aside_and_recorded(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path)
    ws.pending.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"case_id": "outside", "overrides": {}}))
    (ws.pending / "linked.json").symlink_to(outside)
    (ws.pending / "nan.json").write_text('{"case_id": "nan", "overrides": {"train.seed": NaN}}')
    (ws.pending / "utf.json").write_bytes(b"\xff\xfe")
    (ws.pending / "list.json").write_text("[1, 2]")
    (ws.pending / "types.json").write_text(json.dumps({"case_id": "types", "overrides": "not a dict"}))
    (ws.pending / "escape.json").write_text(json.dumps({"case_id": "../../escape", "overrides": {}}))
    (ws.pending / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    loop = make_loop(ws, proposer="manual")
    loop.recover()
    assert not list(ws.pending.glob("*.json"))
    assert outside.is_file()  # the link moved, its target untouched
    refused = Records(ws).failures()
    assert len(refused) == 7 and all(f["class"] == "invalid_config" for f in refused)
    assert any("symbolic link" in f["reason"] for f in refused)
    assert any("case_id" in f["reason"] for f in refused)


def test_a_pending_case_with_hostile_overrides_is_refused_before_it_runs(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path)
    ws.pending.mkdir(parents=True, exist_ok=True)
    case = {"case_id": "hostile", "overrides": {"train.learning_rate": 1e308, "autopilot.eval_episodes": 1}}
    (ws.pending / "hostile.json").write_text(json.dumps(case))
    loop = make_loop(ws, proposer="manual")
    [pending] = loop.records.pending_cases()
    loop.execute([pending])
    assert loop.records.pending_cases() == []
    [failure] = Records(ws).failures()
    assert "train.learning_rate" in failure["reason"] and "belongs to the objective" in failure["reason"]
    assert not list(ws.runs.glob("*"))  # no run folder was made for it


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (lambda p: p.write_bytes(b"\xff\xfe trainer:"), "not UTF-8"),
        (lambda p: p.write_text("a: " + "[" * 5000 + "]" * 5000), "nested too deeply"),
        (lambda p: p.write_text("- a list\n"), "top level must be a mapping"),
        (lambda p: p.write_text(p.read_text().replace("episodes: 512", "episodes: .nan")), "objective.evaluation"),
        (lambda p: p.write_text(p.read_text().replace("confidence: 0.99", "confidence: 1e400")), "confidence"),
    ],
)
def test_a_hostile_experiment_file_is_a_clear_error_for_every_command(
    tmp_path: Path, mangle: Any, expected: str
) -> None:
    ws = hostile_ws(tmp_path)
    mangle(ws.experiment_file)
    for command in (["run", "--iterations", "1"], ["status"], ["leaderboard"], ["propose", "--dry-run"]):
        result = subprocess.run([AUTOPILOT, *command, "-w", str(ws.root)], capture_output=True, timeout=120)
        err = result.stderr.decode()
        assert result.returncode == 2, (command, err[-2000:])
        assert expected in err and "Traceback" not in err, (command, err[-2000:])


@pytest.mark.parametrize(
    "baseline",
    [b'{"train": {"learning_rate": NaN}}', b"\xff", b"[]", b"{" * 50_000],
)
def test_a_hostile_baseline_is_a_clear_error(tmp_path: Path, baseline: bytes) -> None:
    ws = hostile_ws(tmp_path)
    ws.baseline_file("quick").write_bytes(baseline)
    result = subprocess.run([AUTOPILOT, "run", "-w", str(ws.root)], capture_output=True, timeout=120)
    err = result.stderr.decode()
    assert result.returncode == 2 and "baseline_quick.json" in err and "Traceback" not in err, err[-2000:]


def test_symbolic_links_in_place_of_workspace_inputs_are_refused(tmp_path: Path) -> None:
    ws = hostile_ws(tmp_path)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"train.learning_rate": 0.01}))
    ws.next_config.unlink()
    ws.next_config.symlink_to(secret)
    loop = make_loop(ws, proposer="manual")
    assert loop.make_batch(loop.guard_readonly()) == []
    assert secret.read_text() and not ws.next_config.is_symlink()
    [failure] = Records(ws).failures()
    assert "symbolic link" in failure["reason"]


def test_the_loop_survives_hostile_manual_files_and_keeps_running(tmp_path: Path) -> None:
    """Through `autopilot step` as a cron job would call it: each hostile file is refused, the loop goes on."""
    ws = hostile_ws(tmp_path)
    experiment = yaml.safe_load(ws.experiment_file.read_text())
    experiment["proposer"]["name"] = "manual"
    ws.experiment_file.write_text(yaml.safe_dump(experiment))
    for raw in (b'{"train.learning_rate": NaN}', b"\xff", b"[" * 100_000, b'{"train.learning_rate": 1e999}'):
        ws.next_config.write_bytes(raw)
        result = subprocess.run([AUTOPILOT, "step", "-w", str(ws.root)], capture_output=True, timeout=120)
        assert result.returncode == 0 and "Traceback" not in result.stderr.decode(), result.stderr.decode()[-2000:]
    failures = Records(ws).failures()
    assert len(failures) == 4 and all(f["proposer"] == "manual" for f in failures)
    json.loads(ws.failures.read_text())  # strict JSON on disk
    assert os.path.getsize(ws.failures) < 100_000


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
