"""Search space (declared safe ranges), cross-key rules, and validation of overrides against both.

Every value an override sets is checked here before anything runs. Validation reports all problems at
once, one ``dotted.key: reason`` line each, and never coerces: ``1`` is not ``true``, ``"0.1"`` is not
``0.1``, ``16.0`` is not the integer ``16``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopilot.config import OverrideError, deep_merge, to_dotted
from autopilot.errors import ErrorList
from autopilot.ids import is_run_id

PARAM_TYPES = ("float", "int", "pow2", "bool", "categorical", "run_ref")
SCALES = ("linear", "log")
RUN_REF_WORDS = ("latest", "best")


class SpaceError(ErrorList):
    """A search space or rule list that is itself invalid; one ``search_space.key: reason`` line each."""


@dataclass(frozen=True)
class Parameter:
    """One overridable key with its safe range.

    ``low``/``high`` (inclusive) are the safe range every override must respect. ``tune`` narrows what
    optimisers sample by default (``None`` = the whole safe range, ``False`` = validated but never proposed
    unless a human or rule asks).
    """

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    choices: tuple[Any, ...] = ()
    tune: tuple[float, float] | bool | None = None
    doc: str = ""

    @property
    def is_numeric(self) -> bool:
        return self.type in ("float", "int", "pow2")

    @property
    def tunable(self) -> bool:
        return self.tune is not False and self.type != "run_ref"

    def tune_bounds(self) -> tuple[float, float]:
        """The range optimisers sample: ``tune`` if given, else the safe range."""
        assert self.low is not None and self.high is not None, self.name
        if isinstance(self.tune, tuple):
            return self.tune
        return (self.low, self.high)

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not allowed, or ``None``. ``run_ref`` values are checked by the space."""
        if self.type == "bool":
            if not isinstance(value, bool):
                return f"must be JSON true or false, got {_show(value)}"
            return None
        if self.type == "categorical":
            if not any(_strict_equal(value, c) for c in self.choices):
                return f"must be one of {_show_choices(self.choices)}, got {_show(value)}"
            return None
        if self.type == "run_ref":
            if not isinstance(value, str) or not value:
                return f"must be 'latest', 'best', a run id or a checkpoint path, got {_show(value)}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "a number" if self.type == "float" else "an integer"
            return f"must be {kind} in [{_num(self.low)}, {_num(self.high)}], got {_show(value)}"
        if not math.isfinite(value):
            return f"not a finite number: {_show(value)}"
        if self.type in ("int", "pow2") and not isinstance(value, int):
            return f"must be an integer in [{_num(self.low)}, {_num(self.high)}], got {_show(value)}"
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            return f"{_show(value)} is outside the safe range [{_num(self.low)}, {_num(self.high)}]"
        if self.type == "pow2" and isinstance(value, int) and (value < 1 or value & (value - 1)):
            return f"must be a power of two in [{_num(self.low)}, {_num(self.high)}], got {_show(value)}"
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.is_numeric:
            out["low"], out["high"] = self.low, self.high
            if self.scale != "linear":
                out["scale"] = self.scale
        if self.type == "categorical":
            out["choices"] = list(self.choices)
        if isinstance(self.tune, tuple):
            out["tune"] = list(self.tune)
        elif self.tune is False:
            out["tune"] = False
        if self.doc:
            out["doc"] = self.doc
        return out

    @classmethod
    def from_dict(cls, name: str, spec: Any) -> Parameter:
        where = f"search_space.{name}"
        if not isinstance(spec, Mapping):
            raise SpaceError([f"{where}: must be a mapping like {{type: float, low: 0, high: 1}}"])
        known = {"type", "low", "high", "scale", "choices", "tune", "doc"}
        errors = [f"{where}.{k}: unknown field{_suggest(k, known)}" for k in spec if k not in known]
        ptype = spec.get("type")
        if ptype not in PARAM_TYPES:
            errors.append(f"{where}.type: must be one of {', '.join(PARAM_TYPES)}, got {_show(ptype)}")
            raise SpaceError(errors)
        low: Any = spec.get("low")
        high: Any = spec.get("high")
        scale = spec.get("scale", "linear")
        choices = tuple(spec.get("choices") or ())
        tune_raw = spec.get("tune")
        tune: tuple[float, float] | bool | None = None
        if ptype in ("float", "int", "pow2"):
            for bound_name, bound in (("low", low), ("high", high)):
                if isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound):
                    errors.append(f"{where}.{bound_name}: must be a finite number, got {_show(bound)}")
            if scale not in SCALES:
                errors.append(f"{where}.scale: must be one of {', '.join(SCALES)}, got {_show(scale)}")
            if not errors and low > high:
                errors.append(f"{where}: low ({_num(low)}) is greater than high ({_num(high)})")
            if isinstance(tune_raw, list | tuple):
                ok = len(tune_raw) == 2 and all(
                    isinstance(t, int | float) and not isinstance(t, bool) for t in tune_raw
                )
                if not ok or errors or not low <= tune_raw[0] <= tune_raw[1] <= high:
                    errors.append(
                        f"{where}.tune: must be [low, high] inside [{_num(low)}, {_num(high)}], got {tune_raw}"
                    )
                else:
                    tune = (tune_raw[0], tune_raw[1])
            elif tune_raw not in (None, True, False):
                errors.append(f"{where}.tune: must be true, false or [low, high], got {_show(tune_raw)}")
            else:
                tune = False if tune_raw is False else None
            if not errors and scale == "log" and tune is not False:
                sample_low = tune[0] if isinstance(tune, tuple) else low
                if sample_low <= 0:
                    errors.append(
                        f"{where}: log scale needs a positive sampling range; set tune: [low, high] with low > 0"
                    )
        elif ptype == "categorical":
            if not choices:
                errors.append(f"{where}.choices: a categorical parameter needs a non-empty list of choices")
            tune = False if tune_raw is False else None
        else:
            tune = False if tune_raw is False else None
        if errors:
            raise SpaceError(errors)
        return cls(
            name=name,
            type=ptype,
            low=low if ptype in ("float", "int", "pow2") else None,
            high=high if ptype in ("float", "int", "pow2") else None,
            scale=scale if ptype in ("float", "int", "pow2") else "linear",
            choices=choices,
            tune=tune,
            doc=str(spec.get("doc", "")),
        )


