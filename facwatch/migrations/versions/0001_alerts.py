"""Alert engine: alerts, tickets, their link and timeline, SLA clocks, the notification outbox (alerts/engine/db.py).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(64), nullable=False),
        sa.Column("building", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("cleared_at", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
    )
    op.create_index(
        "uq_alerts_firing",
        "alerts",
        ["site", "asset", "kind"],
        unique=True,
        sqlite_where=sa.text("state = 'firing'"),
        postgresql_where=sa.text("state = 'firing'"),
    )
    op.create_index("ix_alerts_opened_at", "alerts", ["opened_at"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(64), nullable=False),
        sa.Column("building", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("on_site_at", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("ack_due", TS, nullable=True),
        sa.Column("on_site_due", TS, nullable=True),
        sa.Column("fixed_due", TS, nullable=True),
        sa.Column("escalation_step", sa.Integer, nullable=False),
    )
    op.create_index("ix_tickets_asset_state", "tickets", ["site", "asset", "state"])
    op.create_table(
        "ticket_alerts",
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), primary_key=True),
        sa.UniqueConstraint("alert_id", name="uq_ticket_alerts_alert"),
    )
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_ticket_events_ticket", "ticket_events", ["ticket_id", "id"])
    op.create_table(
        "sla_clocks",
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("clock", sa.String(20), primary_key=True),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("next_fire_at", TS, nullable=False),
        sa.Column("fired", sa.Integer, nullable=False),
        sa.Column("stopped_at", TS, nullable=True),
    )
    op.create_index("ix_sla_clocks_next", "sla_clocks", ["stopped_at", "next_fire_at"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=True),
        sa.Column("audience", sa.String(20), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "notification_receipts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("notification_id", sa.Integer, sa.ForeignKey("notifications.id"), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_receipts_due", "notification_receipts", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_receipts_due", table_name="notification_receipts")
    op.drop_table("notification_receipts")
    op.drop_table("notifications")
    op.drop_index("ix_sla_clocks_next", table_name="sla_clocks")
    op.drop_table("sla_clocks")
    op.drop_index("ix_ticket_events_ticket", table_name="ticket_events")
    op.drop_table("ticket_events")
    op.drop_table("ticket_alerts")
    op.drop_index("ix_tickets_asset_state", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index("ix_alerts_opened_at", table_name="alerts")
    op.drop_index("uq_alerts_firing", table_name="alerts")
    op.drop_table("alerts")
