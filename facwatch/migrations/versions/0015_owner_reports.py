"""The owners' report page: reports, their photos, and the points ledger (alerts/engine/owner_db.py).

Revision ID: 0015
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "owner_reports",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("building", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("asset", sa.String(64), nullable=True),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("location", sa.String(200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("device_key", sa.String(64), nullable=False),
        sa.Column("phone_hash", sa.String(64), nullable=True),
        sa.Column("phone_masked", sa.String(32), nullable=True),
        sa.Column("location_consent", sa.Boolean(), nullable=False),
        sa.Column("duplicate_of", sa.String(40), nullable=True),
        sa.Column("confirmed_at", TS, nullable=True),
        sa.Column("confirmed_by", sa.String(64), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=True),
        sa.Column("notify_url", sa.Text(), nullable=True),
        sa.Column("told_state", sa.String(16), nullable=True),
    )
    op.create_index("ix_owner_reports_same", "owner_reports", ["site", "building", "category"])
    op.create_index("ix_owner_reports_device", "owner_reports", ["device_key", "created_at"])
    op.create_index("ix_owner_reports_phone", "owner_reports", ["phone_hash", "created_at"])
    op.create_index("ix_owner_reports_ticket", "owner_reports", ["ticket_id"])
    op.create_table(
        "owner_photos",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("report_id", sa.String(40), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("device_key", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("file", sa.String(100), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("location_kept", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_owner_photos_device", "owner_photos", ["device_key", "created_at"])
    op.create_index("ix_owner_photos_report", "owner_photos", ["report_id"])
    op.create_table(
        "points_ledger",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("report_id", sa.String(40), nullable=True, unique=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_points_ledger_holder", "points_ledger", ["site", "holder"])


def downgrade() -> None:
    op.drop_index("ix_points_ledger_holder", "points_ledger")
    op.drop_table("points_ledger")
    op.drop_index("ix_owner_photos_report", "owner_photos")
    op.drop_index("ix_owner_photos_device", "owner_photos")
    op.drop_table("owner_photos")
    for name in ("ix_owner_reports_ticket", "ix_owner_reports_phone", "ix_owner_reports_device"):
        op.drop_index(name, "owner_reports")
    op.drop_index("ix_owner_reports_same", "owner_reports")
    op.drop_table("owner_reports")
