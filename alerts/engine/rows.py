"""Alerts and tickets as the state database holds them: one column spec each (``alerts.engine.rowspec``), from
which both the queries' columns and the row mappings of ``alerts.engine.store`` are made.

The conversions here run for every row of a page (up to 1,000 rows of 26 fields), so they are written for
speed: dictionary lookups for enums, ``datetime.combine`` for putting the UTC zone on SQLite's naive times.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, String, cast, func, select

from alerts.engine.db import alert_ref, alerts, ticket_alerts, ticket_ref, tickets
from alerts.engine.rowspec import Read, RowSpec
from facwatch.model import Alert, AlertState, Deadlines, Level, Ticket, TicketState


def utc(when: datetime) -> datetime:
    """``alerts.engine.db.utc`` for a time known to be there, at a fifth of the cost (``datetime.replace``
    with a keyword is slow, and a page maps up to 8 times per row)."""
    if when.tzinfo is None:
        return datetime.combine(when, when.time(), UTC)
    return when if when.tzinfo is UTC else when.astimezone(UTC)


def aware(when: datetime | None) -> datetime:
    """A required time, in UTC."""
    if when is None:
        raise ValueError("a required time is missing")
    return utc(when)


_LEVELS = {level.value: level for level in Level}
_ALERT_STATES = {state.value: state for state in AlertState}
_TICKET_STATES = {state.value: state for state in TicketState}


def level(value: str) -> Level:
    return _LEVELS.get(value) or Level(value)


def alert_state(value: str) -> AlertState:
    return _ALERT_STATES.get(value) or AlertState(value)


def ticket_state(value: str) -> TicketState:
    return _TICKET_STATES.get(value) or TicketState(value)


def _zero_if_none(value: int | None) -> int:
    return value or 0


def _text(value: str | None) -> str:
    return value or ""


def _photo_urls(value: str | None) -> tuple[str, ...]:
    return () if not value or value == "[]" else tuple(json.loads(value))


def _alert_refs(text: str | None) -> tuple[str, ...]:
    """A ticket's alert ids from their aggregate (``1,7,3``; no order promised by the databases): ascending."""
    if not text:
        return ()
    if "," not in text:
        return (alert_ref(int(text)),)
    return tuple(alert_ref(pk) for pk in sorted(int(part) for part in text.split(",")))


ALERT_IDS_OF_TICKET: ColumnElement[str] = (
    select(func.aggregate_strings(cast(ticket_alerts.c.alert_id, String), ","))
    .where(ticket_alerts.c.ticket_id == tickets.c.id)
    .scalar_subquery()
    .label("alert_ids")
)
"""The ticket's alert ids in one column (``group_concat`` on SQLite, ``string_agg`` on PostgreSQL): a
correlated subquery over the primary key of ``ticket_alerts``, run for the rows a page returns."""


ALERT = RowSpec(
    Alert,
    (
        Read(alerts.c.id, "id", alert_ref),
        Read(alerts.c.site, "site"),
        Read(alerts.c.asset, "asset"),
        Read(alerts.c.building, "building"),
        Read(alerts.c.kind, "kind"),
        Read(alerts.c.level, "level", level),
        Read(alerts.c.state, "state", alert_state),
        Read(alerts.c.summary, "summary"),
        Read(alerts.c.opened_at, "opened_at", aware),
        Read(alerts.c.updated_at, "updated_at", aware),
        Read(ticket_alerts.c.ticket_id, "ticket_id", ticket_ref, none_is_none=True),
        Read(alerts.c.resolved_at, "resolved_at", utc, none_is_none=True),
        Read(alerts.c.acknowledged_at, "acknowledged_at", utc, none_is_none=True),
        Read(alerts.c.acknowledged_by, "acknowledged_by"),
        Read(alerts.c.count, "count"),
        Read(tickets.c.escalation_step, "escalation_step", _zero_if_none),
        Read(alerts.c.silenced_until, "silenced_until", utc, none_is_none=True),
        Read(alerts.c.silence_reason, "silence_reason"),
        Read(alerts.c.suppressed_by, "suppressed_by"),
        Read(alerts.c.flapping, "flapping", bool),
        Read(alerts.c.late, "late", bool),
        Read(alerts.c.predicted_at, "predicted_at", utc, none_is_none=True),
    ),
)
"""Every column an alert is read from, once (``ticket_id`` and ``escalation_step`` from its ticket: select
them over ``alerts`` outer-joined with ``ticket_alerts`` and ``tickets``)."""

TICKET = RowSpec(
    Ticket,
    (
        Read(tickets.c.id, "id", ticket_ref),
        Read(tickets.c.site, "site"),
        Read(tickets.c.asset, "asset"),
        Read(tickets.c.building, "building"),
        Read(tickets.c.kind, "kind"),
        Read(tickets.c.level, "level", level),
        Read(tickets.c.state, "state", ticket_state),
        Read(tickets.c.title, "title"),
        Read(tickets.c.created_at, "created_at", aware),
        Read(tickets.c.updated_at, "updated_at", aware),
        Read(tickets.c.ack_due, "deadlines.acknowledge", utc, none_is_none=True),
        Read(tickets.c.on_site_due, "deadlines.on_site", utc, none_is_none=True),
        Read(tickets.c.fixed_due, "deadlines.fixed", utc, none_is_none=True),
        Read(ALERT_IDS_OF_TICKET, "alert_ids", _alert_refs),
        Read(tickets.c.assignee, "assignee"),
        Read(tickets.c.acknowledged_at, "acknowledged_at", utc, none_is_none=True),
        Read(tickets.c.on_site_at, "on_site_at", utc, none_is_none=True),
        Read(tickets.c.resolved_at, "resolved_at", utc, none_is_none=True),
        Read(tickets.c.source, "source"),
        Read(tickets.c.unit, "unit"),
        Read(tickets.c.category, "category"),
        Read(tickets.c.description, "description", _text),
        Read(tickets.c.photo_urls, "photo_urls", _photo_urls),
        Read(tickets.c.location, "location"),
        Read(tickets.c.progress_percent, "progress_percent"),
        Read(tickets.c.eta, "eta", utc, none_is_none=True),
        Read(tickets.c.closed_at, "closed_at", utc, none_is_none=True),
        Read(tickets.c.planned_at, "planned_at", utc, none_is_none=True),
        Read(tickets.c.company, "company"),
        Read(tickets.c.arrival, "arrival"),
        Read(tickets.c.cost, "cost"),
    ),
    nested={"deadlines": Deadlines},
    given=("timeline",),
)
"""Every column a ticket is read from, once, its alert ids included (select them from ``tickets``); the
timeline is read apart, for one ticket at a time."""

alert_from_row = ALERT.mapper()
"""``alert_from_row(row)``: an alert from a row of ``select(*ALERT.columns)``."""

ticket_from_row = TICKET.mapper()
"""``ticket_from_row(row, timeline)``: a ticket from a row of ``select(*TICKET.columns)``."""
