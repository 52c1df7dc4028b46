"""The state database: one SQLAlchemy engine (SQLite by default, PostgreSQL in production) and its migrations."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text

from facwatch.files import private_file


def open_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys, so threads can share it."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_file(Path(path))  # it holds apprise URLs and webhook secrets
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


MIGRATION_LOCK = 0x6677_6D69_6772_0001
"""Key of the PostgreSQL advisory lock that processes migrating one database take in turn."""


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent).

    On PostgreSQL the upgrade runs in one transaction that first takes an advisory lock of a fixed key
    (``pg_advisory_xact_lock``, released at commit): processes started together on an empty database (API
    replicas and workers in compose) migrate one after another, and each after the first finds the schema
    at the newest revision and does nothing. SQLite: unchanged."""
    location = str(resources.files("facwatch").joinpath("migrations"))
    cfg = Config()
    cfg.set_main_option("script_location", location)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
