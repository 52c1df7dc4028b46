"""The alert engine's tables in the state database (SQLAlchemy Core).

Migrations: ``facwatch/migrations/versions/0001_alerts.py`` and ``0003_engine.py`` create exactly these tables,
``0006_indexes.py`` the list indexes. Every time is stored in UTC (SQLite keeps it naive; ``utc`` puts the
zone back on read). Ids are integers here and ``A-000123`` / ``T-000045`` outside (``alert_ref``,
``ticket_ref``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
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
    select,
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
    # 0003_engine:
    Column("silenced_until", TS, nullable=True),
    Column("silence_reason", Text, nullable=True),
    Column("silenced_by", String(64), nullable=True),
    Column("suppressed_by", String(100), nullable=True),
    Column("flapping", Integer, nullable=False, server_default="0"),
    Column("late", Integer, nullable=False, server_default="0"),
    Column("predicted_at", TS, nullable=True),
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
Index("ix_alerts_asset_kind", alerts.c.site, alerts.c.asset, alerts.c.kind, alerts.c.opened_at)

# The alert list's order (firing first, worst level first, newest first) as keys that all sort descending,
# so one index serves the order and the keyset cursor (0006_indexes). The query must use these very
# expressions (``alerts.engine.store``): the databases match an expression index by its text.
FIRING_KEY_SQL = "CASE WHEN state = 'firing' THEN 1 ELSE 0 END"
LEVEL_KEY_SQL = (
    "CASE level WHEN 'red' THEN 4 WHEN 'orange' THEN 3 WHEN 'yellow' THEN 2 WHEN 'blue' THEN 1 ELSE 0 END"
)
Index(
    "ix_alerts_list", text(f"({FIRING_KEY_SQL})"), text(f"({LEVEL_KEY_SQL})"), alerts.c.opened_at, alerts.c.id
)

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
    # 0003_engine:
    Column("source", String(10), nullable=False, server_default="sensor"),
    Column("unit", String(64), nullable=True),
    Column("category", String(64), nullable=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("photo_urls", Text, nullable=False, server_default="[]"),
    Column("location", Text, nullable=True),
    Column("progress_percent", Float, nullable=True),
    Column("eta", TS, nullable=True),
    Column("closed_at", TS, nullable=True),
    Column("follow_up_due", TS, nullable=True),
    # 0013_maintenance:
    Column("planned_at", TS, nullable=True),
    Column("company", String(64), nullable=True),
    Column("arrival", String(20), nullable=True),
    # 0014_ticket_cost:
    Column("cost", Float, nullable=True),
)
Index("ix_tickets_created_at", tickets.c.created_at)
Index("ix_tickets_asset_state", tickets.c.site, tickets.c.asset, tickets.c.state)
# The ticket list's order (newest first) and its keyset cursor, without and with a state filter (0006).
Index("ix_tickets_list", tickets.c.created_at, tickets.c.id)
Index("ix_tickets_state_list", tickets.c.state, tickets.c.created_at, tickets.c.id)

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

pending_findings = Table(
    "pending_findings",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("asset", String(64), primary_key=True),
    Column("kind", String(100), primary_key=True),
    Column("since", TS, nullable=False),
    Column("level", String(10), nullable=False),
    Column("summary", Text, nullable=False),
    Column("channel", String(64), nullable=True),
    Column("value", Float, nullable=True),
    Column("detail", Text, nullable=False, server_default="{}"),
)
"""Findings waiting out their kind's pending period, or a replay catching up (0003_engine)."""

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
    # 0004 (issue 7): what delivery and grouping need to know of a notification.
    Column("status", String(10), nullable=False, server_default="ready"),
    # held (waiting for its group or the end of quiet hours) | ready (receipts made) | merged (into a digest)
    # | withdrawn (held, then no longer true: never sent; a maintenance window cancelled or moved meanwhile)
    Column("level", String(10), nullable=True),
    Column("asset", String(64), nullable=True),
    Column("lang", String(8), nullable=True),
    Column("line", Text, nullable=True),
    Column("targets", Text, nullable=True),
    Column("release_at", TS, nullable=True),
    Column("quiet", Integer, nullable=False, server_default="0"),
    Column("merged_into", Integer, nullable=True),
    Column("undelivered_at", TS, nullable=True),
)
Index("ix_notifications_held", notifications.c.status, notifications.c.release_at)

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
    # 0004 (issue 7): channel order (0 first) and the lease of a send in flight.
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("lease_until", TS, nullable=True),
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


def last_alert_times(
    conn: Connection, site: str, asset: str, kind: str
) -> tuple[datetime, datetime | None] | None:
    """When the last alert of ``asset`` and ``kind`` opened and cleared (None: it has not), or None: none yet."""
    row = conn.execute(
        select(alerts.c.opened_at, alerts.c.cleared_at)
        .where(alerts.c.site == site, alerts.c.asset == asset, alerts.c.kind == kind)
        .order_by(alerts.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return utc_now(row.opened_at), utc(row.cleared_at)  # opened_at is NOT NULL