# Keys the loop writes into every run's config from the objective; no proposal may set them.
OBJECTIVE_OWNED = (
    "autopilot.evaluation",
    "autopilot.eval_episodes",
    "autopilot.metrics",
    "autopilot.inherited",
    "autopilot.tracking",
)
MAX_PATH_CHARS = 1024


@dataclass(frozen=True)
class CrossKeyRule:
    """A cross-key rule, declared as data in autopilot.yaml.

    - ``{check: divisible, key: A, by: B}``: A % B == 0.
    - ``{check: derive, key: K, product: [A, B, ...]}``: K == A*B*...; filled in when an override leaves K
      out, rejected when it gives K inconsistently.
    - ``{check: at_least, key: A, than: [B, ...], divided_by: H}``: A // H >= B*... (H optional).

    A factor of ``product`` or ``than`` may be a positive integer instead of a key (agents per env instance).
    """

    check: str
    key: str
    by: str | None = None
    product: tuple[str | int, ...] = ()
    divided_by: str | None = None
    doc: str = ""

    def keys(self) -> list[str]:
        return [
            self.key,
            *([self.by] if self.by else []),
            *(k for k in self.product if isinstance(k, str)),
            *([self.divided_by] if self.divided_by else []),
        ]

    def because(self) -> str:
        """The rule's reason, for an error message."""
        return f" ({self.doc})" if self.doc else ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "key": self.key}
        if self.check == "divisible":
            out["by"] = self.by
        elif self.check == "derive":
            out["product"] = list(self.product)
        else:
            out["than"] = list(self.product)
            if self.divided_by:
                out["divided_by"] = self.divided_by
        if self.doc:
            out["doc"] = self.doc
        return out

    @classmethod
    def from_dict(cls, index: int, spec: Any) -> CrossKeyRule:
        where = f"rules[{index}]"
        if not isinstance(spec, Mapping):
            raise SpaceError([f"{where}: must be a mapping with a 'check' field"])
        check, key = spec.get("check"), spec.get("key")
        allowed = {"divisible": {"by"}, "derive": {"product"}, "at_least": {"than", "divided_by"}}
        if check not in allowed:
            raise SpaceError([f"{where}.check: must be one of {', '.join(allowed)}, got {_show(check)}"])
        errors = []
        if not isinstance(key, str) or not key:
            errors.append(f"{where}.key: must be a dotted config key, got {_show(key)}")
        known = {"check", "key", "doc"} | allowed[check]
        errors += [
            f"{where}.{k}: unknown field for check '{check}'{_suggest(k, known)}" for k in spec if k not in known
        ]
        product_raw = spec.get("product" if check == "derive" else "than", [])
        if check != "divisible" and (
            not isinstance(product_raw, list) or not product_raw or not all(_factor(p) for p in product_raw)
        ):
            field_name = "product" if check == "derive" else "than"
            errors.append(
                f"{where}.{field_name}: must be a non-empty list of dotted keys or positive integers, "
                f"got {_show(product_raw)}"
            )
        if check == "divisible" and not isinstance(spec.get("by"), str):
            errors.append(f"{where}.by: must be a dotted config key, got {_show(spec.get('by'))}")
        if errors:
            raise SpaceError(errors)
        assert isinstance(key, str)
        return cls(
            check=check,
            key=key,
            by=spec.get("by"),
            product=tuple(product_raw) if check != "divisible" else (),
            divided_by=spec.get("divided_by"),
            doc=str(spec.get("doc", "")),
        )


