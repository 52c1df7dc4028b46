"""Alert policy: how a finding becomes an alert (pure; the site file's ``[alerts]`` table).

Per finding kind, and overridable per asset: the level (default: the finding's own; a predicted failure,
``*.wear_predicted``, is always YELLOW unless a rule says otherwise), the pending period (the condition
must hold that long before anyone is told) and the auto-resolve hold (normal that long resolves it).
The most specific rule wins: an asset's exact kind, an asset's prefix, the site's exact kind, the site's
prefix (a longer prefix beats a shorter one). A rule sets only what it names; the rest falls through.

Also here, as small pure decisions: recurrence and the rectification alert it raises (flapping and the
rest of the alert condition machine: ``alerts.engine.conditions``).
"""

from __future__ import annotations

from dataclasses import dataclass

from facwatch.model import AlertPolicy, AlertRule, Level

PREDICTED_SUFFIX = ".wear_predicted"
RECURRENCE_SUFFIX = ".recurrence"


@dataclass(frozen=True, slots=True)
class KindPolicy:
    level: Level
    pending_s: float
    hold_s: float


def _specificity(rule: AlertRule, asset: str, kind: str) -> tuple[int, int] | None:
    """How closely ``rule`` matches (higher is closer), or None when it does not apply."""
    if rule.asset is not None and rule.asset != asset:
        return None
    if rule.kind.endswith("*"):
        prefix = rule.kind[:-1]
        if not kind.startswith(prefix):
            return None
        exact, length = 0, len(prefix)
    elif rule.kind == kind:
        exact, length = 1, len(kind)
    else:
        return None
    return (2 if rule.asset is not None else 0) + exact, length


def resolve(policy: AlertPolicy, asset: str, kind: str, level: Level, default_hold_s: float) -> KindPolicy:
    """The policy for findings of ``kind`` on ``asset`` (``level``: the finding's own)."""
    matches = [(m, i, r) for i, r in enumerate(policy.rules) if (m := _specificity(r, asset, kind))]
    matches.sort(key=lambda t: (t[0], t[1]), reverse=True)  # closest first; among equals, the later rule

    def pick(attr: str) -> object:
        for _m, _i, rule in matches:
            value = getattr(rule, attr)
            if value is not None:
                return value
        return None

    chosen = pick("level")
    if isinstance(chosen, Level):
        level = chosen
    elif kind.endswith(PREDICTED_SUFFIX):
        level = Level.YELLOW
    pending, hold = pick("pending_s"), pick("hold_s")
    return KindPolicy(
        level=level,
        pending_s=float(pending) if isinstance(pending, int | float) else 0.0,
        hold_s=float(hold) if isinstance(hold, int | float) else default_hold_s,
    )


def recurrence_due(kind: str, incidents_in_window: int, policy: AlertPolicy) -> bool:
    """Whether this incident is one too many: the ``recurrence_count``-th (or later) within the window.
    Rectification and prediction alerts do not recur on themselves."""
    if kind.endswith(RECURRENCE_SUFFIX) or kind.endswith(PREDICTED_SUFFIX):
        return False
    return incidents_in_window >= policy.recurrence_count


def recurrence_kind(kind: str) -> str:
    return f"{kind}{RECURRENCE_SUFFIX}"


def recurrence_summary(kind: str, count: int, policy: AlertPolicy) -> str:
    days = f"{policy.recurrence_window_days:g}"
    hours = f"{policy.recurrence_deadline_h:g}"
    return f"Recurring fault: {kind} {count} times in {days} days; find and fix the cause within {hours} h"
