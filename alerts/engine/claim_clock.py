"""The clock that claims on rows are measured on, when several processes share one state database.

A claim (a notification receipt's send lease, a webhook delivery's attempt) is written by one worker and
found expired, or still held, by another. On PostgreSQL (several workers, perhaps on several machines) both
sides read the database's clock (``clock_timestamp()`` in the statement), so workers whose own clocks
disagree still agree on when a claim ends: a worker whose clock runs ahead cannot take a row that another is
still sending. On SQLite (one process) the caller's ``now`` serves, as everywhere else, so tests and
simulations that pass ``now`` in keep doing so.

Use the same function for writing a claim's end and for comparing with it: both sides on one clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, DateTime, func

from alerts.engine.db import utc_now

When = ColumnElement[datetime] | datetime
"""A time for a statement: the database's clock (an SQL expression) or the caller's (a value)."""


def on_database_clock(dialect: str) -> bool:
    """Whether claims on this database are measured on its own clock (PostgreSQL) or the caller's (SQLite)."""
    return dialect == "postgresql"


def claim_now(dialect: str, now: datetime) -> When:
    """The current time of claims: ``clock_timestamp()`` on PostgreSQL, ``now`` (in UTC) on SQLite."""
    if on_database_clock(dialect):
        return func.clock_timestamp(type_=DateTime(timezone=True))
    return utc_now(now)


def claim_after(dialect: str, now: datetime, seconds: float) -> When:
    """``seconds`` after ``claim_now``: when a claim made now ends, or when a retry is due."""
    delta = timedelta(seconds=seconds)
    if on_database_clock(dialect):
        return func.clock_timestamp(type_=DateTime(timezone=True)) + delta
    return utc_now(now) + delta


__all__ = ["When", "claim_after", "claim_now", "on_database_clock"]
