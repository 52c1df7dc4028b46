"""Arrival signs (alerts/engine/arrival_db.py): the sensors' signs of a person's hands on a machine, kept
so that a restart between the sign and the check-in keeps the corroboration; and a visit's ``kind``
(``maintenance`` or ``inspection``, alerts/engine/maintenance_db.py), which the owners' reports count apart.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "arrival_signs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sign", sa.String(32), nullable=False),
    )
    op.create_index("ix_arrival_signs_asset", "arrival_signs", ["site", "asset", "at"])
    with op.batch_alter_table("maintenance_visits") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="maintenance"))


def downgrade() -> None:
    with op.batch_alter_table("maintenance_visits") as batch:
        batch.drop_column("kind")
    op.drop_index("ix_arrival_signs_asset", "arrival_signs")
    op.drop_table("arrival_signs")
