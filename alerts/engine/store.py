"""Reading alerts and tickets back from the state database (their JSON shapes: ``alerts.engine.shapes``,
also offered here as ``store.alert_json`` / ``store.ticket_json``)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, Select, literal, literal_column, select, tuple_

from alerts.engine.db import (
    FIRING_KEY_SQL,
    LEVEL_KEY_SQL,
    TS,
    alert_ref,
    alerts,
    parse_ref,
    ticket_alerts,
    ticket_events,
    ticket_ref,
    tickets,
    utc,
)
from alerts.engine.errors import NotFound
from alerts.engine.shapes import alert_json, ticket_json
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


def _utc(when: datetime) -> datetime:
    """``alerts.engine.db.utc`` for a time known to be there, at a fifth of the cost (``datetime.replace`` with a
    keyword is slow, and a page maps up to 7 times per row): rows of a page go through here."""
    if when.tzinfo is None:
        return datetime.combine(when, when.time(), UTC)
    return when if when.tzinfo is UTC else when.astimezone(UTC)


def _aware(when: datetime | None) -> datetime:
    if when is None:
        raise ValueError("a required time is missing")
    return _utc(when)


_LEVELS = {level.value: level for level in Level}
_ALERT_STATES = {state.value: state for state in AlertState}
_TICKET_STATES = {state.value: state for state in TicketState}

# The columns ``alert_from_row`` reads, in its order: a page maps thousands of rows, and unpacking a row
# costs far less than reading its fields by name.
_ALERT_COLUMNS = (
    alerts.c.id,
    alerts.c.site,
    alerts.c.asset,
    alerts.c.building,
    alerts.c.kind,
    alerts.c.level,
    alerts.c.state,
    alerts.c.summary,
    alerts.c.opened_at,
    alerts.c.updated_at,
    ticket_alerts.c.ticket_id,
    alerts.c.resolved_at,
    alerts.c.acknowledged_at,
    alerts.c.acknowledged_by,
    alerts.c.count,
    tickets.c.escalation_step,
    alerts.c.silenced_until,
    alerts.c.silence_reason,
    alerts.c.suppressed_by,
    alerts.c.flapping,
    alerts.c.late,
    alerts.c.predicted_at,
)


def alert_from_row(row: Any) -> Alert:
    """An alert from a row of ``_alert_query`` (columns in ``_ALERT_COLUMNS`` order)."""
    (
        pk, site, asset, building, kind, level, state, summary, opened_at, updated_at, ticket_pk,
        resolved_at, acknowledged_at, acknowledged_by, count, escalation_step, silenced_until,
        silence_reason, suppressed_by, flapping, late, predicted_at,
    ) = row  # fmt: skip
    return Alert(
        id=alert_ref(pk),
        site=site,
        asset=asset,
        building=building,
        kind=kind,
        level=_LEVELS.get(level) or Level(level),
        state=_ALERT_STATES.get(state) or AlertState(state),
        summary=summary,
        opened_at=_aware(opened_at),
        updated_at=_aware(updated_at),
        ticket_id=None if ticket_pk is None else ticket_ref(ticket_pk),
        resolved_at=None if resolved_at is None else _utc(resolved_at),
        acknowledged_at=None if acknowledged_at is None else _utc(acknowledged_at),
        acknowledged_by=acknowledged_by,
        count=count,
        escalation_step=escalation_step or 0,
        silenced_until=None if silenced_until is None else _utc(silenced_until),
        silence_reason=silence_reason,
        suppressed_by=suppressed_by,
        flapping=bool(flapping),
        late=bool(late),
        predicted_at=None if predicted_at is None else _utc(predicted_at),
    )


def _alert_query() -> Select[Any]:
    return (
        select(*_ALERT_COLUMNS)
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ALERT_CURSOR = re.compile(r"([01])\.([0-4])\.(-?\d{1,19})\.(\d{1,18})")
_TICKET_CURSOR = re.compile(r"(-?\d{1,19})\.(\d{1,18})")

# The alert list's sort keys, exactly as the index ``ix_alerts_list`` has them (alerts/engine/db.py).
firing_key = literal_column(f"({FIRING_KEY_SQL})", Integer)
level_key = literal_column(f"({LEVEL_KEY_SQL})", Integer)
_LEVEL_KEYS = {Level.RED: 4, Level.ORANGE: 3, Level.YELLOW: 2, Level.BLUE: 1}


def _micros(when: datetime) -> int:
    return (_aware(when) - _EPOCH) // _MICROSECOND


def _from_micros(text: str) -> datetime:
    try:
        return _EPOCH + int(text) * _MICROSECOND
    except OverflowError:
        raise ValueError(f"not a cursor of this list: {text!r}") from None


def _match(pattern: re.Pattern[str], cursor: str) -> re.Match[str]:
    match = pattern.fullmatch(cursor)
    if match is None:
        raise ValueError(f"not a cursor of this list: {cursor!r}")
    return match


def _page_limit(limit: int) -> int:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return min(limit, 1000)


def _after(
    keys: tuple[ColumnElement[Any], ...], values: tuple[ColumnElement[Any], ...]
) -> ColumnElement[bool]:
    """Rows after the cursor in a list sorted descending by ``keys`` (one range of the list's index)."""
    return tuple_(*keys) < tuple_(*values)


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
    """Firing first, worst level first, newest first; ``since``/``until`` bound when the alert opened:
    ``[since, until)``. The cursor is the last item's sort key (keyset pagination over ``ix_alerts_list``)."""
    limit = _page_limit(limit)
    # The page's ids from the alerts alone (the sort keys name their columns unqualified), then the page.
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
    if level is not None:  # the key too, so that the index is searched rather than scanned
        query = query.where(alerts.c.level == level.value, level_key == _LEVEL_KEYS[level])
    if state is not None:
        query = query.where(alerts.c.state == state.value, firing_key == int(state is AlertState.FIRING))
    if cursor is not None:
        firing, rank, opened, pk = _match(_ALERT_CURSOR, cursor).groups()
        values = (
            literal(int(firing), Integer),
            literal(int(rank), Integer),
            literal(_from_micros(opened), TS),
            literal(int(pk), Integer),
        )
        query = query.where(_after((firing_key, level_key, alerts.c.opened_at, alerts.c.id), values))
    query = query.order_by(firing_key.desc(), level_key.desc(), alerts.c.opened_at.desc(), alerts.c.id.desc())
    ids = [pk for (pk,) in conn.execute(query.limit(limit + 1))]
    more = len(ids) > limit
    ids = ids[:limit]
    rows = {r[0]: r for r in conn.execute(_alert_query().where(alerts.c.id.in_(ids)))} if ids else {}
    items = [alert_from_row(rows[pk]) for pk in ids]
    return Page(items=items, next=_alert_cursor(items[-1]) if more else None)


def _alert_cursor(alert: Alert) -> str:
    firing = int(alert.state is AlertState.FIRING)
    pk = parse_ref(alert.id, "A")
    return f"{firing}.{_LEVEL_KEYS[alert.level]}.{_micros(alert.opened_at)}.{pk}"


def _alert_ids(conn: Connection, ticket_pks: list[int]) -> dict[int, tuple[str, ...]]:
    """The alert ids of these tickets, in one query (in the primary key's order: no sort)."""
    out: dict[int, list[str]] = {pk: [] for pk in ticket_pks}
    if ticket_pks:
        rows = conn.execute(
            select(ticket_alerts.c.ticket_id, ticket_alerts.c.alert_id)
            .where(ticket_alerts.c.ticket_id.in_(ticket_pks))
            .order_by(ticket_alerts.c.ticket_id, ticket_alerts.c.alert_id)
        )
        for tid, aid in rows:
            out[tid].append(alert_ref(aid))
    return {pk: tuple(ids) for pk, ids in out.items()}


_TICKET_COLUMNS = (
    tickets.c.id,
    tickets.c.site,
    tickets.c.asset,
    tickets.c.building,
    tickets.c.kind,
    tickets.c.level,
    tickets.c.state,
    tickets.c.title,
    tickets.c.created_at,
    tickets.c.updated_at,
    tickets.c.ack_due,
    tickets.c.on_site_due,
    tickets.c.fixed_due,
    tickets.c.assignee,
    tickets.c.acknowledged_at,
    tickets.c.on_site_at,
    tickets.c.resolved_at,
    tickets.c.source,
    tickets.c.unit,
    tickets.c.category,
    tickets.c.description,
    tickets.c.photo_urls,
    tickets.c.location,
    tickets.c.progress_percent,
    tickets.c.eta,
    tickets.c.closed_at,
)
"""The columns ``ticket_from_row`` reads, in its order."""


def ticket_from_row(row: Any, alert_ids: tuple[str, ...], timeline: tuple[TicketEvent, ...] = ()) -> Ticket:
    """A ticket from a row of ``select(*_TICKET_COLUMNS)``."""
    (
        pk, site, asset, building, kind, level, state, title, created_at, updated_at, ack_due, on_site_due,
        fixed_due, assignee, acknowledged_at, on_site_at, resolved_at, source, unit, category, description,
        photo_urls, location, progress_percent, eta, closed_at,
    ) = row  # fmt: skip
    return Ticket(
        id=ticket_ref(pk),
        site=site,
        asset=asset,
        building=building,
        kind=kind,
        level=_LEVELS.get(level) or Level(level),
        state=_TICKET_STATES.get(state) or TicketState(state),
        title=title,
        created_at=_aware(created_at),
        updated_at=_aware(updated_at),
        deadlines=Deadlines(
            acknowledge=None if ack_due is None else _utc(ack_due),
            on_site=None if on_site_due is None else _utc(on_site_due),
            fixed=None if fixed_due is None else _utc(fixed_due),
        ),
        alert_ids=alert_ids,
        timeline=timeline,
        assignee=assignee,
        acknowledged_at=None if acknowledged_at is None else _utc(acknowledged_at),
        on_site_at=None if on_site_at is None else _utc(on_site_at),
        resolved_at=None if resolved_at is None else _utc(resolved_at),
        source=source,
        unit=unit,
        category=category,
        description=description or "",
        photo_urls=() if not photo_urls or photo_urls == "[]" else tuple(json.loads(photo_urls)),
        location=location,
        progress_percent=progress_percent,
        eta=None if eta is None else _utc(eta),
        closed_at=None if closed_at is None else _utc(closed_at),
    )


def get_ticket(conn: Connection, pk: int) -> Ticket:
    row = conn.execute(select(*_TICKET_COLUMNS).where(tickets.c.id == pk)).first()
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
    """Newest first; ``since``/``until`` bound when the ticket was created: ``[since, until)``. The cursor is
    the last item's sort key (keyset pagination over ``ix_tickets_list`` / ``ix_tickets_state_list``)."""
    limit = _page_limit(limit)
    query = select(*_TICKET_COLUMNS)
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
    if cursor is not None:
        created, pk = _match(_TICKET_CURSOR, cursor).groups()
        values = (literal(_from_micros(created), TS), literal(int(pk), Integer))
        query = query.where(_after((tickets.c.created_at, tickets.c.id), values))
    query = query.order_by(tickets.c.created_at.desc(), tickets.c.id.desc())
    rows = list(conn.execute(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    ids = _alert_ids(conn, [r[0] for r in rows])  # one query for the page's alert ids
    items = [ticket_from_row(r, ids[r[0]]) for r in rows]
    return Page(items=items, next=f"{_micros(items[-1].created_at)}.{rows[-1][0]}" if more else None)


__all__ = [
    "alert_json",
    "get_alert",
    "get_alert_ref",
    "get_ticket",
    "list_alerts",
    "list_tickets",
    "ticket_json",
]
