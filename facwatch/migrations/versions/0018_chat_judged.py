"""When each owners' chat message was judged (alerts/engine/chat.py): NULL until the site's owner has judged it,
so a message kept while nobody ran the site is judged when an owner comes, however long after, and once.

Messages kept before this revision are taken as judged, except those of the last minute: the previous
catch-up judged what it saw within a minute of the newest message (judging a month of history again would
replay old rungs of the ladder); those of the last minute it would have judged again after a restart anyway.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_UNJUDGED = "ix_chat_messages_unjudged"


def upgrade() -> None:
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("judged_at", sa.DateTime(timezone=True), nullable=True))
    messages = sa.table(
        "chat_messages",
        sa.column("received_at", sa.DateTime(timezone=True)),
        sa.column("judged_at", sa.DateTime(timezone=True)),
    )
    cut = datetime.now(UTC) - timedelta(minutes=1)
    op.execute(messages.update().where(messages.c.received_at < cut).values(judged_at=messages.c.received_at))
    unjudged = sa.text("judged_at IS NULL")
    op.create_index(
        _UNJUDGED,
        "chat_messages",
        ["site", "at", "msg_id"],
        postgresql_where=unjudged,
        sqlite_where=unjudged,
    )


def downgrade() -> None:
    op.drop_index(_UNJUDGED, "chat_messages")
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_column("judged_at")
