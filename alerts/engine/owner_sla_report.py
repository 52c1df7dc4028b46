"""SLA compliance of owner-reported tickets per category (leak, elevator, …), against each category's own
deadlines (``[owner_sla.<category>]``): the report a property company shows its owners.

Measured as ``alerts.engine.reports`` measures levels: from the report to the acknowledgement, to the
check-in on site, to the fix; a breach is a deadline missed (done after it, or its clock ran out).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select

from alerts.engine.clocks import Clock
from alerts.engine.db import sla_clocks, tickets, utc
from alerts.engine.reports import _late, percentile
from facwatch.model import CategorySla, OwnerSlaPolicy


@dataclass(frozen=True, slots=True)
class CategoryFigures:
    category: str
    target: CategorySla
    """The category's deadlines from the site file (acknowledge None: the settings' default)."""
    tickets: int
    acknowledged: int
    arrived: int
    fixed: int
    ack_p90_s: float | None
    arrive_p90_s: float | None
    fix_p90_s: float | None
    ack_breaches: int
    arrive_breaches: int
    fix_breaches: int


@dataclass
class _Bucket:
    tickets: int = 0
    times: dict[Clock, list[float]] = field(default_factory=lambda: {c: [] for c in Clock})
    breaches: dict[Clock, int] = field(default_factory=lambda: dict.fromkeys(Clock, 0))


def category_figures(
    conn: Connection, *, site: str, policy: OwnerSlaPolicy, since: datetime, until: datetime
) -> list[CategoryFigures]:
    rows = list(
        conn.execute(
            select(tickets).where(
                tickets.c.site == site,
                tickets.c.source == "owner",
                tickets.c.created_at >= since,
                tickets.c.created_at < until,
            )
        )
    )
    fired: set[tuple[int, str]] = set()
    if rows:
        fired = {
            (t, c)
            for t, c, n in conn.execute(
                select(sla_clocks.c.ticket_id, sla_clocks.c.clock, sla_clocks.c.fired).where(
                    sla_clocks.c.ticket_id.in_([r.id for r in rows])
                )
            )
            if n
        }
    buckets: dict[str, _Bucket] = defaultdict(_Bucket)
    for row in rows:
        bucket = buckets[str(row.category or "other")]
        bucket.tickets += 1
        created = utc(row.created_at)
        assert created is not None
        done = {
            Clock.ACKNOWLEDGE: (utc(row.acknowledged_at), utc(row.ack_due)),
            Clock.ON_SITE: (utc(row.on_site_at), utc(row.on_site_due)),
            Clock.FIXED: (utc(row.resolved_at) or utc(row.closed_at), utc(row.fixed_due)),
        }
        for clock, (at, due) in done.items():
            if at is not None:
                bucket.times[clock].append(max((at - created).total_seconds(), 0.0))
            bucket.breaches[clock] += _late(at, due, (row.id, clock.value) in fired)
    return [
        CategoryFigures(
            category=name,
            target=policy.of(name),
            tickets=b.tickets,
            acknowledged=len(b.times[Clock.ACKNOWLEDGE]),
            arrived=len(b.times[Clock.ON_SITE]),
            fixed=len(b.times[Clock.FIXED]),
            ack_p90_s=percentile(b.times[Clock.ACKNOWLEDGE], 90),
            arrive_p90_s=percentile(b.times[Clock.ON_SITE], 90),
            fix_p90_s=percentile(b.times[Clock.FIXED], 90),
            ack_breaches=b.breaches[Clock.ACKNOWLEDGE],
            arrive_breaches=b.breaches[Clock.ON_SITE],
            fix_breaches=b.breaches[Clock.FIXED],
        )
        for name, b in sorted(buckets.items())
    ]
