"""The ``chat_messages`` table (migrations 0009, 0018): one row per message, keyed by site and ``msg_id``.

No column names or identifies the sender: the ladder needs what was said in a group, never by whom.
``text`` (masked on arrival) is set to NULL after ``chat.keep_days``; the figures stay. ``judged_at`` is NULL
until the site's owner has judged the message (``ChatService``): the owner's catch-up reads the messages not
judged yet, a page at a time in event-time order (``unjudged``), and marks each once (``mark_judged``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
    update,
)

metadata = MetaData()

chat_messages = Table(
    "chat_messages",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("msg_id", String(200), primary_key=True),
    Column("group_id", String(64), nullable=False),
    Column("building", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("text", Text, nullable=True),
    Column("complaint", Boolean, nullable=False),
    Column("keywords", Integer, nullable=False),
    Column("asset_kind", String(16), nullable=True),
    Column("mood", String(16), nullable=False),
    Column("other_building", Boolean, nullable=False),
    Column("unit", Integer, nullable=True),
    Column("ticket_id", String(32), nullable=True),
    Column("judged_at", DateTime(timezone=True), nullable=True),
)
Index("ix_chat_messages_site_at", chat_messages.c.site, chat_messages.c.at)
_unjudged = text("judged_at IS NULL")
Index(
    "ix_chat_messages_unjudged",
    chat_messages.c.site,
    chat_messages.c.at,
    chat_messages.c.msg_id,
    postgresql_where=_unjudged,
    sqlite_where=_unjudged,
)


@dataclass(frozen=True, slots=True)
class Unjudged:
    """A kept message the site's owner has still to judge."""

    msg_id: str
    at: datetime
    text: str | None


def unjudged(conn: Connection, site: str, since: datetime, limit: int) -> list[Unjudged]:
    """The site's messages not judged yet whose event time is ``since`` or later, the first ``limit`` in
    event-time order."""
    m = chat_messages
    rows = conn.execute(
        select(m.c.msg_id, m.c.at, m.c.text)
        .where(m.c.site == site, m.c.judged_at.is_(None), m.c.at >= since)
        .order_by(m.c.at, m.c.msg_id)
        .limit(limit)
    )
    return [Unjudged(row.msg_id, row.at, row.text) for row in rows]


def judged(conn: Connection, site: str, msg_id: str) -> bool:
    """Whether the message has been judged (a message not kept counts as judged: there is nothing to do)."""
    m = chat_messages
    row = conn.execute(select(m.c.judged_at).where(m.c.site == site, m.c.msg_id == msg_id)).first()
    return row is None or row.judged_at is not None


def mark_judged(conn: Connection, site: str, msg_id: str, now: datetime) -> bool:
    """Mark the message judged at ``now`` unless it is already: True when this call marked it (of two
    processes judging it at once, one only)."""
    m = chat_messages
    done = conn.execute(
        update(m).where(m.c.site == site, m.c.msg_id == msg_id, m.c.judged_at.is_(None)).values(judged_at=now)
    )
    return int(done.rowcount or 0) == 1
