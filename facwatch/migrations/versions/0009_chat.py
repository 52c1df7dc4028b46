"""Owners' chat messages: their figures, and their masked text for ``chat.keep_days`` (alerts/engine/chat_db.py).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("msg_id", sa.String(200), primary_key=True),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("building", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("complaint", sa.Boolean(), nullable=False),
        sa.Column("keywords", sa.Integer(), nullable=False),
        sa.Column("asset_kind", sa.String(16), nullable=True),
        sa.Column("mood", sa.String(16), nullable=False),
        sa.Column("other_building", sa.Boolean(), nullable=False),
        sa.Column("unit", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_chat_messages_site_at", "chat_messages", ["site", "at"])


def downgrade() -> None:
    op.drop_index("ix_chat_messages_site_at", "chat_messages")
    op.drop_table("chat_messages")
