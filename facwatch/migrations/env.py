"""Alembic environment: the state database's schema is the union of the parts' tables.

Run through ``facwatch.state.migrate`` (which hands over a connection), or with the alembic CLI:
``alembic -c facwatch/migrations/alembic.ini upgrade head`` with ``FACWATCH_STATE__URL`` set.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from alerts.engine.db import metadata as alerts_metadata
from api.db import metadata as api_metadata

target_metadata = [alerts_metadata, api_metadata]


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("FACWATCH_STATE__URL", "sqlite:///data/state.db")
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
