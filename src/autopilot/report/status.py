"""``autopilot status`` and the leaderboard table: read-only views of a workspace."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from autopilot.analysis.guardrails import evaluate
from autopilot.analysis.promotion import decide
from autopilot.analysis.ranking import config_rows, shown_estimate, why_empty
from autopilot.experiment.parse import load_experiment
from autopilot.workspace.atomic import last_metrics_line
from autopilot.workspace.budget import read_budget, usage
from autopilot.workspace.control import pause_reason, window_start
from autopilot.workspace.layout import Workspace
from autopilot.workspace.lock import WorkspaceLock
from autopilot.workspace.records import RUN_STATES, Records
from autopilot.workspace.run_folder import RunFolder


def loop_pid(ws: Workspace) -> int | None:
    """The pid of the live loop holding the workspace lock, or None when no loop holds it."""
    return WorkspaceLock.holder(ws.lock_file)


def _budget(ws: Workspace, history: list[Any]) -> dict[str, Any] | None:
    budget = read_budget(ws)
    if budget is None:
        return None
    used = usage(ws, history, budget)
    trials_left, steps_left = used.left(budget)
    return {
        **budget.to_dict(),
        "used": {"trials": used.trials, "steps": used.steps},
        "left": {"trials": trials_left, "steps": steps_left},
        "text": used.describe(budget),
    }


def workspace_status(ws: Workspace) -> dict[str, Any]:
    exp = load_experiment(ws.experiment_file)
    records = Records(ws)
    history = records.history()
    guard = evaluate(history, exp.guardrails, window_start(ws))
    pause = pause_reason(ws)
    pid = loop_pid(ws)
    if pause is not None:
        state, why = "paused", pause
    elif pid is not None:
        state, why = "running", f"loop pid {pid}"
    else:
        state, why = "idle", "no loop holds the workspace"
    promotion = decide(history, exp.objective, ws.runs)
    best = promotion.champion
    counts = Counter(v.state for v in history)
    trials = []
    for view in history:
        if view.state == "running":
            line = last_metrics_line(RunFolder(ws.runs / view.id).metrics) or {}
            trials.append(
                {
                    "run_id": view.id,
                    "step": line.get("step"),
                    "total": line.get("total"),
                    "sps": line.get("sps"),
                    exp.objective.metric: (line.get("metrics") or {}).get(exp.objective.metric),
                }
            )
    return {
        "workspace": str(ws.root),
        "state": state,
        "why": why,
        "counts": {s: counts.get(s, 0) for s in RUN_STATES},
        "objective": {"metric": exp.objective.metric, "mode": exp.objective.mode},
        "best": None
        if best is None
        else {
            "run_id": best.id,
            "score": best.score,
            "feasible": best.feasible,
            exp.objective.metric: best.metrics.get(exp.objective.metric),
            "interval": (best.summary or {}).get("intervals", {}).get(exp.objective.metric),
            "evidence": promotion.evidence.get(best.id),
            "estimate": shown_estimate(promotion, best.id, exp.objective),
            "seeds": promotion.estimates[best.id][1] if best.id in promotion.estimates else None,
            "claim": promotion.claim.describe(exp.objective.metric) if promotion.claim else None,
        },
        "guardrails": {
            "window": guard.window_size,
            "fail_rate": guard.fail_rate,
            "failures_by_class": guard.failures_by_class,
            "safe_mode": guard.safe_mode,
            "halt_reason": guard.halt_reason,
        },
        "awaiting_confirmation": promotion.awaiting_confirmation,
        "pending_cases": [c.case_id for c in records.pending_cases()],
        "budget": _budget(ws, history),
        "why_no_best": None if best is not None else why_empty(history),
        "running_trials": trials,
        "damaged_records": records.damaged(),
    }


def render_status(status: dict[str, Any]) -> str:
    lines = [f"workspace {status['workspace']}: {status['state'].upper()} ({status['why']})"]
    counts = ", ".join(f"{k} {v}" for k, v in status["counts"].items() if v)
    lines.append(f"runs: {counts or 'none yet'}")
    best = status["best"]
    metric = status["objective"]["metric"]
    if best:
        interval = best.get("interval")
        ci = f" [95% CI {interval['low']:.3f}, {interval['high']:.3f}]" if interval else ""
        lines.append(
            f"champion: {best['run_id']} {metric}={_fmt(best.get(metric))}{ci}, estimate {_fmt(best.get('estimate'))} "
            f"over {best.get('seeds')} seed(s), feasible={best['feasible']} ({best.get('evidence')})"
        )
        if best.get("claim"):
            lines.append(f"claim: {best['claim']}")
    else:
        lines.append(f"champion: none ({status['why_no_best']})")
    g = status["guardrails"]
    mode = "HALT" if g["halt_reason"] else ("SAFE MODE" if g["safe_mode"] else "normal")
    lines.append(
        f"guardrails: {mode}; fail rate {g['fail_rate']:.2f} over {g['window']} runs; "
        f"failures {g['failures_by_class'] or 'none'}"
    )
    lines.append(f"pending cases: {len(status['pending_cases'])}")
    if status["damaged_records"]:
        lines.append(f"damaged records: {'; '.join(status['damaged_records'])}")
    if status.get("budget"):
        lines.append(f"budget: {status['budget']['text']} used (since {status['budget']['since'][:19]}Z)")
    for trial in status["running_trials"]:
        lines.append(
            f"  running {trial['run_id']}: step {trial['step'] or 0}/{trial['total'] or '?'} "
            f"{metric}={_fmt(trial.get(metric))}"
        )
    return "\n".join(lines)


def render_champion(ws: Workspace) -> str:
    """The pick and the claim in two lines (the last lines of ``autopilot run``)."""
    status = workspace_status(ws)
    best = status["best"]
    if best is None:
        return f"champion: none ({status['why_no_best']})"
    metric = status["objective"]["metric"]
    return (
        f"champion: {best['run_id']} {metric} estimate {_fmt(best.get('estimate'))} over {best.get('seeds')} "
        f"seed(s)\nclaim: {best.get('claim')}"
    )


def render_leaderboard(ws: Workspace, top: int = 10) -> str:
    """The leaderboard of configs as the pick ranks them, each config's runs (seeds) beneath it."""
    exp = load_experiment(ws.experiment_file)
    history = Records(ws).history()
    rows = config_rows(history, exp.objective, decide(history, exp.objective, ws.runs))[:top]
    metric = exp.objective.metric
    table = Table(
        title=f"leaderboard of configs ({metric}, {exp.objective.mode}; * = the champion: the best estimate over "
        "its seeds)"
    )
    for col in ("#", "config / run", "estimate", "seeds", f"{metric} (95% CI)", "feasible", "proposer", "overrides"):
        table.add_column(col)
    order = {name: i for i, name in enumerate(exp.space.params)}  # keys as the search space declares them
    for row in rows:
        keys = sorted(row["overrides"], key=lambda k: order.get(k, len(order)))
        overrides = ", ".join(f"{k.split('.', 1)[-1]}={_fmt(row['overrides'][k])}" for k in keys[:5])
        overrides += f" (+{len(keys) - 5})" if len(keys) > 5 else ""
        table.add_row(
            str(row["rank"]) + (" *" if row["best"] else ""),
            row["config_id"],
            _fmt(row["estimate"]),
            str(row["seeds"]),
            f"mean {_fmt(row['mean'])}",
            str(row["feasible"]),
            row["proposer"],
            overrides or "(baseline)",
        )
        for run in row["runs"]:
            interval = run["interval"]
            ci = f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else ""
            table.add_row("", f"  {run['run_id']}", "", "", f"{_fmt(run['value'])}{ci}", "", "", f"seed {run['seed']}")
    buffer = io.StringIO()
    Console(file=buffer, width=170).print(table)
    return buffer.getvalue().rstrip()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)
