"""Site leases and worker heartbeats: workers share the sites through leases in PostgreSQL (issue 14).

``site_leases``: who owns a site until when, and the fencing epoch that each taking of the lease bumps
(``alerts/engine/leases.py``). ``workers``: each worker's last heartbeat, so that a worker's fair share is
ceil(sites / live workers). Created on SQLite too, where they stay empty (one process owns every site).

Revision ID: 0012
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_leases",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_table("site_leases")
