"""Reading alerts and tickets back from the state database (their JSON shapes: ``alerts.engine.shapes``,
also offered here as ``store.alert_json`` / ``store.ticket_json``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import itemgetter
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
    site: str | tuple[str, ...] | None,
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
    if isinstance(site, str):
        query = query.where(alerts.c.site == site)
    elif site is not None:  # the sites a token is limited to
        query = query.where(alerts.c.site.in_(site))
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


def _maybe_utc(when: datetime | None) -> datetime | None:
    return None if when is None else _utc(when)


def _level(value: str) -> Level:
    return _LEVELS.get(value) or Level(value)


def _ticket_state(value: str) -> TicketState:
    return _TICKET_STATES.get(value) or TicketState(value)


def _photo_urls(value: str | None) -> tuple[str, ...]:
    return () if not value or value == "[]" else tuple(json.loads(value))


@dataclass(frozen=True, slots=True)
class _Read:
    """One column a ticket is read from: the ``Ticket`` field (or ``Deadlines`` field, ``deadlines.``-prefixed)
    it fills, and how its stored value becomes the field's (``None``: as stored)."""

    column: ColumnElement[Any]
    field: str
    convert: Callable[[Any], Any] | None = None


_TICKET_SPEC = (
    _Read(tickets.c.id, "id", ticket_ref),
    _Read(tickets.c.site, "site"),
    _Read(tickets.c.asset, "asset"),
    _Read(tickets.c.building, "building"),
    _Read(tickets.c.kind, "kind"),
    _Read(tickets.c.level, "level", _level),
    _Read(tickets.c.state, "state", _ticket_state),
    _Read(tickets.c.title, "title"),
    _Read(tickets.c.created_at, "created_at", _aware),
    _Read(tickets.c.updated_at, "updated_at", _aware),
    _Read(tickets.c.ack_due, "deadlines.acknowledge", _maybe_utc),
    _Read(tickets.c.on_site_due, "deadlines.on_site", _maybe_utc),
    _Read(tickets.c.fixed_due, "deadlines.fixed", _maybe_utc),
    _Read(tickets.c.assignee, "assignee"),
    _Read(tickets.c.acknowledged_at, "acknowledged_at", _maybe_utc),
    _Read(tickets.c.on_site_at, "on_site_at", _maybe_utc),
    _Read(tickets.c.resolved_at, "resolved_at", _maybe_utc),
    _Read(tickets.c.source, "source"),
    _Read(tickets.c.unit, "unit"),
    _Read(tickets.c.category, "category"),
    _Read(tickets.c.description, "description", lambda text: text or ""),
    _Read(tickets.c.photo_urls, "photo_urls", _photo_urls),
    _Read(tickets.c.location, "location"),
    _Read(tickets.c.progress_percent, "progress_percent"),
    _Read(tickets.c.eta, "eta", _maybe_utc),
    _Read(tickets.c.closed_at, "closed_at", _maybe_utc),
    _Read(tickets.c.planned_at, "planned_at", _maybe_utc),
    _Read(tickets.c.company, "company"),
    _Read(tickets.c.arrival, "arrival"),
    _Read(tickets.c.cost, "cost"),
)
"""Every column a ticket is read from, once: the query's columns and the row mapping both come from here."""

_TICKET_COLUMNS = tuple(read.column for read in _TICKET_SPEC)
_TICKET_PK = next(i for i, read in enumerate(_TICKET_SPEC) if read.field == "id")


def _mapping_source(spec: tuple[_Read, ...]) -> str:
    """The source of ``ticket_from_row``, written from the spec: a page maps up to 1,000 rows, and a function
    that unpacks the row once and converts each value in place costs a third of a generic loop over the spec
    (no dict, no call for a time that is ``None``)."""
    names = [f"c{i}" for i in range(len(spec))]

    def value(i: int, read: _Read) -> str:
        if read.convert is None:
            return names[i]
        if read.convert is _maybe_utc:
            return f"None if {names[i]} is None else _utc({names[i]})"
        return f"_convert{i}({names[i]})"

    plain = [f"{r.field}={value(i, r)}" for i, r in enumerate(spec) if "." not in r.field]
    deadlines = [f"{r.field.split('.', 1)[1]}={value(i, r)}" for i, r in enumerate(spec) if "." in r.field]
    return (
        "def ticket_from_row(row, alert_ids, timeline=()):\n"
        f"    ({', '.join(names)},) = row[:{len(spec)}]\n"
        f"    return Ticket({', '.join(plain)}, deadlines=Deadlines({', '.join(deadlines)}),"
        " alert_ids=alert_ids, timeline=timeline)\n"
    )


def _mapping(spec: tuple[_Read, ...]) -> Callable[..., Ticket]:
    namespace: dict[str, Any] = {"Ticket": Ticket, "Deadlines": Deadlines, "_utc": _utc}
    namespace.update({f"_convert{i}": r.convert for i, r in enumerate(spec) if r.convert is not None})
    exec(compile(_mapping_source(spec), "<_TICKET_SPEC>", "exec"), namespace)
    function: Callable[..., Ticket] = namespace["ticket_from_row"]
    return function


_ticket_from_row = _mapping(_TICKET_SPEC)


def ticket_from_row(row: Any, alert_ids: tuple[str, ...], timeline: tuple[TicketEvent, ...] = ()) -> Ticket:
    """A ticket from a row of ``select(*_TICKET_COLUMNS)`` (its first columns: mapped as ``_TICKET_SPEC``
    says, by a function generated from it)."""
    return _ticket_from_row(row, alert_ids, timeline)


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


def _with_alert_ids(rows: Iterable[Any]) -> list[tuple[Any, tuple[str, ...]]]:
    """Each ticket's row with its alert ids, from rows of one ticket per alert (the alert id last)."""
    out = []
    for _, group in groupby(rows, key=itemgetter(_TICKET_PK)):
        links = list(group)
        out.append((links[0], tuple(alert_ref(r[-1]) for r in links if r[-1] is not None)))
    return out


def list_tickets(
    conn: Connection,
    *,
    site: str | tuple[str, ...] | None,
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
    query = select(tickets.c.id, tickets.c.created_at)
    if isinstance(site, str):
        query = query.where(tickets.c.site == site)
    elif site is not None:  # the sites a token is limited to
        query = query.where(tickets.c.site.in_(site))
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
    # One statement: the page's ids over the list's index, then their columns and alert ids (one row per link).
    page = query.limit(limit + 1).subquery("page")
    rows = conn.execute(
        select(*_TICKET_COLUMNS, ticket_alerts.c.alert_id)
        .select_from(
            page.join(tickets, tickets.c.id == page.c.id).outerjoin(
                ticket_alerts, ticket_alerts.c.ticket_id == page.c.id
            )
        )
        .order_by(page.c.created_at.desc(), page.c.id.desc(), ticket_alerts.c.alert_id)
    )
    linked = _with_alert_ids(rows)
    more = len(linked) > limit
    linked = linked[:limit]
    items = [_ticket_from_row(row, ids) for row, ids in linked]
    return Page(
        items=items, next=f"{_micros(items[-1].created_at)}.{linked[-1][0][_TICKET_PK]}" if more else None
    )


__all__ = [
    "alert_json",
    "get_alert",
    "get_alert_ref",
    "get_ticket",
    "list_alerts",
    "list_tickets",
    "ticket_json",
]
