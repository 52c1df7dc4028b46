"""The durable event log and its readers' cursors; the data path's shared figures; webhook secret
rollover (issue 13).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_ts", "events", ["ts"])
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "datapath_reports",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    with op.batch_alter_table("webhook_deliveries") as batch:  # event ids are the log's (64-bit)
        batch.alter_column(
            "event_id", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("previous_secret", sa.String(200), nullable=True))
        batch.add_column(sa.Column("previous_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("previous_until")
        batch.drop_column("previous_secret")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column(
            "event_id", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
    op.drop_table("datapath_reports")
    op.drop_table("event_cursors")
    op.drop_index("ix_events_ts", "events")
    op.drop_table("events")
