"""The alert engine's tables in the state database (SQLAlchemy Core).

Migration: ``facwatch/migrations/versions/0001_alerts.py`` creates exactly these tables. Every time is
stored in UTC (SQLite keeps it naive; ``utc`` puts the zone back on read). Ids are integers here and
``A-000123`` / ``T-000045`` outside (``alert_ref``, ``ticket_ref``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    CursorResult,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

TS = DateTime(timezone=True)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("asset", String(64), nullable=False),
    Column("building", String(64), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("level", String(10), nullable=False),
    Column("state", String(10), nullable=False),
    Column("summary", Text, nullable=False),
    Column("opened_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("cleared_at", TS, nullable=True),
    Column("resolved_at", TS, nullable=True),
    Column("acknowledged_at", TS, nullable=True),
    Column("acknowledged_by", String(64), nullable=True),
    Column("count", Integer, nullable=False),
    Column("value", Float, nullable=True),
)
# One firing alert per (site, asset, kind): the database keeps the promise even across processes.
Index(
    "uq_alerts_firing",
    alerts.c.site,
    alerts.c.asset,
    alerts.c.kind,
    unique=True,
    sqlite_where=text("state = 'firing'"),
    postgresql_where=text("state = 'firing'"),
)
Index("ix_alerts_opened_at", alerts.c.opened_at)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("asset", String(64), nullable=False),
    Column("building", String(64), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("level", String(10), nullable=False),
    Column("state", String(20), nullable=False),
    Column("title", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("assignee", String(64), nullable=True),
    Column("acknowledged_at", TS, nullable=True),
    Column("on_site_at", TS, nullable=True),
    Column("resolved_at", TS, nullable=True),
    Column("ack_due", TS, nullable=True),
    Column("on_site_due", TS, nullable=True),
    Column("fixed_due", TS, nullable=True),
    Column("escalation_step", Integer, nullable=False),
)
Index("ix_tickets_asset_state", tickets.c.site, tickets.c.asset, tickets.c.state)

ticket_alerts = Table(
    "ticket_alerts",
    metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id"), primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), primary_key=True),
    UniqueConstraint("alert_id", name="uq_ticket_alerts_alert"),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False),
    Column("ts", TS, nullable=False),
    Column("action", String(40), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("note", Text, nullable=False),
)
Index("ix_ticket_events_ticket", ticket_events.c.ticket_id, ticket_events.c.id)

sla_clocks = Table(
    "sla_clocks",
    metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id"), primary_key=True),
    Column("clock", String(20), primary_key=True),
    Column("due_at", TS, nullable=False),
    Column("next_fire_at", TS, nullable=False),
    Column("fired", Integer, nullable=False),
    Column("stopped_at", TS, nullable=True),
)
Index("ix_sla_clocks_next", sla_clocks.c.stopped_at, sla_clocks.c.next_fire_at)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("site", String(64), nullable=False),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=True),
    Column("audience", String(20), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", TS, nullable=False),
)

notification_receipts = Table(
    "notification_receipts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("notification_id", Integer, ForeignKey("notifications.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", TS, nullable=False),
    Column("sent_at", TS, nullable=True),
    Column("error", Text, nullable=True),
    Column("updated_at", TS, nullable=False),
)
Index("ix_receipts_due", notification_receipts.c.status, notification_receipts.c.next_attempt_at)


def utc(when: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite hands back naive ones)."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def utc_now(when: datetime) -> datetime:
    """``now`` as given by a caller, in UTC, ready to store or compare; naive values are taken as UTC."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def alert_ref(pk: int) -> str:
    return f"A-{pk:06d}"


def ticket_ref(pk: int) -> str:
    return f"T-{pk:06d}"


def parse_ref(ref: str, prefix: str) -> int | None:
    head, _, digits = ref.partition("-")
    if head != prefix or not digits.isdigit():
        return None
    return int(digits)


def new_pk(result: CursorResult[Any]) -> int:
    """The integer primary key of a single-row insert."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise RuntimeError("the database returned no primary key")
    return int(key[0])
