"""Report periods: a month (``2026-11``) or a quarter (``2026-Q4``) in a site's time zone, as UTC bounds (pure).

``alerts.engine.reports.period_of`` names the period of a time; this module goes the other way, and steps
back one period (the quarterly publication compares with the previous quarter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alerts.engine.reports import period_of

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in UTC of a local calendar month or quarter."""

    kind: str
    """``month`` or ``quarter``."""
    label: str
    start: datetime
    end: datetime

    @property
    def days(self) -> int:
        return round((self.end - self.start).total_seconds() / 86400)


def _local_start(year: int, month: int, tz: ZoneInfo) -> datetime:
    while month > 12:
        year, month = year + 1, month - 12
    while month < 1:
        year, month = year - 1, month + 12
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def parse_period(label: str, timezone: str) -> Period:
    """``2026-11`` or ``2026-Q4`` in ``timezone``; raises ValueError for anything else."""
    tz = ZoneInfo(timezone)
    if (m := _MONTH.match(label)) is not None:
        year, month = int(m[1]), int(m[2])
        return Period("month", label, _local_start(year, month, tz), _local_start(year, month + 1, tz))
    if (q := _QUARTER.match(label)) is not None:
        year, first = int(q[1]), (int(q[2]) - 1) * 3 + 1
        return Period("quarter", label, _local_start(year, first, tz), _local_start(year, first + 3, tz))
    raise ValueError(f"a period is YYYY-MM or YYYY-Qn, got {label!r}")


def period_at(when: datetime, timezone: str, kind: str) -> Period:
    """The month or quarter (``kind``) that holds ``when``."""
    return parse_period(period_of(when, ZoneInfo(timezone), kind), timezone)


def previous(period: Period, timezone: str) -> Period:
    """The month or quarter just before ``period``."""
    tz = ZoneInfo(timezone)
    just_before = period.start.astimezone(tz).replace(day=1)
    step = 1 if period.kind == "month" else 3
    year, month = just_before.year, just_before.month - step
    start = _local_start(year, month, tz)
    return period_at(start, timezone, period.kind)


def local_days(period: Period, timezone: str) -> list[tuple[datetime, datetime]]:
    """The local calendar days of ``period``, each as ``[start, end)`` in UTC."""
    tz = ZoneInfo(timezone)
    out: list[tuple[datetime, datetime]] = []
    day = period.start.astimezone(tz)
    while day.astimezone(UTC) < period.end:
        nxt = datetime(day.year, day.month, day.day, tzinfo=tz).toordinal() + 1
        following = datetime.fromordinal(nxt).replace(tzinfo=tz)
        out.append((day.astimezone(UTC), following.astimezone(UTC)))
        day = following
    return out
