"""Maintenance: planned windows from the API, and recorded visits (alerts/engine/maintenance_db.py);
tickets get ``planned_at`` (non-urgent work created at night waits for day hours), ``company`` (the
maintenance company it was dispatched to) and ``arrival`` (how arrival was shown: ``code`` or
``corroborated``).

Revision ID: 0013
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(64), nullable=False),
        sa.Column("start_at", TS, nullable=False),
        sa.Column("end_at", TS, nullable=False),
        sa.Column("company", sa.String(64), nullable=True),
        sa.Column("what", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
    )
    op.create_index("ix_maintenance_windows_asset", "maintenance_windows", ["site", "asset", "start_at"])
    op.create_table(
        "maintenance_visits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(64), nullable=False),
        sa.Column("building", sa.String(64), nullable=False),
        sa.Column("company", sa.String(64), nullable=True),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("photos", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_maintenance_visits_asset", "maintenance_visits", ["site", "asset", "at"])
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("planned_at", TS, nullable=True))
        batch.add_column(sa.Column("company", sa.String(64), nullable=True))
        batch.add_column(sa.Column("arrival", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("arrival")
        batch.drop_column("company")
        batch.drop_column("planned_at")
    op.drop_index("ix_maintenance_visits_asset", "maintenance_visits")
    op.drop_table("maintenance_visits")
    op.drop_index("ix_maintenance_windows_asset", "maintenance_windows")
    op.drop_table("maintenance_windows")
