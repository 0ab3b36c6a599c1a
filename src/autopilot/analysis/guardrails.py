"""Sliding-window guardrails: halt on too many failures, enter safe mode before that.

The window is the last ``window`` finished runs since the last ``autopilot resume`` (a resume starts a fresh
window). Pruned runs count as results, not failures: early stopping is the loop's choice, not a fault.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from autopilot.experiment.schema import Guardrails
from autopilot.workspace.records import RunView

FAILED_STATES = frozenset({"failed", "timeout"})


@dataclass(frozen=True)
class GuardState:
    window_size: int
    fail_rate: float
    failures_by_class: dict[str, int] = field(default_factory=dict)
    safe_mode: bool = False
    halt_reason: str | None = None

    @property
    def halted(self) -> bool:
        return self.halt_reason is not None

    def describe(self) -> str:
        mode = "HALT" if self.halted else ("safe mode" if self.safe_mode else "normal")
        classes = ", ".join(f"{k}={v}" for k, v in sorted(self.failures_by_class.items())) or "none"
        return f"{mode}: fail rate {self.fail_rate:.2f} over {self.window_size} runs; failures {classes}"


def window_of(history: list[RunView], cfg: Guardrails, since: str | None = None) -> list[RunView]:
    """The last ``cfg.window`` finished runs that ended after ``since`` (an ISO time), oldest first."""
    finished = [v for v in history if v.state in FAILED_STATES | {"complete", "pruned"}]
    if since:
        finished = [v for v in finished if (v.record.ended or "") > since]
    return finished[-cfg.window :]


def evaluate(history: list[RunView], cfg: Guardrails, since: str | None = None) -> GuardState:
    window = window_of(history, cfg, since)
    failures = [v for v in window if v.state in FAILED_STATES]
    by_class = Counter(v.record.failure_class or "unknown" for v in failures)
    rate = len(failures) / len(window) if window else 0.0
    halt = None
    # A rate over a handful of runs is noise: the rate rules wait for a third of the window.
    enough = len(window) >= max(3, cfg.window // 3)
    if enough and rate > cfg.max_fail_rate:
        halt = f"fail rate {rate:.2f} over the last {len(window)} runs exceeds max_fail_rate {cfg.max_fail_rate}"
    reasons = Counter(f"{v.record.failure_class}: {(v.record.failure or {}).get('reason', '')[:80]}" for v in failures)
    if halt is None and reasons:
        reason, count = reasons.most_common(1)[0]
        if count > cfg.max_common_failure_count:
            halt = (
                f"the same failure repeated {count} times in the window (max_common_failure_count "
                f"{cfg.max_common_failure_count}): {reason}"
            )
    if halt is None:
        for cls in cfg.critical_classes:
            if by_class.get(cls, 0) > cfg.max_critical_class_count:
                halt = (
                    f"{by_class[cls]} {cls} failures in the window exceed max_critical_class_count "
                    f"{cfg.max_critical_class_count}"
                )
                break
    safe = halt is None and enough and rate > cfg.safe_mode_fail_rate
    return GuardState(len(window), rate, dict(by_class), safe, halt)
