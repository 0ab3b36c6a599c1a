"""``report.html``: one self-contained file (inline CSS and PNGs, no network fetches)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from autopilot.analysis.promotion import decide
from autopilot.analysis.ranking import config_rows, ranked, why_empty
from autopilot.config import to_dotted
from autopilot.experiment.schema import Experiment
from autopilot.ids import utc_now
from autopilot.workspace.atomic import atomic_write_text, last_metrics_line, read_curve
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import Records, RunView
from autopilot.workspace.run_folder import RunFolder

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;width:100%}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left}
th{background:#f4f4f4}tr.best{background:#eef8ee}img{max-width:100%}.muted{color:#777}
.sev-critical{color:#b00}.sev-warning{color:#a60}.sev-ok{color:#070}code{font-size:11px}
"""


def _e(value: Any) -> str:
    return html.escape("-" if value is None else str(value))


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else _e(value)


def _steps(ws: Workspace, view: RunView) -> int:
    if view.summary and isinstance(view.summary.get("steps"), int):
        return int(view.summary["steps"])
    line = last_metrics_line(RunFolder(ws.runs / view.id).metrics) or {}
    return int(line.get("step") or 0)


def render(ws: Workspace, exp: Experiment, baseline: dict[str, Any]) -> str:
    from autopilot.report import plots  # matplotlib: imported when a report is drawn, not at every command

    history = Records(ws).history()
    promotion = decide(history, exp.objective, ws.runs)
    metric = exp.objective.metric
    top = ranked(history)[:5]
    figures = [
        plots.champion_so_far(history, {v.id: _steps(ws, v) for v in history}, promotion.timeline, metric),
        plots.learning_curves({v.id: read_curve(RunFolder(ws.runs / v.id).metrics) for v in top}, metric),
        plots.population(history, promotion.champion.id if promotion.champion else None, metric),
        plots.funnel(top),
        plots.objective_vs_parameters(history, exp.space, baseline),
        plots.failures_over_time(history),
        *plots.optuna_views(ws, exp),
    ]
    images = "".join(f'<img alt="plot" src="{plots.to_data_uri(f)}">' for f in figures if f is not None)
    plots.close_all()
    champion = promotion.champion
    best = (
        (
            f"<p>Champion: <b>{_e(champion.id)}</b> ({_e(metric)} = {_num(champion.metrics.get(metric))}); "
            f"{_e(promotion.evidence.get(champion.id))}.{_selection(champion)}</p>"
            f"<p id='claim'>{_e(promotion.claim.describe(metric) if promotion.claim else '')}.</p>"
            "<p class='muted'>The champion's own figure is optimistic: it is the best of many noisy estimates "
            "(the winner's curse). The re-runs on fresh training seeds (pooled in its estimate, "
            f"{promotion.estimates.get(champion.id, (0, 1))[1]} seed(s) so far) are the figure to trust.</p>"
        )
        if champion
        else f"<p>{_e(why_empty(history))}.</p>"
    )
    board = "".join(_config_rows(row, metric) for row in config_rows(history, exp.objective, promotion))
    # The behaviour rules and the funnel speak of the drone task's rates: shown only where runs report them.
    funnel_reported = any(v.metrics.get(key) is not None for v in history for key, _ in plots.FUNNEL[:3])
    insights = "".join(_insight_row(v) for v in reversed(history) if v.summary) if funnel_reported else ""
    failures = Records(ws).failures()[-50:]
    failure_rows = "".join(
        f"<tr><td>{_e(f.get('time', '')[:19])}</td><td>{_e(f.get('run_id') or f.get('case_id'))}"
        f"</td><td>{_e(f.get('class'))}</td><td>{_e(f.get('reason'))}</td></tr>"
        for f in reversed(failures)
    )
    counts: dict[str, int] = {}
    for v in history:
        counts[v.state] = counts.get(v.state, 0) + 1
    damaged_lines = Records(ws).damaged()
    damaged = (
        '<p id="damaged"><b>damaged records</b>: ' + "; ".join(_e(line) for line in damaged_lines) + "</p>"
        if damaged_lines
        else ""
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>autopilot report</title>
<style>{STYLE}</style></head><body>
<h1>autopilot report</h1>
<p class="muted">workspace {_e(ws.root)} &middot; generated {_e(utc_now()[:19])}Z &middot; objective: {_e(metric)}
({_e(exp.objective.mode)}) &middot; runs: {_e(", ".join(f"{k} {n}" for k, n in sorted(counts.items())))}</p>
{best}{damaged}
<h2>Plots</h2>{images}
<h2>Leaderboard of configs</h2>
<p class="muted">Ranked as the pick ranks them: the estimate over a config's seeds (its mean shrunk toward all
configs'); each config's runs beneath it. * the champion.</p>
<table id="leaderboard"><tr><th>#</th><th>config / run</th><th>estimate</th><th>seeds</th><th>{_e(metric)}</th>
<th>95% CI</th><th>feasible</th><th>proposer</th><th>overrides (vs baseline)</th></tr>{board}</table>
{_insights_section(insights)}
{_failures_section(failure_rows)}
</body></html>
"""


def _config_rows(row: dict[str, Any], metric: str) -> str:
    """A config's row, then one row per run of it (its seeds)."""
    overrides = ", ".join(f"{k}={_num(v)}" for k, v in sorted(to_dotted(row["overrides"]).items()))
    head = (
        f"<tr class='config{' best' if row['best'] else ''}'><td>{row['rank']}{' *' if row['best'] else ''}</td>"
        f"<td>{_e(row['config_id'])}</td><td>{_num(row['estimate'])}</td><td>{row['seeds']}</td>"
        f"<td>mean {_num(row['mean'])}</td><td></td><td>{_e(row['feasible'])}</td><td>{_e(row['proposer'])}</td>"
        f"<td><code>{_e(overrides or '(baseline)')}</code></td></tr>"
    )
    runs = "".join(
        f"<tr class='run'><td></td><td>&nbsp;&nbsp;{_e(run['run_id'])}</td><td></td><td></td>"
        f"<td>{_num(run['value'])}</td><td>{_interval(run['interval'])}</td><td></td><td></td>"
        f"<td>seed {_e(run['seed'])}{' (re-run)' if run['rerun'] else ''}</td></tr>"
        for run in row["runs"]
    )
    return head + runs


def _failures_section(rows: str) -> str:
    if not rows:
        return "<h2>Failures</h2><p>No failures.</p>"
    return (
        "<h2>Failures (latest 50)</h2>"
        f"<table id='failures'><tr><th>time</th><th>run / case</th><th>class</th><th>reason</th></tr>{rows}</table>"
    )


def _interval(interval: dict[str, Any] | None) -> str:
    return f"[{interval['low']:.3f}, {interval['high']:.3f}]" if interval else "-"


def _insight_row(view: RunView) -> str:
    analysis = (view.summary or {}).get("behavioral_analysis") or {}
    severity = analysis.get("severity")
    funnel = analysis.get("metrics_summary") or {}
    shown = ", ".join(f"{k.removesuffix('_rate')} {_num(v)}" for k, v in funnel.items() if k.endswith("_rate"))
    return (
        f"<tr><td>{_e(view.id)}</td><td class='sev-{_e(severity)}'>{_e(severity)}</td>"
        f"<td>{_e(analysis.get('next_focus'))}</td><td>{'<br>'.join(_e(i) for i in analysis.get('insights', []))}"
        f"</td><td>{_e(shown)}</td></tr>"
    )


def _selection(view: RunView) -> str:
    """Which of the run's checkpoints its result comes from (best-smoothed or final), when the trainer said."""
    selection = (view.summary or {}).get("selection")
    if not isinstance(selection, dict) or not selection.get("why"):
        return ""
    return f" Its policy: {_e(selection['why'])}."


def write_report(ws: Workspace, exp: Experiment, baseline: dict[str, Any], out: Path | None = None) -> Path:
    path = out or ws.report
    atomic_write_text(path, render(ws, exp, baseline))
    return path


def _insights_section(rows: str) -> str:
    if not rows:
        return ""
    return (
        '<h2>Behavioural insights</h2>\n<table id="insights"><tr><th>run</th><th>severity</th><th>next focus</th>'
        f"<th>insights</th><th>funnel</th></tr>\n{rows}</table>"
    )
