"""The behaviour rules' vocabulary: severities, next foci, the default rule table and its parser.

``analysis.behavior_rules`` in autopilot.yaml is checked with this when the experiment is loaded; the analysis
(analysis/behavior.py) matches the parsed rules against a run's rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autopilot.errors import ErrorList

SEVERITIES = ("critical", "warning", "ok")
NEXT_FOCI = ("diagnostic_grip", "improve_grip", "improve_carrying", "fix_stability", "optimize_performance")
FUNNEL = ("hover_rate", "grip_rate", "carry_rate", "success_rate")
FAILURE_RATES = ("collision_rate", "oob_rate", "timeout_rate")

# First match wins. Conditions: {metric, below | at_least}; a rule holds when all its conditions do
# (``any: true`` makes one enough).
DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "not_gripping",
        "when": [{"metric": "grip_rate", "below": 0.05}],
        "severity": "critical",
        "next_focus": "diagnostic_grip",
        "insight": "grips its box in only {grip_rate:.0%} of episodes: it is not even attempting to grip",
    },
    {
        "name": "unstable",
        "any": True,
        "when": [{"metric": "collision_rate", "at_least": 0.3}, {"metric": "oob_rate", "at_least": 0.2}],
        "severity": "warning",
        "next_focus": "fix_stability",
        "insight": "crashes in {collision_rate:.0%} and leaves the arena in {oob_rate:.0%} of episodes",
    },
    {
        "name": "weak_grip",
        "when": [{"metric": "grip_rate", "below": 0.5}],
        "severity": "warning",
        "next_focus": "improve_grip",
        "insight": "grips in only {grip_rate:.0%} of episodes",
    },
    {
        "name": "grips_but_does_not_deliver",
        "when": [{"metric": "success_rate", "below": 0.5}],
        "severity": "warning",
        "next_focus": "improve_carrying",
        "insight": "grips in {grip_rate:.0%} but delivers in only {success_rate:.0%} of episodes",
    },
    {
        "name": "basics_work",
        "when": [],
        "severity": "ok",
        "next_focus": "optimize_performance",
        "insight": "grip, carry and delivery work ({success_rate:.0%} delivered): tune for performance",
    },
]


class RuleError(ErrorList):
    """Behaviour rules that are themselves invalid."""


@dataclass(frozen=True)
class Condition:
    metric: str
    below: float | None = None
    at_least: float | None = None

    def holds(self, value: float) -> bool:
        if self.below is not None:
            return value < self.below
        assert self.at_least is not None
        return value >= self.at_least


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple[Condition, ...]
    severity: str
    next_focus: str
    insight: str
    any: bool = False


def parse_rules(raw: list[dict[str, Any]], where: str = "analysis.behavior_rules") -> list[Rule]:
    errors, rules = [], []
    for i, spec in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(spec, dict):
            errors.append(f"{at}: must be a mapping")
            continue
        unknown = set(spec) - {"name", "when", "any", "severity", "next_focus", "insight"}
        errors += [f"{at}.{k}: unknown field" for k in sorted(unknown)]
        if spec.get("severity") not in SEVERITIES:
            errors.append(f"{at}.severity: must be one of {', '.join(SEVERITIES)}, got {spec.get('severity')!r}")
        if spec.get("next_focus") not in NEXT_FOCI:
            errors.append(f"{at}.next_focus: must be one of {', '.join(NEXT_FOCI)}, got {spec.get('next_focus')!r}")
        conditions = []
        for j, cond in enumerate(spec.get("when") or []):
            ok = (
                isinstance(cond, dict)
                and isinstance(cond.get("metric"), str)
                and len({"below", "at_least"} & set(cond)) == 1
                and all(isinstance(cond.get(k), int | float) for k in ("below", "at_least") if k in cond)
            )
            if not ok:
                errors.append(f"{at}.when[{j}]: must be {{metric: NAME, below: X}} or {{metric: NAME, at_least: X}}")
                continue
            conditions.append(Condition(cond["metric"], cond.get("below"), cond.get("at_least")))
        rules.append(
            Rule(
                str(spec.get("name", f"rule{i}")),
                tuple(conditions),
                str(spec.get("severity")),
                str(spec.get("next_focus")),
                str(spec.get("insight", "")),
                bool(spec.get("any", False)),
            )
        )
    if errors:
        raise RuleError(errors)
    return rules
