"""autopilot.yaml loaded into the typed sections of ``schema.py`` and checked, with messages that name the key,
the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from autopilot.errors import ErrorList
from autopilot.experiment.behavior_rules import NEXT_FOCI, RuleError, parse_rules
from autopilot.experiment.proposer_names import proposer_problem
from autopilot.experiment.schema import EXECUTOR_KINDS, TRAINER_KINDS, Experiment
from autopilot.space import SearchSpace, SpaceError
from autopilot.workspace.atomic import read_bytes
from autopilot.workspace.ledger import FAILURE_CLASSES
from autopilot.workspace.secrets import register_secret_env


class ExperimentError(ErrorList):
    """An invalid autopilot.yaml; one ``section.key: reason`` line per problem."""

    def __init__(self, path: Path | str, errors: list[str]) -> None:
        super().__init__(errors, f"{path}: invalid experiment file")


CHOICES: dict[str, tuple[str, ...]] = {
    "trainer.kind": TRAINER_KINDS,
    "objective.mode": ("max", "min"),
    "proposer.llm.provider": ("openai", "anthropic"),
    "executor.kind": EXECUTOR_KINDS,
}
# (low, high) inclusive bounds for numeric settings; a bound of None is open.
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "proposer.batch_size": (1, 1024),
    "objective.evaluation.episodes": (1, 100_000),
    "objective.evaluation.seed_offset": (0, 2**31 - 1),
    "objective.confidence": (0.5, 0.9999),
    "proposer.seed": (0, 2**32 - 1),
    "proposer.protein_gp_steps": (10, 100_000),
    "proposer.ga.exploit_fraction": (0.0, 1.0),
    "proposer.ga.top_k": (1, None),
    "proposer.ga.sigma": (0.0, 10.0),
    "proposer.ga.structural_mutation_prob": (0.0, 1.0),
    "proposer.ga.novelty_window": (0, None),
    "proposer.pbt.population": (2, 1024),
    "proposer.pbt.segment_fraction": (0.001, 1.0),
    "proposer.pbt.quantile": (0.01, 0.5),
    "proposer.pbt.perturb": (0.0, 1.0),
    "proposer.pbt.resample": (0.0, 1.0),
    "proposer.llm.timeout_s": (0.001, None),
    "proposer.llm.context_tokens": (500, 1_000_000),
    "proposer.llm.meta_review_every": (0, None),
    "proposer.agent.timeout_s": (0.001, None),
    "guardrails.window": (1, None),
    "guardrails.max_fail_rate": (0.0, 1.0),
    "guardrails.safe_mode_fail_rate": (0.0, 1.0),
    "guardrails.max_common_failure_count": (1, None),
    "guardrails.max_critical_class_count": (1, None),
    "early_stopping.keep_fraction": (0.0, 1.0),
    "early_stopping.min_trials": (1, None),
    "early_stopping.min_delta": (0.0, None),
    "early_stopping.smoothing": (1, 100),
    "early_stopping.min_se": (0.0, 100.0),
    "early_stopping.exempt_every": (0, None),
    "resources.workers": (1, 1024),
    "resources.timeout_minutes": (0.001, None),
    "resources.stall_seconds": (0.001, None),
    "resources.num_cpus": (0.0, None),
    "resources.num_gpus": (0.0, None),
    "resources.max_log_mb": (0.01, 100_000),
    "resources.max_output_mb": (0.01, 100_000),
}


MAX_EXPERIMENT_BYTES = 2 << 20  # an autopilot.yaml is a few kilobytes, a PufferLib env's with its sweep tens
MAX_YAML_NODES = 100_000  # counted with every alias expanded: a billion-laughs file is refused before it grows


class YAMLTooLarge(ValueError):
    """A YAML document whose aliases expand past ``MAX_YAML_NODES`` (or refer to themselves)."""


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that first counts the document's nodes with every alias expanded, so an alias bomb is
    refused in milliseconds instead of growing to gigabytes in whatever later walks the loaded value."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {}, set())
        if size > MAX_YAML_NODES:
            raise YAMLTooLarge(
                f"its aliases (*name) expand to over {MAX_YAML_NODES:,} values; at most {MAX_YAML_NODES:,} "
                "are read (write the values out, or use fewer nested aliases)"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, float], open_nodes: set[int]) -> float:
    """How many nodes ``node`` stands for once aliases are expanded (an alias is the same node object, so each
    is counted once per reference; a node inside itself is infinite)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        return math.inf
    open_nodes.add(key)
    total = 1.0
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, sizes, open_nodes)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            total += _expanded_size(key_node, sizes, open_nodes) + _expanded_size(value_node, sizes, open_nodes)
    open_nodes.discard(key)
    sizes[key] = total
    return total


