"""A JSON Schema of autopilot.yaml, generated from the dataclasses of ``schema.py`` and the choices and bounds
that ``parse.py`` checks, so editors can complete and check the file (``# yaml-language-server: $schema=``).

    python -m autopilot.experiment.json_schema > docs/autopilot.schema.json
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from autopilot.experiment.parse import BOUNDS, CHOICES
from autopilot.experiment.proposer_names import OPTUNA_PREFIX, PROPOSER_NAMES
from autopilot.experiment.schema import Experiment

PARAMETER = {
    "type": "object",
    "description": "one searchable key: its type, safe range (low/high or choices) and tune range",
    "properties": {
        "type": {"enum": ["float", "int", "pow2", "bool", "categorical", "run_ref"]},
        "low": {"type": "number", "description": "the lowest value validation accepts"},
        "high": {"type": "number", "description": "the highest value validation accepts"},
        "scale": {"enum": ["linear", "log"], "description": "how optimisers sample between low and high"},
        "choices": {"type": "array", "description": "categorical: the values validation accepts"},
        "tune": {
            "description": "false (never sampled), true (sampled over the safe range) or [low, high] inside it "
            "(categorical: the choices sampled)",
            "anyOf": [{"type": "boolean"}, {"type": "array"}],
        },
        "doc": {"type": "string", "description": "why the key matters or where its range comes from"},
    },
    "required": ["type"],
    "additionalProperties": False,
    # a numeric key's tune range is two numbers; a categorical key's, some of its choices
    "if": {"properties": {"type": {"const": "categorical"}}},
    "else": {
        "properties": {
            "tune": {
                "anyOf": [
                    {"type": "boolean"},
                    {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                ]
            }
        }
    },
}
_FACTORS = {"type": "array", "minItems": 1, "items": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 1}]}}
RULE = {
    "type": "object",
    "description": "a cross-key rule: divisible (key % by == 0), derive (key = product), at_least (key // divided_by "
    ">= than); factors are dotted keys or positive integers",
    "properties": {
        "check": {"enum": ["divisible", "derive", "at_least"]},
        "key": {"type": "string"},
        "by": {"type": "string"},
        "product": _FACTORS,
        "than": _FACTORS,
        "divided_by": {"type": "string"},
        "doc": {"type": "string"},
    },
    "required": ["check", "key"],
    "additionalProperties": False,
}


def experiment_schema() -> dict[str, Any]:
    schema = _object(Experiment, "")
    schema["properties"]["search_space"] = {"type": "object", "additionalProperties": PARAMETER}
    schema["properties"]["rules"] = {"type": "array", "items": RULE}
    schema["properties"]["proposer"]["properties"]["name"] = {
        "description": "a proposer, or optuna:<a class of optuna.samplers>",
        "anyOf": [{"enum": list(PROPOSER_NAMES)}, {"type": "string", "pattern": f"^{OPTUNA_PREFIX}[A-Za-z]+$"}],
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "autopilot.yaml",
        "description": "The experiment file of an autopilot workspace (generated from autopilot's config classes).",
        **schema,
    }


def _object(cls: Any, prefix: str) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {}
    for field in dataclasses.fields(cls):
        if field.name == "search_space":
            continue
        dotted = f"{prefix}{field.name}"
        properties[field.name] = _type(hints[field.name], dotted)
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _type(hint: Any, dotted: str) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return {"anyOf": [_type(a, dotted) for a in args]}
    if dataclasses.is_dataclass(hint):
        return _object(hint, f"{dotted}.")
    if origin is list:
        return {"type": "array", "items": _type(args[0], dotted) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type(args[1], dotted) if len(args) == 2 else {}}
    out: dict[str, Any] = {}
    if hint is type(None):
        out["type"] = "null"
    elif hint is bool:
        out["type"] = "boolean"
    elif hint is int:
        out["type"] = "integer"
    elif hint is float:
        out["type"] = "number"
    elif hint is str:
        out["type"] = "string"
    if dotted in CHOICES:
        out["enum"] = list(CHOICES[dotted])
    low, high = BOUNDS.get(dotted, (None, None))
    if low is not None and out.get("type") in ("integer", "number"):
        out["minimum"] = low
    if high is not None and out.get("type") in ("integer", "number"):
        out["maximum"] = high
    return out


if __name__ == "__main__":
    print(json.dumps(experiment_schema(), indent=2))