def _factor(item: Any) -> bool:
    """A factor of a rule's product: a dotted key, or a positive integer constant."""
    if isinstance(item, str):
        return bool(item)
    return isinstance(item, int) and not isinstance(item, bool) and item > 0


@dataclass
class ValidationResult:
    """Outcome of validating one override. ``override`` holds the caller's keys, ``derived`` the filled-in ones."""

    override: dict[str, Any] = field(default_factory=dict)
    derived: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def normalized(self) -> dict[str, Any]:
        """The override as applied: caller's keys plus derived values, dotted, sorted."""
        merged = {**self.override, **self.derived}
        return {k: merged[k] for k in sorted(merged)}


@dataclass(frozen=True)
class SearchSpace:
    """The overridable keys with their safe ranges, plus the cross-key rules."""

    params: Mapping[str, Parameter]
    rules: tuple[CrossKeyRule, ...] = ()

    @classmethod
    def from_dict(cls, params: Any, rules: Any = ()) -> SearchSpace:
        errors: list[str] = []
        parsed: dict[str, Parameter] = {}
        if not isinstance(params, Mapping) or not params:
            raise SpaceError(["search_space: must be a non-empty mapping of dotted key -> parameter spec"])
        for name, spec in params.items():
            if not isinstance(name, str) or not name or any(not p for p in name.split(".")):
                errors.append(f"search_space.{name}: not a valid dotted key")
                continue
            try:
                parsed[name] = Parameter.from_dict(name, spec)
            except SpaceError as exc:
                errors += exc.errors
        parsed_rules: list[CrossKeyRule] = []
        if not isinstance(rules, list | tuple):
            errors.append("rules: must be a list of rule mappings")
            rules = ()
        for i, spec in enumerate(rules):
            try:
                parsed_rules.append(CrossKeyRule.from_dict(i, spec))
            except SpaceError as exc:
                errors += exc.errors
        if errors:
            raise SpaceError(errors)
        return cls(params=parsed, rules=tuple(parsed_rules))

    def to_dict(self) -> dict[str, Any]:
        return {name: p.to_dict() for name, p in self.params.items()}

    @property
    def derived_keys(self) -> set[str]:
        return {r.key for r in self.rules if r.check == "derive"}

    @property
    def allowed_keys(self) -> set[str]:
        return set(self.params) | self.derived_keys

    def is_float(self, key: str) -> bool:
        param = self.params.get(key)
        return param is not None and param.type == "float"

    def closest_key(self, key: str) -> str | None:
        allowed = sorted(self.allowed_keys)
        match = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if match:
            return match[0]
        leaf = key.rsplit(".", 1)[-1]
        same_leaf = [k for k in allowed if k.rsplit(".", 1)[-1] == leaf]
        if same_leaf:
            return same_leaf[0]
        by_leaf = difflib.get_close_matches(leaf, [k.rsplit(".", 1)[-1] for k in allowed], n=1, cutoff=0.7)
        return next((k for k in allowed if by_leaf and k.endswith("." + by_leaf[0])), None)

    def validate(
        self,
        override: Mapping[str, Any],
        baseline: Mapping[str, Any],
        workspace: Path | None = None,
    ) -> ValidationResult:
        """Check ``override`` (nested, dotted or mixed) against the ranges and against the rules applied to
        ``baseline + override``. Returns every error at once; ``derived`` holds values the rules filled in.
        """
        result = ValidationResult()
        try:
            flat = to_dotted(override)
        except OverrideError as exc:
            result.errors = exc.errors
            return result
        result.override = {k: flat[k] for k in sorted(flat)}
        bad: set[str] = set()
        for key, value in result.override.items():
            if key.startswith(OBJECTIVE_OWNED):
                result.errors.append(
                    f"{_clip(key)}: belongs to the objective (objective.evaluation in autopilot.yaml), which "
                    "only the experiment file sets; a proposal can never change how runs are evaluated"
                )
                bad.add(key)
                continue
            if key not in self.allowed_keys:
                hint = self.closest_key(key)
                extra = f"; did you mean {hint}?" if hint else ""
                result.errors.append(f"{key}: not an overridable key (not in the search space){extra}")
                bad.add(key)
                continue
            param = self.params.get(key)
            if param is None:  # a derived key: integer, checked against its rule below
                if isinstance(value, bool) or not isinstance(value, int):
                    result.errors.append(f"{key}: must be an integer (derived by a rule), got {_show(value)}")
                    bad.add(key)
                continue
            reason = param.check(value)
            if reason is None and param.type == "run_ref":
                reason = check_run_ref(value, workspace)
            if reason:
                result.errors.append(f"{key}: {reason}")
                bad.add(key)
        # Rules run on the valid keys, so one call reports range errors and rule violations together;
        # a rule that touches an invalid key is skipped (its key already has an error).
        self._apply_rules(result, baseline, bad)
        if result.errors:
            result.derived = {}
        return result

    def _apply_rules(self, result: ValidationResult, baseline: Mapping[str, Any], bad: set[str]) -> None:
        valid = {k: v for k, v in result.override.items() if k not in bad}
        effective = to_dotted(deep_merge(baseline, valid))
        base_flat = to_dotted(baseline)
        skipped = set(bad)

        def number(key: str | int) -> int | float | None:
            if isinstance(key, int):
                return key  # a constant factor
            value = effective.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                result.errors.append(f"{key}: needed by a cross-key rule but is {_show(value)} in the config")
                return None
            return value

        for rule in self.rules:
            if skipped & set(rule.keys()):
                skipped.add(rule.key)  # what depends on this derived key cannot be checked either
                continue
            if rule.check == "derive":
                factors = [number(k) for k in rule.product]
                if any(f is None for f in factors):
                    continue
                expected = math.prod(f for f in factors if f is not None)
                formula = " * ".join(map(str, rule.product))
                if rule.key in valid:
                    given = valid[rule.key]
                    if given != expected:
                        result.errors.append(
                            f"{rule.key}: must equal {formula} = {_num(expected)}, got {_show(given)}{rule.because()}"
                        )
                        skipped.add(rule.key)
                elif base_flat.get(rule.key) != expected:
                    result.derived[rule.key] = expected
                effective[rule.key] = expected
        for rule in self.rules:
            if skipped & set(rule.keys()):
                continue
            if rule.check == "divisible":
                assert rule.by is not None
                a, b = number(rule.key), number(rule.by)
                if a is None or b is None:
                    continue
                if b == 0 or a % b:
                    result.errors.append(
                        f"{rule.key}: must be divisible by {rule.by} ({_num(b)}), got {_num(a)}{rule.because()}"
                    )
            elif rule.check == "at_least":
                a = number(rule.key)
                h = number(rule.divided_by) if rule.divided_by else 1
                factors = [number(k) for k in rule.product]
                if a is None or h is None or any(f is None for f in factors):
                    continue
                bound = math.prod(f for f in factors if f is not None)
                lhs = a // h if rule.divided_by else a
                if lhs < bound:
                    left = f"{rule.key} // {rule.divided_by}" if rule.divided_by else rule.key
                    result.errors.append(
                        f"{rule.key}: rule {left} >= {' * '.join(map(str, rule.product))} is violated "
                        f"({_num(lhs)} < {_num(bound)}){rule.because()}"
                    )


