"""Schema for the notifications: held and merged notifications, channel order, send leases (issue 7).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def notification_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("status", sa.String(10), nullable=False, server_default="ready"),
        sa.Column("level", sa.String(10), nullable=True),
        sa.Column("asset", sa.String(64), nullable=True),
        sa.Column("lang", sa.String(8), nullable=True),
        sa.Column("line", sa.Text, nullable=True),
        sa.Column("targets", sa.Text, nullable=True),
        sa.Column("release_at", TS, nullable=True),
        sa.Column("quiet", sa.Integer, nullable=False, server_default="0"),
        sa.Column("merged_into", sa.Integer, nullable=True),
        sa.Column("undelivered_at", TS, nullable=True),
    )


def receipt_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_until", TS, nullable=True),
    )


def upgrade() -> None:
    for column in notification_columns():
        op.add_column("notifications", column)
    for column in receipt_columns():
        op.add_column("notification_receipts", column)
    op.create_index("ix_notifications_held", "notifications", ["status", "release_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_held", table_name="notifications")
    with op.batch_alter_table("notification_receipts") as batch:
        for column in receipt_columns():
            batch.drop_column(column.name)
    with op.batch_alter_table("notifications") as batch:
        for column in notification_columns():
            batch.drop_column(column.name)
