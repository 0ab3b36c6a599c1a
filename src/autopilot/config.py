"""Nested PufferLib-shaped configs and dotted overrides: flatten, merge, diff, hash.

A config is a nested dict of sections (``train``, ``env``, ``vec``, ...) whose leaves are scalars. An
override may be nested, dotted, or a mix; :func:`to_dotted` turns any of them into one flat dict and
refuses ambiguity instead of silently picking a winner.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from autopilot.errors import ErrorList

Config = dict[str, Any]


class OverrideError(ErrorList):
    """An override whose shape (not its values) is wrong; carries one ``key: reason`` line per problem."""


class JSONInputError(ValueError):
    """Input that is not JSON, or not a JSON object; the message names line and column."""


def parse_json_object(text: str | bytes, source: str = "<input>", allow_nan: bool = True) -> dict[str, Any]:
    """Parse ``text`` as a JSON object, the one parser of hand-written JSON. NaN/Infinity tokens are kept as
    floats (``allow_nan``) so validation can name the key that holds them, or refused here."""
    if isinstance(text, bytes):
        text = decode_text(text, source)
    try:
        value = json.loads(text) if allow_nan else json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise JSONInputError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
    except RecursionError:
        raise JSONInputError(f"{source}: nested too deeply to be an override") from None
    if not isinstance(value, dict):
        raise JSONInputError(f"{source}:1:1: expected a JSON object, got {type(value).__name__}")
    return value


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number (JSON has no NaN or Infinity)", name, 0)


def decode_text(raw: bytes, source: str = "<input>") -> str:
    """UTF-8 text, or a :class:`JSONInputError` that says where the bytes stop being UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONInputError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def to_dotted(override: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a nested, dotted or mixed override to ``{"section.key": value}``.

    Raises :class:`OverrideError` when the same key is given twice (e.g. nested and dotted) or a key is
    both a section and a value.
    """
    flat: dict[str, Any] = {}
    errors: list[str] = []

    def walk(prefix: str, node: Mapping[str, Any], depth: int) -> None:
        for key, value in node.items():
            if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
                errors.append(f"{_clip(prefix + str(key))}: not a valid key (empty name or stray dot)")
                continue
            dotted = f"{prefix}{key}"
            if len(dotted) > MAX_KEY_CHARS:
                errors.append(
                    f"{_clip(dotted)}: a key of {len(dotted)} characters is too long (at most {MAX_KEY_CHARS})"
                )
            elif isinstance(value, Mapping) and depth >= MAX_DEPTH:
                errors.append(f"{_clip(dotted)}: nested deeper than {MAX_DEPTH} levels")
            elif isinstance(value, Mapping):
                walk(dotted + ".", value, depth + 1)
            elif dotted in flat:
                errors.append(f"{dotted}: given more than once (nested and dotted forms of the same key)")
            else:
                flat[dotted] = value

    walk("", override, 1)
    for key in flat:
        parts = key.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[:i]) in flat:
                errors.append(f"{key}: its parent {'.'.join(parts[:i])} is given as a value, not a section")
    if errors:
        raise OverrideError(sorted(set(errors)))
    return flat


MAX_DEPTH = 16  # sections of sections: a real config has two or three levels
MAX_KEY_CHARS = 200


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def to_nested(dotted: Mapping[str, Any]) -> Config:
    """Inverse of :func:`to_dotted` for a flat dict without conflicts."""
    nested: Config = {}
    for key in sorted(dotted):
        node = nested
        *sections, leaf = key.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = dotted[key]
    return nested


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Config:
    """Return a new config: ``base`` with every leaf of ``override`` (any form) applied. Inputs untouched."""
    merged: Config = copy.deepcopy(dict(base))
    for key, value in to_dotted(override).items():
        node = merged
        *sections, leaf = key.split(".")
        for section in sections:
            child = node.get(section)
            if not isinstance(child, dict):
                child = {}
                node[section] = child
            node = child
        node[leaf] = copy.deepcopy(value)
    return merged


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"dotted.key": {"old": a, "new": b}}`` for every leaf that differs; absent sides are ``None``."""
    flat_old, flat_new = to_dotted(old), to_dotted(new)
    diff: dict[str, dict[str, Any]] = {}
    for key in sorted(set(flat_old) | set(flat_new)):
        a, b = flat_old.get(key), flat_new.get(key)
        if key not in flat_old or key not in flat_new or not _same_value(a, b):
            diff[key] = {"old": a, "new": b}
    return diff


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return bool(a == b)


def canonical_json(config: Mapping[str, Any], float_keys: Callable[[str], bool] = lambda _k: False) -> str:
    """A stable text form: dotted keys sorted; values of float-typed keys written as floats.

    ``float_keys(key)`` says which keys hold floats, so ``1`` and ``1.0`` hash alike there (and only there:
    for an int key, ``1`` and ``1.0`` are different inputs and validation rejects the latter).
    """
    flat = to_dotted(config)
    canon: dict[str, Any] = {}
    for key, value in flat.items():
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if is_number and float_keys(key) and math.isfinite(float(value)):
            value = float(value)
        canon[key] = value
    return json.dumps(canon, sort_keys=True, separators=(",", ":"), allow_nan=True)


def config_hash(config: Mapping[str, Any], float_keys: Callable[[str], bool] = lambda _k: False) -> str:
    """First 16 hex digits of the SHA-256 of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(config, float_keys).encode()).hexdigest()[:16]
