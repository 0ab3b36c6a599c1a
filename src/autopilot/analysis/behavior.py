"""Behavioural analysis: what the trained agent does wrong, and what to try next.

An ordered rule table (``analysis.behavior_rules`` in autopilot.yaml, defaults below) is matched against the
honest rates of the evaluation; the first rule whose conditions all hold sets ``severity`` and ``next_focus``.
Learning signals from the curve (flat objective, entropy collapse, PPO updates that move nothing) add insights.
A rule that needs a metric the env does not report is listed as not evaluated, never matched on a 0.
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

FLAT_CURVE_MIN_GAIN = 0.02
ENTROPY_COLLAPSE_FRACTION = 0.2
TINY_KL = 1e-6


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


def learning_signals(curve: list[dict[str, Any]], objective: str) -> list[str]:
    """Insights from the learning curve (metrics.jsonl lines)."""
    insights = []
    values = [line["metrics"].get(objective) for line in curve if isinstance(line.get("metrics"), dict)]
    values = [v for v in values if isinstance(v, int | float)]
    if len(values) >= 6:
        third = len(values) // 3
        early, late = sum(values[:third]) / third, sum(values[-third:]) / third
        if late - early < FLAT_CURVE_MIN_GAIN:
            insights.append(f"flat learning curve: {objective} moved from {early:.3f} to {late:.3f}")
    entropy = [line.get("losses", {}).get("entropy") for line in curve]
    entropy = [e for e in entropy if isinstance(e, int | float)]
    if len(entropy) >= 4 and entropy[0] > 0 and entropy[-1] < ENTROPY_COLLAPSE_FRACTION * entropy[0]:
        insights.append(f"entropy collapsed from {entropy[0]:.3g} to {entropy[-1]:.3g}: exploration has stopped")
    kls = [line.get("losses", {}).get("approx_kl") for line in curve[len(curve) // 2 :]]
    kls = [k for k in kls if isinstance(k, int | float)]
    if kls and max(abs(k) for k in kls) < TINY_KL:
        insights.append(
            "approx KL and clip fraction stay at zero: each batch gets a single update, so PPO's "
            "clipping never engages (update_epochs or minibatches > 1 would change that)"
        )
    return insights


def analyse_behavior(
    metrics: dict[str, float | None], curve: list[dict[str, Any]], objective: str, rules: list[Rule] | None = None
) -> dict[str, Any]:
    rules = rules if rules is not None else parse_rules(DEFAULT_RULES)
    summary = {name: metrics.get(name) for name in (*FUNNEL, *FAILURE_RATES)}
    grip, success = metrics.get("grip_rate"), metrics.get("success_rate")
    summary["delivery_given_grip"] = success / grip if grip and success is not None else None
    unevaluated, chosen = [], None
    for rule in rules:
        missing = [c.metric for c in rule.when if metrics.get(c.metric) is None]
        if missing:
            unevaluated.append(f"{rule.name}: {', '.join(missing)} unknown")
            continue
        results = [c.holds(float(metrics[c.metric])) for c in rule.when]  # type: ignore[arg-type]
        if any(results) if rule.any else all(results):
            chosen = rule
            break
    insights = []
    if chosen is not None:
        try:
            insights.append(chosen.insight.format(**{k: v for k, v in metrics.items() if v is not None}))
        except (KeyError, ValueError):
            insights.append(chosen.insight)
    insights += learning_signals(curve, objective)
    return {
        "insights": insights,
        "severity": chosen.severity if chosen else "warning",
        "next_focus": chosen.next_focus if chosen else None,
        "rule": chosen.name if chosen else None,
        "metrics_summary": summary,
        "not_evaluated": unevaluated,
    }