def load_experiment(path: Path) -> Experiment:
    """Read and check ``path``; raises :class:`ExperimentError` listing every problem."""
    try:
        raw = load_yaml(read_bytes(path, MAX_EXPERIMENT_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise ExperimentError(path, ["file not found (run `autopilot init` to create a workspace)"]) from None
    except YAMLTooLarge as exc:
        raise ExperimentError(path, [str(exc)]) from None
    except OSError as exc:
        raise ExperimentError(path, [f"cannot be read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ExperimentError(path, [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except RecursionError:
        raise ExperimentError(path, ["nested too deeply"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ExperimentError(path, [f"{where}not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    return experiment_from_dict(raw, path)


def experiment_from_dict(raw: Any, path: Path | str = "autopilot.yaml") -> Experiment:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ExperimentError(path, [f"top level must be a mapping of sections, got {type(raw).__name__}"])
    errors: list[str] = control_characters(raw)
    data = dict(raw)
    space_raw, rules_raw = data.pop("search_space", None), data.pop("rules", [])
    exp = _build(Experiment, data, "", errors)
    if space_raw is None:
        errors.append("search_space: missing (a mapping of dotted key -> {type, low, high, ...})")
    else:
        try:
            exp.search_space = SearchSpace.from_dict(space_raw, rules_raw or [])
        except SpaceError as exc:
            errors += exc.errors
    errors += _cross_checks(exp)
    if errors:
        raise ExperimentError(path, errors)
    register_secret_env([exp.proposer.llm.api_key_env, *exp.secrets])  # its value is redacted from every record
    return exp


CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and newline are text; the rest would print raw
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def control_characters(value: Any, where: str = "") -> list[str]:
    """One error per key or string anywhere in the document holding a control character (NUL, escape...): a
    key or metric name is printed to the console and the report, where such bytes would act, not show."""
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            dotted = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and CONTROL_RE.search(key):
                out.append(f"{where or 'top level'}: key {key!r} holds a control character; names are printable text")
            out += control_characters(item, dotted)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += control_characters(item, f"{where}[{i}]")
    elif isinstance(value, str) and CONTROL_RE.search(value):
        out.append(f"{where}: {value[:80]!r} holds a control character; values are printable text")
    return out[:20]


def _cross_checks(exp: Experiment) -> list[str]:
    errors = [
        f"secrets[{i}]: {name!r} is not an environment variable name (letters, digits, _; not a digit first)"
        for i, name in enumerate(exp.secrets)
        if not ENV_NAME_RE.match(name)
    ]
    problem = proposer_problem(exp.proposer.name)
    if problem:
        errors.append(problem)
    if exp.tracking.neptune and not exp.tracking.neptune_project:
        errors.append('tracking.neptune_project: required with tracking.neptune ("workspace/project")')
    if exp.trainer.kind == "command" and not exp.trainer.command:
        errors.append("trainer.command: required for kind 'command' (argv list with {run_dir} and {config})")
    if exp.guardrails.safe_mode_fail_rate > exp.guardrails.max_fail_rate:
        errors.append(
            f"guardrails.safe_mode_fail_rate: {exp.guardrails.safe_mode_fail_rate} must not exceed "
            f"guardrails.max_fail_rate ({exp.guardrails.max_fail_rate})"
        )
    for i, c in enumerate(exp.objective.constraints):
        if c.max is None and c.min is None:
            errors.append(f"objective.constraints[{i}]: give max or min for metric {c.metric!r}")
    if exp.executor.kind == "local" and exp.executor.ray_address:
        errors.append("executor.ray_address: only used with executor.kind 'ray'")
    try:
        parse_rules(exp.analysis.behavior_rules)
    except RuleError as exc:
        errors += exc.errors
    for focus, action in exp.proposer.behavior.items():
        where = f"proposer.behavior.{focus}"
        if focus not in NEXT_FOCI:
            errors.append(f"{where}: unknown next_focus; allowed: {', '.join(NEXT_FOCI)}")
        unknown = set(action) - {"timesteps", "scale", "tune", "doc"}
        errors += [f"{where}.{k}: unknown field; allowed: timesteps, scale, tune, doc" for k in sorted(unknown)]
    if not (isinstance(exp.early_stopping.enabled, bool) or exp.early_stopping.enabled == "auto"):
        errors.append(f"early_stopping.enabled: must be true, false or auto, got {_show(exp.early_stopping.enabled)}")
    for i, fraction in enumerate(exp.early_stopping.rungs):
        if not 0.0 < fraction < 1.0:
            errors.append(f"early_stopping.rungs[{i}]: must be a fraction in (0, 1), got {fraction}")
    for i, name in enumerate(exp.guardrails.critical_classes):
        if name not in FAILURE_CLASSES:
            errors.append(
                f"guardrails.critical_classes[{i}]: unknown failure class {name!r}; allowed: "
                f"{', '.join(FAILURE_CLASSES)}"
            )
    return errors


def _build(cls: Any, data: Any, prefix: str, errors: list[str]) -> Any:
    """Fill dataclass ``cls`` from ``data``, collecting ``prefix.key: reason`` errors."""
    where = prefix.rstrip(".") or "top level"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors.append(f"{where}: must be a mapping, got {type(data).__name__}")
        return _INVALID  # not cls(): a section with a required field (a constraint's metric) has no default
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "search_space"}
    for key in data:
        if key not in fields:
            match = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean {match[0]}?" if match else f"; allowed: {', '.join(fields)}"
            errors.append(f"{prefix}{key}: unknown key{hint}")
    kwargs = {}
    for name in fields:
        if name not in data:
            continue
        dotted = f"{prefix}{name}"
        kwargs[name] = _convert(hints[name], data[name], dotted, errors)
    try:
        return cls(**{k: v for k, v in kwargs.items() if v is not _INVALID})
    except TypeError as exc:  # a required field missing (e.g. a constraint without metric)
        errors.append(f"{where}: {exc}")
        return None


_INVALID = object()


def _convert(hint: Any, value: Any, dotted: str, errors: list[str]) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, dotted, errors)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, dotted + ".", errors)
    if origin is list:
        if not isinstance(value, list):
            errors.append(f"{dotted}: must be a list, got {_show(value)}")
            return _INVALID
        out = [_convert(args[0], v, f"{dotted}[{i}]", errors) for i, v in enumerate(value)]
        return _INVALID if any(v is _INVALID or v is None for v in out) else out
    if origin is dict:
        value_type = args[1]
        if value_type is str:
            ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            what = "a mapping of names to names"
        elif value_type is float:
            ok = isinstance(value, dict) and all(
                isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for k, v in value.items()
            )
            what = "a mapping of metric names to numbers"
        else:  # free-form tables (rules, the behaviour table) are checked by their own parsers
            ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
            what = "a mapping"
        if not ok:
            errors.append(f"{dotted}: must be {what}, got {_show(value)}")
            return _INVALID
        return value
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            errors.append(f"{dotted}: must be true or false, got {_show(value)}")
            return _INVALID
        return value
    if hint in (int, float):
        ok_type = isinstance(value, int) if hint is int else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type or not math.isfinite(value):
            errors.append(f"{dotted}: must be {'an integer' if hint is int else 'a number'}, got {_show(value)}")
            return _INVALID
        low, high = BOUNDS.get(dotted, (None, None))
        if (low is not None and value < low) or (high is not None and value > high):
            errors.append(f"{dotted}: {value} is outside [{low}, {'inf' if high is None else high}]")
            return _INVALID
        return float(value) if hint is float else value
    if hint is str:
        if not isinstance(value, str):
            errors.append(f"{dotted}: must be a string, got {_show(value)}")
            return _INVALID
        allowed = CHOICES.get(dotted)
        if allowed and value not in allowed:
            errors.append(f"{dotted}: must be one of {', '.join(allowed)}, got {value!r}")
            return _INVALID
        return value
    raise TypeError(f"unsupported field type {hint!r} at {dotted}")  # a programming error, not user input


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value)
