"""The ``chat_messages`` table (migration 0009): one row per message, keyed by site and ``msg_id``.

No column names or identifies the sender: the ladder needs what was said in a group, never by whom.
``text`` (masked on arrival) is set to NULL after ``chat.keep_days``; the figures stay.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text

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
)
