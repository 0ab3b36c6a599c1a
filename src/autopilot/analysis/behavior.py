"""Behavioural analysis: what the trained agent does wrong, and what to try next.

An ordered rule table (``analysis.behavior_rules`` in autopilot.yaml, defaults below) is matched against the
honest rates of the evaluation; the first rule whose conditions all hold sets ``severity`` and ``next_focus``.
Learning signals from the curve (flat objective, entropy collapse, PPO updates that move nothing) add insights.
A rule that needs a metric the env does not report is listed as not evaluated, never matched on a 0.
"""

from __future__ import annotations

from typing import Any

from autopilot.experiment.behavior_rules import DEFAULT_RULES, FAILURE_RATES, FUNNEL, Rule, parse_rules

FLAT_CURVE_MIN_GAIN = 0.02
ENTROPY_COLLAPSE_FRACTION = 0.2
TINY_KL = 1e-6


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
