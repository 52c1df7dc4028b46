"""Reading the owners' reports' figures: the SQL and the history queries around ``report_figures``' pure core.

Each ``read_*`` takes one connection (one consistent read) and, where the report shows how machines ran, the
telemetry store's history queries (``TelemetryReader``); ``None`` leaves those figures out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, or_, select

from alerts.engine import report_figures as rf
from alerts.engine.db import alerts, parse_ref, ticket_events, ticket_ref, tickets, utc
from alerts.engine.errors import NotFound
from alerts.engine.periods import Period, previous
from alerts.engine.policy import RECURRENCE_SUFFIX
from alerts.engine.reports import sla_figures
from facwatch.config import SlaSettings
from facwatch.model import (
    STANDARD_CHANNELS,
    AssetKind,
    Level,
    Site,
    TelemetryQuery,
    TelemetryReader,
    TicketEvent,
    TicketState,
    ms_from_utc,
    utc_from_ms,
)

HOUR_MS = 3_600_000
READINGS_BEFORE = timedelta(days=3)
"""A repair report charts the readings from this long before the first occurrence ..."""
READINGS_AFTER = timedelta(days=7)
"""... to this long after the fix (or now, when that is sooner)."""


def read_repairs(
    conn: Connection,
    site: Site,
    since: datetime,
    until: datetime,
    *,
    building: str | None = None,
) -> list[rf.Repair]:
    """Tickets created in ``[since, until)`` (cancelled ones are no repair)."""
    t = tickets
    query = select(t).where(t.c.site == site.id, t.c.created_at >= utc(since), t.c.created_at < utc(until))
    if building is not None:
        query = query.where(t.c.building == building)
    rows = conn.execute(
        query.where(t.c.state != TicketState.CANCELLED.value).order_by(t.c.created_at, t.c.id)
    )
    return [_repair(site, row) for row in rows]


def _repair(site: Site, row: Row[Any]) -> rf.Repair:
    created = utc(row.created_at)
    assert created is not None
    return rf.Repair(
        ref=ticket_ref(row.id),
        asset=row.asset,
        building=row.building,
        kind=row.kind,
        level=Level(row.level),
        category=rf.category_of(site, row.asset, row.kind, row.category),
        title=row.title,
        created_at=created,
        acknowledged_at=utc(row.acknowledged_at),
        on_site_at=utc(row.on_site_at),
        fixed_at=utc(row.resolved_at) or utc(row.closed_at),
        cost=row.cost,
    )


def hours_run(
    reader: TelemetryReader, site: str, asset: str, since: datetime, until: datetime
) -> float | None:
    """Hours the machine ran: the hourly means of its ``running`` channel (0..1), summed."""
    query = TelemetryQuery(site, asset, "running", ms_from_utc(since), ms_from_utc(until), HOUR_MS, "mean")
    points = reader.query(query)
    return sum(p.value for p in points) if points else None


TRIPS_CHUNK = timedelta(days=1)
TRIP_STOP_MS = 5_000
"""Trips are counted on the ``running`` flag's maximum per 5 s (the store aggregates; a month at 1 Hz is
2.6 M raw points): a stop of 10 s or more (a landing's door cycle) always holds a whole idle window, so runs
between such stops are counted exactly; shorter halts are not a trip's end."""


def trips(reader: TelemetryReader, site: str, asset: str, since: datetime, until: datetime) -> int | None:
    """Trips the elevator made: its ``running`` flag rising (``rf.rising_edges``), a day at a time."""
    count, last, seen = 0, None, False
    at = since
    while at < until:
        end = min(at + TRIPS_CHUNK, until)
        day = TelemetryQuery(site, asset, "running", ms_from_utc(at), ms_from_utc(end), TRIP_STOP_MS, "max")
        points = reader.query(day)
        values = [p.value for p in points]
        if values:
            seen = True
            count += rf.rising_edges(values, last)
            last = values[-1]
        at = end
    return count if seen else None


def read_monthly(
    conn: Connection,
    site: Site,
    building: str,
    period: Period,
    *,
    telemetry: TelemetryReader | None = None,
    visits: rf.VisitSource | None = None,
) -> rf.MonthlyFigures:
    if all(b.id != building for b in site.buildings):
        raise NotFound(f"no building {building!r} in site {site.id!r}")
    repairs = read_repairs(conn, site, period.start, period.end, building=building)
    faults = read_faults(conn, site.id, building, period.start, period.end)
    done = visits(conn, site.id, period.start, period.end, building) if visits is not None else ()
    hours: dict[str, float | None] = {}
    ran: dict[str, int | None] = {}
    if telemetry is not None:
        for asset in site.assets:
            if asset.building == building:
                hours[asset.id] = hours_run(telemetry, site.id, asset.id, period.start, period.end)
                if asset.kind is AssetKind.ELEVATOR:
                    ran[asset.id] = trips(telemetry, site.id, asset.id, period.start, period.end)
    return rf.monthly(site, building, period, repairs, faults, done, hours, ran)


def read_faults(
    conn: Connection, site: str, building: str, since: datetime, until: datetime
) -> list[rf.Span]:
    """When the building's alerts present in ``[since, until)`` began and ended."""
    a = alerts
    rows = conn.execute(
        select(a.c.opened_at, a.c.resolved_at).where(
            a.c.site == site,
            a.c.building == building,
            a.c.opened_at < utc(until),
            or_(a.c.resolved_at.is_(None), a.c.resolved_at > utc(since)),
        )
    )
    return [(began, utc(ended)) for opened, ended in rows if (began := utc(opened)) is not None]


def fixed_recurrences(conn: Connection, site: str, since: datetime, until: datetime) -> list[tuple[str, str]]:
    """(ticket ref, building) of the rectification orders (YELLOW recurrences) fixed in ``[since, until)``."""
    t = tickets
    rows = conn.execute(
        select(t.c.id, t.c.building)
        .where(
            t.c.site == site,
            t.c.kind.like(f"%{RECURRENCE_SUFFIX}"),
            t.c.resolved_at >= utc(since),
            t.c.resolved_at < utc(until),
        )
        .order_by(t.c.id)
    )
    return [(ticket_ref(pk), building) for pk, building in rows]


def read_repair(
    conn: Connection, site: Site, ref: str, now: datetime, *, telemetry: TelemetryReader | None = None
) -> rf.RepairFigures:
    """The repair report of rectification ticket ``ref`` (raises NotFound, ValueError if not fixed)."""
    pk = parse_ref(ref, "T")
    row = None if pk is None else conn.execute(select(tickets).where(tickets.c.id == pk)).first()
    if row is None or row.site != site.id:
        raise NotFound(f"no ticket {ref}")
    ticket = _repair(site, row)
    base = ticket.kind.removesuffix(RECURRENCE_SUFFIX)
    opened = conn.execute(
        select(alerts.c.opened_at)
        .where(
            alerts.c.site == site.id,
            alerts.c.asset == ticket.asset,
            alerts.c.kind == base,
            alerts.c.opened_at >= utc(ticket.created_at - rf.RECURRENCE_WINDOW),
            alerts.c.opened_at <= utc(ticket.created_at),
        )
        .order_by(alerts.c.opened_at)
    )
    occurrences = [t for (at,) in opened if (t := utc(at)) is not None]
    events = conn.execute(
        select(ticket_events.c.ts, ticket_events.c.action, ticket_events.c.actor, ticket_events.c.note)
        .where(ticket_events.c.ticket_id == pk)
        .order_by(ticket_events.c.id)
    )
    timeline = [
        TicketEvent(ts=utc(ts) or ticket.created_at, action=a, actor=who, note=n) for ts, a, who, n in events
    ]
    channel = chart_channel(site, ticket.asset, base)
    readings: Sequence[tuple[datetime, float]] = ()
    if telemetry is not None and ticket.fixed_at is not None:
        start = (occurrences[0] if occurrences else ticket.created_at) - READINGS_BEFORE
        end = min(ticket.fixed_at + READINGS_AFTER, now)
        hourly = TelemetryQuery(site.id, ticket.asset, channel, ms_from_utc(start), ms_from_utc(end), HOUR_MS)
        points = telemetry.query(hourly)
        readings = [(utc_from_ms(p.ts_ms), p.value) for p in points]
    return rf.repair(site.id, ticket, occurrences, timeline, channel, readings)


def chart_channel(site: Site, asset_id: str, kind: str) -> str:
    """The channel the finding's kind names (``pump.discharge_pressure_bar.low``), else the kind's default."""
    asset = site.asset(asset_id)
    kind_name = asset.kind.value if asset is not None else kind.split(".", 1)[0]
    channels = STANDARD_CHANNELS.get(AssetKind(kind_name), {}) if kind_name in set(AssetKind) else {}
    named = [c for c in channels if c in kind]
    return named[0] if named else rf.CHART_CHANNEL.get(kind_name, "running")


def read_quarterly(conn: Connection, site: Site, period: Period, sla: SlaSettings) -> rf.QuarterlyFigures:
    before = previous(period, site.timezone)
    now_rows = read_repairs(conn, site, period.start, period.end)
    then_rows = read_repairs(conn, site, before.start, before.end)
    now_sla = sla_figures(conn, site=site.id, since=period.start, until=period.end)
    then_sla = sla_figures(conn, site=site.id, since=before.start, until=before.end)
    return rf.quarterly(site.id, period, before, now_rows, then_rows, now_sla, then_sla, rf.sla_targets(sla))
