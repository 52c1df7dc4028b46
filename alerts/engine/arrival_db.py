"""Arrival signs kept in the state database (migration 0016), so that a restart between a sensor's sign and
the check-in it corroborates does not lose the corroboration.

``Signs`` (``alerts.engine.maintenance_arrival``) notices the signs in memory as readings are judged; the
engine's clock tick (every half second) drains the new ones and ``keep`` writes them here in the tick's
transaction. A check-in asks ``newest`` for its asset's newest sign: the one in memory (not written yet) or
the one stored (seen before a restart), whichever is newer. Rows older than ``KEEP`` are deleted as new ones
are written: a sign only ever matters within ``WINDOW_S`` of a check-in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, delete, insert, select
from sqlalchemy.engine import Connection

from alerts.engine.db import utc, utc_now
from alerts.engine.maintenance_arrival import WINDOW_S, Seen, Sign, Signs
from facwatch.model import ms_from_utc

metadata = MetaData()
KEEP = timedelta(days=2)

arrival_signs = Table(
    "arrival_signs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("asset", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("sign", String(32), nullable=False),
)
"""Created by facwatch/migrations/versions/0016_arrival_signs.py; ``sign`` is the ``Sign`` member's name."""


def keep(conn: Connection, site: str, fresh: Sequence[Seen]) -> None:
    """Write the signs the clock tick drained; forget the ones older than ``KEEP`` before the newest."""
    if not fresh:
        return
    conn.execute(
        insert(arrival_signs),
        [{"site": site, "asset": s.asset, "at": s.at, "sign": s.sign.name} for s in fresh],
    )
    oldest = max(s.at for s in fresh) - KEEP
    conn.execute(delete(arrival_signs).where(arrival_signs.c.site == site, arrival_signs.c.at < oldest))


def stored_newest(conn: Connection, site: str, asset: str, until: datetime) -> Seen | None:
    """The asset's newest stored sign no later than ``WINDOW_S`` after ``until``."""
    s = arrival_signs
    row = conn.execute(
        select(s.c.at, s.c.sign)
        .where(
            s.c.site == site,
            s.c.asset == asset,
            s.c.at <= utc_now(until) + timedelta(seconds=WINDOW_S),
        )
        .order_by(s.c.at.desc(), s.c.id.desc())
        .limit(1)
    ).first()
    at = None if row is None else utc(row.at)
    if row is None or at is None or row.sign not in Sign.__members__:
        return None
    return Seen(asset, ms_from_utc(at), Sign[row.sign])


def newest(conn: Connection, site: str, asset: str, signs: Signs | None, at: datetime) -> Seen | None:
    """The newest sign on ``asset`` for a check-in at ``at``: in memory or stored, whichever is newer."""
    mine = None if signs is None else signs.newest(asset)
    stored = stored_newest(conn, site, asset, at)
    if mine is None or (stored is not None and stored.ts_ms > mine.ts_ms):
        return stored
    return mine
