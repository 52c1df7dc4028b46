"""SLA figures and incident counts, computed from the tickets and alerts in the state database.

Times are measured from a ticket's creation: to the first acknowledgement (acknowledge, dispatch or
check-in), to the check-in at the asset (arrival, proven by the posted code), to resolution (fixed). A
breach is a deadline missed: done after it, or not done and its clock already ran out (escalated).
Percentiles interpolate linearly between the nearest measured values (p50 of 10 s and 20 s is 15 s).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from alerts.engine.clocks import Clock
from alerts.engine.db import alerts, sla_clocks, tickets, utc
from alerts.engine.ports import IncidentCount, SlaFigures
from facwatch.model import Level


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class _Bucket:
    tickets: int = 0
    ack: list[float] = field(default_factory=list)
    arrive: list[float] = field(default_factory=list)
    arrive_corroborated: list[float] = field(default_factory=list)
    arrive_code_only: list[float] = field(default_factory=list)
    fix: list[float] = field(default_factory=list)
    ack_breaches: int = 0
    arrive_breaches: int = 0
    fix_breaches: int = 0


def _late(done: datetime | None, due: datetime | None, ran_out: bool) -> bool:
    if due is None:
        return False
    return done > due if done is not None else ran_out


def sla_figures(conn: Connection, *, site: str | None, since: datetime, until: datetime) -> list[SlaFigures]:
    query = select(tickets).where(tickets.c.created_at >= utc(since), tickets.c.created_at < utc(until))
    if site is not None:
        query = query.where(tickets.c.site == site)
    rows = list(conn.execute(query))
    fired: dict[tuple[int, str], int] = {}
    if rows:
        clocks = conn.execute(
            select(sla_clocks.c.ticket_id, sla_clocks.c.clock, sla_clocks.c.fired).where(
                sla_clocks.c.ticket_id.in_([r.id for r in rows])
            )
        )
        fired = {(t, c): n for t, c, n in clocks}
    buckets: dict[tuple[str, Level, str], _Bucket] = defaultdict(_Bucket)
    for row in rows:
        for company in ("", row.company) if row.company else ("",):  # every ticket, then per company
            _count(buckets[(row.site, Level(row.level), company)], row, fired)
    return [
        SlaFigures(
            site=site_id,
            level=level,
            tickets=b.tickets,
            acknowledged=len(b.ack),
            arrived=len(b.arrive),
            fixed=len(b.fix),
            ack_p50_s=percentile(b.ack, 50),
            ack_p90_s=percentile(b.ack, 90),
            arrive_p50_s=percentile(b.arrive, 50),
            arrive_p90_s=percentile(b.arrive, 90),
            fix_p50_s=percentile(b.fix, 50),
            fix_p90_s=percentile(b.fix, 90),
            ack_breaches=b.ack_breaches,
            arrive_breaches=b.arrive_breaches,
            fix_breaches=b.fix_breaches,
            arrived_corroborated=len(b.arrive_corroborated),
            arrive_corroborated_p50_s=percentile(b.arrive_corroborated, 50),
            arrive_code_only_p50_s=percentile(b.arrive_code_only, 50),
            company=company or None,
        )
        for (site_id, level, company), b in sorted(
            buckets.items(), key=lambda kv: (kv[0][0], kv[0][1].rank, kv[0][2])
        )
    ]


def _count(bucket: _Bucket, row: Any, fired: dict[tuple[int, str], int]) -> None:
    """Count one ticket in its bucket: its times, and the deadlines it missed."""
    bucket.tickets += 1
    created = utc(row.created_at)
    assert created is not None
    for done, values in (
        (utc(row.acknowledged_at), bucket.ack),
        (utc(row.on_site_at), bucket.arrive),
        (utc(row.resolved_at) or utc(row.closed_at), bucket.fix),
    ):
        if done is not None:
            values.append(max((done - created).total_seconds(), 0.0))
    ran_out = {c: fired.get((row.id, c.value), 0) > 0 for c in Clock}
    bucket.ack_breaches += _late(utc(row.acknowledged_at), utc(row.ack_due), ran_out[Clock.ACKNOWLEDGE])
    bucket.arrive_breaches += _late(utc(row.on_site_at), utc(row.on_site_due), ran_out[Clock.ON_SITE])
    fixed_at = utc(row.resolved_at) or utc(row.closed_at)
    bucket.fix_breaches += _late(fixed_at, utc(row.fixed_due), ran_out[Clock.FIXED])
    on_site = utc(row.on_site_at)
    if on_site is not None:
        shown = bucket.arrive_corroborated if row.arrival == "corroborated" else bucket.arrive_code_only
        shown.append(max((on_site - created).total_seconds(), 0.0))


def period_of(when: datetime, tz: ZoneInfo, period: str) -> str:
    """``2026-11`` (month) or ``2026-Q4`` (quarter) of ``when`` in the site's time zone."""
    local = when.astimezone(tz)
    if period == "month":
        return f"{local.year:04d}-{local.month:02d}"
    if period == "quarter":
        return f"{local.year:04d}-Q{(local.month - 1) // 3 + 1}"
    raise ValueError(f"period must be 'month' or 'quarter', got {period!r}")


def incident_counts(
    conn: Connection, *, site: str | None, since: datetime, until: datetime, period: str, timezone: str
) -> list[IncidentCount]:
    """Alerts opened in ``[since, until)``, counted per period, asset and kind (worst level seen)."""
    if period not in ("month", "quarter"):
        raise ValueError(f"period must be 'month' or 'quarter', got {period!r}")
    tz = ZoneInfo(timezone)
    query = select(alerts.c.site, alerts.c.asset, alerts.c.kind, alerts.c.level, alerts.c.opened_at).where(
        alerts.c.opened_at >= utc(since), alerts.c.opened_at < utc(until)
    )
    if site is not None:
        query = query.where(alerts.c.site == site)
    counts: dict[tuple[str, str, str, str], list[int]] = {}
    for site_id, asset, kind, level, opened in conn.execute(query):
        opened_at = utc(opened)
        assert opened_at is not None
        key = (period_of(opened_at, tz, period), site_id, asset, kind)
        entry = counts.setdefault(key, [0, Level(level).rank])
        entry[0] += 1
        entry[1] = min(entry[1], Level(level).rank)
    by_rank = {lv.rank: lv for lv in Level}
    return [
        IncidentCount(period=p, site=s, asset=a, kind=k, level=by_rank[rank], count=n)
        for (p, s, a, k), (n, rank) in sorted(counts.items())
    ]
