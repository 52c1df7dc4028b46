"""Schema for the alert engine: silences, owner tickets, progress, inhibition, flapping, predictions,
late (replayed) alerts, closing and follow-up, pending findings (alerts/engine/db.py, issue 6).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _alert_columns() -> tuple[sa.Column[Any], ...]:
    return (
        sa.Column("silenced_until", TS, nullable=True),
        sa.Column("silence_reason", sa.Text, nullable=True),
        sa.Column("silenced_by", sa.String(64), nullable=True),
        sa.Column("suppressed_by", sa.String(100), nullable=True),
        sa.Column("flapping", sa.Integer, nullable=False, server_default="0"),
        sa.Column("late", sa.Integer, nullable=False, server_default="0"),
        sa.Column("predicted_at", TS, nullable=True),
    )


def _ticket_columns() -> tuple[sa.Column[Any], ...]:
    return (
        sa.Column("source", sa.String(10), nullable=False, server_default="sensor"),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("photo_urls", sa.Text, nullable=False, server_default="[]"),
        sa.Column("location", sa.Text, nullable=True),
        sa.Column("progress_percent", sa.Float, nullable=True),
        sa.Column("eta", TS, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("follow_up_due", TS, nullable=True),
    )


def upgrade() -> None:
    for column in _alert_columns():
        op.add_column("alerts", column)
    for column in _ticket_columns():
        op.add_column("tickets", column)
    op.create_index("ix_alerts_asset_kind", "alerts", ["site", "asset", "kind", "opened_at"])
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_table(
        "pending_findings",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("asset", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(100), primary_key=True),
        sa.Column("since", TS, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    op.drop_table("pending_findings")
    op.drop_index("ix_tickets_created_at", table_name="tickets")
    op.drop_index("ix_alerts_asset_kind", table_name="alerts")
    with op.batch_alter_table("tickets") as batch:
        for column in _ticket_columns():
            batch.drop_column(column.name)
    with op.batch_alter_table("alerts") as batch:
        for column in _alert_columns():
            batch.drop_column(column.name)