def check_run_ref(value: str, workspace: Path | None) -> str | None:
    """``latest``/``best``, an existing run id, or a checkpoint path that stays inside the workspace."""
    if len(value) > MAX_PATH_CHARS:
        return f"a path of {len(value)} characters is too long (at most {MAX_PATH_CHARS})"
    try:
        return _check_run_ref(value, workspace)
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte, a loop of links
        return f"{_clip(value)} is not a usable path ({getattr(exc, 'strerror', None) or exc})"


def _check_run_ref(value: str, workspace: Path | None) -> str | None:
    if value in RUN_REF_WORDS:
        return None
    if is_run_id(value):
        if workspace is not None and not (workspace / "runs" / value).is_dir():
            return f"no run with id {value!r} in {workspace / 'runs'}"
        return None
    if workspace is None:
        return f"a checkpoint path needs a workspace to resolve against, got {value!r}"
    root = workspace.resolve()
    target = (root / value).resolve()
    if target != root and root not in target.parents:
        return f"path {value!r} resolves outside the workspace ({root}); only paths inside it are allowed"
    if not target.is_file():
        return f"no checkpoint file at {value!r} (resolved to {target})"
    return None


def _clip(text: str, limit: int = 80) -> str:
    """A value short enough for an error line (a hostile input can be megabytes)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _strict_equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"string {_clip(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(value, "NaN")
    if isinstance(value, list | tuple | dict):
        text = repr(value)
        return f"{type(value).__name__} {text if len(text) <= 80 else text[:80] + f'... ({len(text)} characters)'}"
    if isinstance(value, int) and abs(value) >= 10**20:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


def _num(value: float | None) -> str:
    return "?" if value is None else repr(value)


def _show_choices(choices: tuple[Any, ...]) -> str:
    return ", ".join(_show(c) if not isinstance(c, str) else c for c in choices)


def _suggest(key: str, known: set[str]) -> str:
    match = difflib.get_close_matches(key, sorted(known), n=1)
    return f"; did you mean {match[0]}?" if match else f"; allowed: {', '.join(sorted(known))}"
