"""Reading alerts and tickets back from the state database (their JSON shapes: ``alerts.engine.shapes``,
also offered here as ``store.alert_json`` / ``store.ticket_json``).

The columns each query selects and the mapping of its rows come from one column spec per value
(``alerts.engine.rows``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Integer,
    Select,
    Table,
    literal,
    literal_column,
    select,
    tuple_,
)

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
from alerts.engine.ports import AlertQuery, ListQuery, TicketQuery
from alerts.engine.rows import ALERT, TICKET, alert_from_row, aware, ticket_from_row
from alerts.engine.shapes import alert_json, ticket_json
from facwatch.model import Alert, AlertState, Level, Page, Ticket, TicketEvent


def _alert_query() -> Select[Any]:
    return (
        select(*ALERT.columns)
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
    return (aware(when) - _EPOCH) // _MICROSECOND


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


def _filtered(query: Select[Any], table: Table, began: Column[Any], q: ListQuery) -> Select[Any]:
    """``query`` over ``table`` with the filters every list has (``ListQuery``); ``began`` is the column of when
    an item began (``since``/``until``: ``[since, until)``)."""
    if isinstance(q.site, str):
        query = query.where(table.c.site == q.site)
    elif q.site is not None:  # the sites a token is limited to
        query = query.where(table.c.site.in_(q.site))
    if q.building is not None:
        query = query.where(table.c.building == q.building)
    if q.asset is not None:
        query = query.where(table.c.asset == q.asset)
    if q.level is not None:
        query = query.where(table.c.level == q.level.value)
    if q.since is not None:
        query = query.where(began >= utc(q.since))
    if q.until is not None:
        query = query.where(began < utc(q.until))
    return query


def list_alerts(conn: Connection, q: AlertQuery) -> Page[Alert]:
    """Firing first, worst level first, newest first; ``since``/``until`` bound when the alert opened:
    ``[since, until)``. The cursor is the last item's sort key (keyset pagination over ``ix_alerts_list``)."""
    limit = _page_limit(q.limit)
    # The page's keys from the alerts alone: the sort keys name their columns unqualified (``state`` and
    # ``level`` are columns of ``tickets`` too), so they are selected before the join.
    query = select(alerts.c.id, firing_key.label("firing"), level_key.label("rank"), alerts.c.opened_at)
    query = _filtered(query, alerts, alerts.c.opened_at, q)
    if q.level is not None:  # the key too, so that the index is searched rather than scanned
        query = query.where(level_key == _LEVEL_KEYS[q.level])
    if q.state is not None:
        query = query.where(alerts.c.state == q.state.value, firing_key == int(q.state is AlertState.FIRING))
    if q.cursor is not None:
        firing, rank, opened, pk = _match(_ALERT_CURSOR, q.cursor).groups()
        values = (
            literal(int(firing), Integer),
            literal(int(rank), Integer),
            literal(_from_micros(opened), TS),
            literal(int(pk), Integer),
        )
        query = query.where(_after((firing_key, level_key, alerts.c.opened_at, alerts.c.id), values))
    query = query.order_by(firing_key.desc(), level_key.desc(), alerts.c.opened_at.desc(), alerts.c.id.desc())
    # One statement: the page's keys over the list's index, then their alerts with their tickets.
    page = query.limit(limit + 1).subquery("page")
    rows = conn.execute(
        select(*ALERT.columns)
        .select_from(
            page.join(alerts, alerts.c.id == page.c.id)
            .outerjoin(ticket_alerts, ticket_alerts.c.alert_id == page.c.id)
            .outerjoin(tickets, tickets.c.id == ticket_alerts.c.ticket_id)
        )
        .order_by(page.c.firing.desc(), page.c.rank.desc(), page.c.opened_at.desc(), page.c.id.desc())
    ).all()
    items = [alert_from_row(row) for row in rows[:limit]]
    return Page(items=items, next=_alert_cursor(items[-1]) if len(rows) > limit else None)


def _alert_cursor(alert: Alert) -> str:
    firing = int(alert.state is AlertState.FIRING)
    pk = parse_ref(alert.id, "A")
    return f"{firing}.{_LEVEL_KEYS[alert.level]}.{_micros(alert.opened_at)}.{pk}"


def get_ticket(conn: Connection, pk: int) -> Ticket:
    """One ticket with its alert ids and its timeline (oldest first)."""
    row = conn.execute(select(*TICKET.columns).where(tickets.c.id == pk)).first()
    if row is None:
        raise NotFound(f"no ticket {ticket_ref(pk)}")
    events = conn.execute(
        select(ticket_events.c.ts, ticket_events.c.action, ticket_events.c.actor, ticket_events.c.note)
        .where(ticket_events.c.ticket_id == pk)
        .order_by(ticket_events.c.id)
    )
    timeline = tuple(TicketEvent(aware(ts), action, actor, note) for ts, action, actor, note in events)
    return ticket_from_row(row, timeline)


def list_tickets(conn: Connection, q: TicketQuery) -> Page[Ticket]:
    """Newest first; ``since``/``until`` bound when the ticket was created: ``[since, until)``. The cursor is
    the last item's sort key (keyset pagination over ``ix_tickets_list`` / ``ix_tickets_state_list``)."""
    limit = _page_limit(q.limit)
    query = select(*TICKET.columns)
    query = _filtered(query, tickets, tickets.c.created_at, q)
    if q.source is not None:
        query = query.where(tickets.c.source == q.source)
    if q.state is not None:
        query = query.where(tickets.c.state == q.state.value)
    if q.cursor is not None:
        created, pk = _match(_TICKET_CURSOR, q.cursor).groups()
        values = (literal(_from_micros(created), TS), literal(int(pk), Integer))
        query = query.where(_after((tickets.c.created_at, tickets.c.id), values))
    query = query.order_by(tickets.c.created_at.desc(), tickets.c.id.desc())
    # One statement over the list's index: a row per ticket, its alert ids aggregated for the page's rows only.
    rows = conn.execute(query.limit(limit + 1)).all()
    items = [ticket_from_row(row, ()) for row in rows[:limit]]
    more = len(rows) > limit
    return Page(items=items, next=_ticket_cursor(items[-1]) if more else None)


def _ticket_cursor(ticket: Ticket) -> str:
    return f"{_micros(ticket.created_at)}.{parse_ref(ticket.id, 'T')}"


__all__ = [
    "alert_json",
    "get_alert",
    "get_alert_ref",
    "get_ticket",
    "list_alerts",
    "list_tickets",
    "ticket_json",
]
