"""Indexes for the alert and ticket lists' orders and keyset cursors (issue 8; declared in alerts/engine/db.py).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copies of alerts.engine.db.FIRING_KEY_SQL and LEVEL_KEY_SQL: the list query must use the same text.
FIRING_KEY_SQL = "CASE WHEN state = 'firing' THEN 1 ELSE 0 END"
LEVEL_KEY_SQL = (
    "CASE level WHEN 'red' THEN 4 WHEN 'orange' THEN 3 WHEN 'yellow' THEN 2 WHEN 'blue' THEN 1 ELSE 0 END"
)


def upgrade() -> None:
    op.create_index(
        "ix_alerts_list",
        "alerts",
        [sa.text(f"({FIRING_KEY_SQL})"), sa.text(f"({LEVEL_KEY_SQL})"), "opened_at", "id"],
    )
    op.create_index("ix_tickets_list", "tickets", ["created_at", "id"])
    op.create_index("ix_tickets_state_list", "tickets", ["state", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_state_list", table_name="tickets")
    op.drop_index("ix_tickets_list", table_name="tickets")
    op.drop_index("ix_alerts_list", table_name="alerts")
