"""The embedded telemetry store: readings in one SQLite file (the default, and ``facwatch demo``).

Schema: ``series`` maps (site, asset, channel) to a small integer; ``points`` holds (series_id, ts_ms, value)
keyed by (series_id, ts_ms) WITHOUT ROWID, so a series' points sit together in time order. A reading written
twice (an MQTT redelivery) replaces itself: writes are idempotent. ``write`` commits before it returns.

History queries (``facwatch.model.TelemetryQuery``) take a half-open range ``[start_ms, end_ms)``. With
``every_ms`` they aggregate over windows aligned to multiples of ``every_ms`` since the epoch; each point's
``ts_ms`` is its window's start.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facwatch.model import Point, Reading, TelemetryQuery
from ingest.errors import StoreUnavailable
from ingest.sqlite_db import Database, Synchronous

_SQL_FN = {  # every fn of HISTORY_FUNCTIONS but ``last``, which has its own statement
    "mean": "AVG(value)",
    "min": "MIN(value)",
    "max": "MAX(value)",
    "count": "COUNT(*)",
    "sum": "SUM(value)",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    asset TEXT NOT NULL,
    channel TEXT NOT NULL,
    UNIQUE (site, asset, channel)
);
CREATE TABLE IF NOT EXISTS points (
    series_id INTEGER NOT NULL REFERENCES series (id),
    ts_ms INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (series_id, ts_ms)
) WITHOUT ROWID;
"""

_DAY_MS = 24 * 3600 * 1000


class SqliteStore:
    """A ``ReadingSink`` and ``TelemetryReader`` on one SQLite file. Thread-safe."""

    def __init__(
        self, path: Path | str, *, retention_days: float | None = None, synchronous: Synchronous = "FULL"
    ) -> None:
        self._db = Database(path, synchronous)
        self.retention_days = retention_days
        with self._db.write() as conn:
            _create(conn)
        self._series: dict[tuple[str, str, str], int] = {}

    @property
    def path(self) -> Path:
        return self._db.path

    def write(self, readings: Sequence[Reading]) -> None:
        """Store readings durably (committed on return). The same (series, ts) again replaces the value."""
        if not readings:
            return
        new: dict[tuple[str, str, str], int] = {}
        cached = self._series.get
        with self._db.write() as conn:
            rows: list[tuple[int, int, float]] = []
            append = rows.append
            for r in readings:  # hot path: a dict look-up per reading, the database only for a new series
                series = cached((r.site, r.asset, r.channel))
                if series is None:
                    series = self._series_id(conn, new, r.site, r.asset, r.channel)
                append((series, r.ts_ms, r.value))
            conn.executemany("INSERT OR REPLACE INTO points (series_id, ts_ms, value) VALUES (?, ?, ?)", rows)
        self._series.update(new)  # only once committed: a rolled-back series id must not be cached

    def query(self, query: TelemetryQuery) -> list[Point]:
        """Raw points, or with ``every_ms`` one aggregate (``fn``) per non-empty window, oldest first."""
        series = self._lookup(query.site, query.asset, query.channel)
        if series is None or query.empty:
            return []
        bounds = (series, query.start_ms, query.end_ms)
        if query.every_ms is None:
            sql = (
                "SELECT ts_ms, value FROM points"
                " WHERE series_id = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms LIMIT ?"
            )
            rows = self._read(sql, (*bounds, -1 if query.limit is None else query.limit))
        elif query.fn == "last":
            # SQLite takes the bare column `value` from the row that holds MAX(ts_ms).
            sql = (
                "SELECT (ts_ms - (ts_ms % ?)) AS w, value, MAX(ts_ms) FROM points"
                " WHERE series_id = ? AND ts_ms >= ? AND ts_ms < ? GROUP BY w ORDER BY w"
            )
            rows = [(w, v) for w, v, _ in self._read(sql, (query.every_ms, *bounds))]
        else:
            sql = (
                f"SELECT (ts_ms - (ts_ms % ?)) AS w, {_SQL_FN[query.fn]} FROM points"
                " WHERE series_id = ? AND ts_ms >= ? AND ts_ms < ? GROUP BY w ORDER BY w"
            )
            rows = self._read(sql, (query.every_ms, *bounds))
        if query.limit is not None:
            rows = rows[: query.limit]
        return [Point(ts_ms=int(ts), channel=query.channel, value=float(value)) for ts, value in rows]

    def latest(self, site: str, asset: str) -> dict[str, Point]:
        """The newest point of every channel of an asset."""
        sql = (
            "SELECT s.channel, p.ts_ms, p.value FROM series s JOIN points p ON p.series_id = s.id"
            " WHERE s.site = ? AND s.asset = ?"
            " AND p.ts_ms = (SELECT MAX(ts_ms) FROM points WHERE series_id = s.id)"
        )
        return {
            ch: Point(ts_ms=int(ts), channel=ch, value=float(v))
            for ch, ts, v in self._read(sql, (site, asset))
        }

    def channels(self, site: str, asset: str) -> list[str]:
        sql = "SELECT channel FROM series WHERE site = ? AND asset = ? ORDER BY channel"
        return [str(row[0]) for row in self._read(sql, (site, asset))]

    def prune(self, before_ms: int) -> int:
        """Delete points older than ``before_ms``; returns how many."""
        with self._db.write() as conn:
            return conn.execute("DELETE FROM points WHERE ts_ms < ?", (before_ms,)).rowcount

    def apply_retention(self, now_ms: int) -> int:
        """Prune by ``retention_days`` (nothing when it is None)."""
        if self.retention_days is None:
            return 0
        return self.prune(now_ms - int(self.retention_days * _DAY_MS))

    def close(self) -> None:
        self._db.close()

    # --- internals ---------------------------------------------------------------------------------

    def _series_id(
        self,
        conn: sqlite3.Connection,
        new: dict[tuple[str, str, str], int],
        site: str,
        asset: str,
        channel: str,
    ) -> int:
        key = (site, asset, channel)
        cached = self._series.get(key) or new.get(key)
        if cached is not None:
            return cached
        conn.execute("INSERT OR IGNORE INTO series (site, asset, channel) VALUES (?, ?, ?)", key)
        row = conn.execute(
            "SELECT id FROM series WHERE site = ? AND asset = ? AND channel = ?", key
        ).fetchone()
        new[key] = int(row[0])
        return new[key]

    def _lookup(self, site: str, asset: str, channel: str) -> int | None:
        key = (site, asset, channel)
        if key in self._series:
            return self._series[key]
        rows = self._read("SELECT id FROM series WHERE site = ? AND asset = ? AND channel = ?", key)
        return int(rows[0][0]) if rows else None

    def _read(self, sql: str, params: Sequence[object]) -> list[Any]:
        try:
            return self._db.reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"read from {self.path} failed: {exc}") from exc


def _create(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
