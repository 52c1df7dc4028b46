"""The lease epoch each detector checkpoint was written under (alerts/engine/checkpoint.py): a findings queue
left by a killed worker drops what a later owner's checkpoint supersedes (alerts/engine/intake.py, ``superseded``).
NULL: written without leases, or before this column.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detector_checkpoints") as batch:
        batch.add_column(sa.Column("epoch", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("detector_checkpoints") as batch:
        batch.drop_column("epoch")
