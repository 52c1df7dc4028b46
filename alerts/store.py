"""Reading alerts and tickets back from the state database, and their JSON shapes for events.

The JSON shapes are the API's (ARCHITECTURE.md): ISO-8601 UTC strings, ``A-000001`` / ``T-000001`` ids.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, case, select

from alerts.db import alert_ref, alerts, parse_ref, ticket_alerts, ticket_events, ticket_ref, tickets, utc
from alerts.errors import NotFound
from facwatch.model import (
    Alert,
    AlertState,
    Deadlines,
    Level,
    Page,
    Ticket,
    TicketEvent,
    TicketState,
)


def _aware(when: datetime | None) -> datetime:
    value = utc(when)
    if value is None:
        raise ValueError("a required time is missing")
    return value


def alert_from_row(row: Any) -> Alert:
    return Alert(
        id=alert_ref(row.id),
        site=row.site,
        asset=row.asset,
        building=row.building,
        kind=row.kind,
        level=Level(row.level),
        state=AlertState(row.state),
        summary=row.summary,
        opened_at=_aware(row.opened_at),
        updated_at=_aware(row.updated_at),
        ticket_id=None if row.ticket_id is None else ticket_ref(row.ticket_id),
        resolved_at=utc(row.resolved_at),
        acknowledged_at=utc(row.acknowledged_at),
        acknowledged_by=row.acknowledged_by,
        count=row.count,
        escalation_step=row.escalation_step or 0,
        silenced_until=utc(row.silenced_until),
        silence_reason=row.silence_reason,
        suppressed_by=row.suppressed_by,
        flapping=bool(row.flapping),
        late=bool(row.late),
        predicted_at=utc(row.predicted_at),
    )


def _alert_query() -> Select[Any]:
    return (
        select(alerts, ticket_alerts.c.ticket_id, tickets.c.escalation_step)
        .outerjoin(ticket_alerts, ticket_alerts.c.alert_id == alerts.c.id)
        .outerjoin(tickets, tickets.c.id == ticket_alerts.c.ticket_id)
    )


def get_alert(conn: Connection, pk: int) -> Alert:
    row = conn.execute(_alert_query().where(alerts.c.id == pk)).first()
    if row is None:
        raise NotFound(f"no alert {alert_ref(pk)}")
    return alert_from_row(row)


def get_alert_ref(conn: Connection, ref: str) -> Alert:
    pk = parse_ref(ref, "A")
    if pk is None:
        raise NotFound(f"no alert {ref}")
    return get_alert(conn, pk)


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit():
        raise ValueError(f"not a cursor of this list: {cursor!r}")
    return int(cursor)


def _page_limit(limit: int) -> int:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return min(limit, 1000)


def list_alerts(
    conn: Connection,
    *,
    site: str | None,
    asset: str | None,
    level: Level | None,
    state: AlertState | None,
    limit: int,
    cursor: str | None,
    building: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[Alert]:
    """``since``/``until`` bound when the alert opened: ``[since, until)``."""
    start, limit = _offset(cursor), _page_limit(limit)
    # Sort and limit the alerts alone, then join their tickets for the page only.
    query = select(alerts.c.id)
    if site is not None:
        query = query.where(alerts.c.site == site)
    if building is not None:
        query = query.where(alerts.c.building == building)
    if since is not None:
        query = query.where(alerts.c.opened_at >= utc(since))
    if until is not None:
        query = query.where(alerts.c.opened_at < utc(until))
    if asset is not None:
        query = query.where(alerts.c.asset == asset)
    if level is not None:
        query = query.where(alerts.c.level == level.value)
    if state is not None:
        query = query.where(alerts.c.state == state.value)
    firing_first = case((alerts.c.state == AlertState.FIRING.value, 0), else_=1)
    worst_first = case({lv.value: lv.rank for lv in Level}, value=alerts.c.level, else_=9)
    query = query.order_by(firing_first, worst_first, alerts.c.opened_at.desc(), alerts.c.id.desc())
    ids = [pk for (pk,) in conn.execute(query.offset(start).limit(limit + 1))]
    more = len(ids) > limit
    ids = ids[:limit]
    rows = {r.id: r for r in conn.execute(_alert_query().where(alerts.c.id.in_(ids)))} if ids else {}
    return Page(items=[alert_from_row(rows[pk]) for pk in ids], next=str(start + limit) if more else None)


def _alert_ids(conn: Connection, ticket_pks: list[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {pk: [] for pk in ticket_pks}
    if ticket_pks:
        rows = conn.execute(
            select(ticket_alerts.c.ticket_id, ticket_alerts.c.alert_id)
            .where(ticket_alerts.c.ticket_id.in_(ticket_pks))
            .order_by(ticket_alerts.c.alert_id)
        )
        for tid, aid in rows:
            out[tid].append(alert_ref(aid))
    return {pk: tuple(ids) for pk, ids in out.items()}


def ticket_from_row(row: Any, alert_ids: tuple[str, ...], timeline: tuple[TicketEvent, ...] = ()) -> Ticket:
    return Ticket(
        id=ticket_ref(row.id),
        site=row.site,
        asset=row.asset,
        building=row.building,
        kind=row.kind,
        level=Level(row.level),
        state=TicketState(row.state),
        title=row.title,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        deadlines=Deadlines(
            acknowledge=utc(row.ack_due), on_site=utc(row.on_site_due), fixed=utc(row.fixed_due)
        ),
        alert_ids=alert_ids,
        timeline=timeline,
        assignee=row.assignee,
        acknowledged_at=utc(row.acknowledged_at),
        on_site_at=utc(row.on_site_at),
        resolved_at=utc(row.resolved_at),
        source=row.source,
        unit=row.unit,
        category=row.category,
        description=row.description or "",
        photo_urls=tuple(json.loads(row.photo_urls or "[]")),
        location=row.location,
        progress_percent=row.progress_percent,
        eta=utc(row.eta),
        closed_at=utc(row.closed_at),
    )


def get_ticket(conn: Connection, pk: int) -> Ticket:
    row = conn.execute(select(tickets).where(tickets.c.id == pk)).first()
    if row is None:
        raise NotFound(f"no ticket {ticket_ref(pk)}")
    events = conn.execute(
        select(ticket_events).where(ticket_events.c.ticket_id == pk).order_by(ticket_events.c.id)
    )
    timeline = tuple(
        TicketEvent(ts=_aware(e.ts), action=e.action, actor=e.actor, note=e.note) for e in events
    )
    return ticket_from_row(row, _alert_ids(conn, [pk])[pk], timeline)


def list_tickets(
    conn: Connection,
    *,
    site: str | None,
    asset: str | None,
    state: TicketState | None,
    limit: int,
    cursor: str | None,
    building: str | None = None,
    level: Level | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[Ticket]:
    """``since``/``until`` bound when the ticket was created: ``[since, until)``."""
    start, limit = _offset(cursor), _page_limit(limit)
    query = select(tickets)
    if site is not None:
        query = query.where(tickets.c.site == site)
    if building is not None:
        query = query.where(tickets.c.building == building)
    if level is not None:
        query = query.where(tickets.c.level == level.value)
    if source is not None:
        query = query.where(tickets.c.source == source)
    if since is not None:
        query = query.where(tickets.c.created_at >= utc(since))
    if until is not None:
        query = query.where(tickets.c.created_at < utc(until))
    if asset is not None:
        query = query.where(tickets.c.asset == asset)
    if state is not None:
        query = query.where(tickets.c.state == state.value)
    query = query.order_by(tickets.c.created_at.desc(), tickets.c.id.desc())
    rows = list(conn.execute(query.offset(start).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    ids = _alert_ids(conn, [r.id for r in rows])
    return Page(
        items=[ticket_from_row(r, ids[r.id]) for r in rows], next=str(start + limit) if more else None
    )


# --- JSON shapes -------------------------------------------------------------------------------------


def _iso(when: datetime | None) -> str | None:
    value = utc(when)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def alert_json(alert: Alert) -> Mapping[str, object]:
    return {
        "id": alert.id,
        "site": alert.site,
        "asset": alert.asset,
        "building": alert.building,
        "kind": alert.kind,
        "level": alert.level.value,
        "state": alert.state.value,
        "summary": alert.summary,
        "opened_at": _iso(alert.opened_at),
        "updated_at": _iso(alert.updated_at),
        "resolved_at": _iso(alert.resolved_at),
        "ticket_id": alert.ticket_id,
        "count": alert.count,
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "escalation_step": alert.escalation_step,
        "silenced_until": _iso(alert.silenced_until),
        "silence_reason": alert.silence_reason,
        "suppressed_by": alert.suppressed_by,
        "flapping": alert.flapping,
        "late": alert.late,
        "predicted_at": _iso(alert.predicted_at),
    }


def ticket_json(ticket: Ticket) -> Mapping[str, object]:
    return {
        "id": ticket.id,
        "site": ticket.site,
        "asset": ticket.asset,
        "building": ticket.building,
        "kind": ticket.kind,
        "level": ticket.level.value,
        "state": ticket.state.value,
        "title": ticket.title,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "alert_ids": list(ticket.alert_ids),
        "deadlines": {
            "acknowledge": _iso(ticket.deadlines.acknowledge),
            "on_site": _iso(ticket.deadlines.on_site),
            "fixed": _iso(ticket.deadlines.fixed),
        },
        "assignee": ticket.assignee,
        "acknowledged_at": _iso(ticket.acknowledged_at),
        "on_site_at": _iso(ticket.on_site_at),
        "resolved_at": _iso(ticket.resolved_at),
        "source": ticket.source,
        "unit": ticket.unit,
        "category": ticket.category,
        "description": ticket.description,
        "photo_urls": list(ticket.photo_urls),
        "location": ticket.location,
        "progress_percent": ticket.progress_percent,
        "eta": _iso(ticket.eta),
        "closed_at": _iso(ticket.closed_at),
    }
