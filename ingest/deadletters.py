"""Dead letters: the messages the gateway set aside, kept in SQLite for the API (``GET /dead-letters``).

Bounded three ways as new ones arrive (Prometheus keeps the all-time counts):

- per topic (one asset's): only its newest ``max_per_topic``, so one asset's flood evicts only its own;
- by age: letters older than ``max_age_days`` (before the newest letter's time) are deleted;
- in all: only the newest ``max_rows``.

The table can live in the telemetry file or in its own file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facwatch.model import DeadLetter, DeadLetterReason, Page
from ingest.errors import BadQuery, StoreUnavailable
from ingest.sqlite_db import Database, Synchronous

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        payload BLOB NOT NULL,
        received_ms INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason)",
    "CREATE INDEX IF NOT EXISTS dead_letters_topic ON dead_letters (topic, id)",
    "CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_ms)",
)
_DAY_MS = 86_400_000
_COLUMNS = "id, topic, reason, detail, payload, received_ms"
_Rows = list[tuple[Any, ...]]


MAX_PER_TOPIC = 1_000
"""Dead letters kept per topic (one asset's): its newest; a flood evicts only its own."""


class DeadLetterStore:
    """A ``DeadLetterSink`` with a newest-first list and counts per reason. Thread-safe."""

    def __init__(
        self,
        path: Path | str,
        *,
        max_rows: int = 100_000,
        max_per_topic: int = MAX_PER_TOPIC,
        max_age_days: float = 30.0,
        synchronous: Synchronous = "FULL",
    ) -> None:
        if max_rows < 1 or max_per_topic < 1:
            raise ValueError("max_rows and max_per_topic must be at least 1")
        if max_age_days <= 0:
            raise ValueError("max_age_days must be more than 0")
        self._db = Database(path, synchronous)
        self.max_rows = max_rows
        self.max_per_topic = max_per_topic
        self.max_age_ms = int(max_age_days * _DAY_MS)
        with self._db.write() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def put(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        rows = [(dl.topic, dl.reason.value, dl.detail, dl.payload, dl.received_ms) for dl in letters]
        with self._db.write() as conn:
            conn.executemany(
                f"INSERT INTO dead_letters ({_COLUMNS.removeprefix('id, ')}) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            for topic in {dl.topic for dl in letters}:
                conn.execute(
                    "DELETE FROM dead_letters WHERE topic = ? AND id <= (SELECT id FROM dead_letters"
                    " WHERE topic = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (topic, topic, self.max_per_topic),
                )
            newest_ms = max(dl.received_ms for dl in letters)
            conn.execute("DELETE FROM dead_letters WHERE received_ms < ?", (newest_ms - self.max_age_ms,))
            conn.execute(
                "DELETE FROM dead_letters WHERE id <= (SELECT id FROM dead_letters ORDER BY id DESC"
                " LIMIT 1 OFFSET ?)",
                (self.max_rows,),
            )

    def list(
        self, limit: int = 100, cursor: str | None = None, reason: DeadLetterReason | None = None
    ) -> Page[DeadLetter]:
        """Newest first. ``cursor`` is the ``next`` of the previous page."""
        if limit < 1:
            raise BadQuery(f"limit must be at least 1, got {limit}")
        before = _parse_cursor(cursor)
        sql = f"SELECT {_COLUMNS} FROM dead_letters WHERE id < ?"
        params: list[object] = [before]
        if reason is not None:
            sql += " AND reason = ?"
            params.append(reason.value)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit + 1)
        rows = self._read(sql, params)
        items = [_letter(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items=items, next=str(items[-1].id) if more and items else None)

    def counts(self) -> dict[str, int]:
        """How many dead letters are kept, per reason (reasons with none are left out)."""
        rows = self._read("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason ORDER BY reason", [])
        return {str(reason): int(n) for reason, n in rows}

    def close(self) -> None:
        self._db.close()

    def _read(self, sql: str, params: Sequence[object]) -> _Rows:
        try:
            return self._db.reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"read from {self._db.path} failed: {exc}") from exc


def _parse_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 2**63 - 1
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
        raise BadQuery(f"bad cursor {cursor[:40]!r}")
    return int(cursor)


def _letter(row: tuple[object, ...]) -> DeadLetter:
    ident, topic, reason, detail, payload, received_ms = row
    assert isinstance(ident, int) and isinstance(received_ms, int) and isinstance(payload, bytes)
    return DeadLetter(
        topic=str(topic),
        reason=DeadLetterReason(str(reason)),
        detail=str(detail),
        payload=payload,
        received_ms=received_ms,
        id=ident,
    )
