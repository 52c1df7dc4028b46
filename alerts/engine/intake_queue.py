"""The findings queue's file and values: judgements, their encoding, an fsync'd SQLite FIFO of them.

One committed SQLite transaction (WAL, ``synchronous=FULL``) is an fsync'd, atomic append, as in
``ingest/spool.py``; rows keyed by an autoincrement id come back in the order they were queued. An entry
that cannot be committed because of a bug (not an outage) is set aside in ``findings_set_aside`` with the
error, kept for a person to look at, so that it never blocks the findings behind it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from facwatch.model import Finding, Level

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS findings_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queued_ms INTEGER NOT NULL,
    body BLOB NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS findings_set_aside (
    id INTEGER PRIMARY KEY,
    queued_ms INTEGER NOT NULL,
    body BLOB NOT NULL,
    error TEXT NOT NULL
)""",
)
_EPOCH = "epoch"
"""The lease epoch an entry was judged under (NULL: no leases). A queue file from before it gains it on open."""


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the rules concluded from one batch, to be committed to the state database."""

    findings: tuple[Finding, ...]
    event_ms: int
    """The batch's newest event time: the engine opens and resolves what held long enough up to it."""
    wall_ms: int | None
    """The wall clock when the batch arrived (tells a replay of old data from current data); None: current."""
    latest: tuple[tuple[str, int], ...] = ()
    """Per asset, the newest event time in the batch."""


@dataclass(frozen=True, slots=True)
class Late:
    """Why a judgement is committed late, and when: kept on the timeline of each ticket it touches."""

    at: datetime
    reason: str


# --- encoding (pure) ------------------------------------------------------------------------------------


def encode(judgement: Judgement) -> bytes:
    findings = [
        [
            f.site,
            f.asset,
            f.kind,
            f.ts_ms,
            f.active,
            f.level.value,
            f.summary,
            f.channel,
            f.value,
            dict(f.detail),
        ]
        for f in judgement.findings
    ]
    return orjson.dumps([findings, judgement.event_ms, judgement.wall_ms, judgement.latest])


def decode(body: bytes) -> Judgement:
    findings, event_ms, wall_ms, latest = orjson.loads(body)
    return Judgement(
        findings=tuple(
            Finding(site, asset, kind, ts, bool(active), Level(level), summary, channel, value, detail)
            for site, asset, kind, ts, active, level, summary, channel, value, detail in findings
        ),
        event_ms=int(event_ms),
        wall_ms=None if wall_ms is None else int(wall_ms),
        latest=tuple((str(a), int(t)) for a, t in latest),
    )


def merge(a: Judgement | None, b: Judgement) -> Judgement:
    """Two finding-less judgements as one: the newest times win."""
    if a is None:
        return b
    latest = dict(a.latest)
    for asset, ts in b.latest:
        latest[asset] = max(ts, latest.get(asset, ts))
    walls = [w for w in (a.wall_ms, b.wall_ms) if w is not None]
    return Judgement(
        a.findings + b.findings,
        max(a.event_ms, b.event_ms),
        max(walls) if walls else None,
        tuple(sorted(latest.items())),
    )


# --- the queue file -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One queued judgement, as stored (decoded on demand: a body that does not decode is set aside)."""

    id: int
    queued_ms: int
    body: bytes
    epoch: int | None = None
    """The lease epoch it was judged under (None: no leases, or queued by a facwatch before epochs)."""

    def judgement(self) -> Judgement:
        return decode(self.body)


def _entry(row: tuple[int, int, bytes, int | None]) -> Entry:
    i, q, b, e = row
    return Entry(int(i), int(q), bytes(b), None if e is None else int(e))


class FindingsQueue:
    """An fsync'd FIFO of judgements in one SQLite file. Thread-safe."""

    def __init__(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        columns = {str(r[1]) for r in self._conn.execute("PRAGMA table_info(findings_queue)")}
        if _EPOCH not in columns:  # a queue file written before epochs: its entries keep NULL (unknown)
            self._conn.execute(f"ALTER TABLE findings_queue ADD COLUMN {_EPOCH} INTEGER")
        self._lock = threading.Lock()
        self._count = 0
        self._oldest_ms: int | None = None
        with self._lock:
            self._recount()

    def __len__(self) -> int:
        return self._count

    @property
    def oldest_ms(self) -> int | None:
        return self._oldest_ms

    def set_aside(self) -> list[tuple[int, str]]:
        """Entries set aside (id, error), for a person to look at."""
        with self._lock:
            rows = self._conn.execute("SELECT id, error FROM findings_set_aside ORDER BY id").fetchall()
        return [(int(i), str(e)) for i, e in rows]

    def append(self, judgement: Judgement, queued_ms: int, epoch: int | None = None) -> None:
        """Queue ``judgement``, judged under lease ``epoch`` (None: no leases); durable on return."""
        body = encode(judgement)
        with self._lock:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "INSERT INTO findings_queue (queued_ms, body, epoch) VALUES (?, ?, ?)",
                    (queued_ms, body, epoch),
                )
            self._count += 1
            if self._oldest_ms is None:
                self._oldest_ms = queued_ms

    def last_id(self) -> int:
        """The id of the newest entry (0 when empty)."""
        with self._lock:
            row = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM findings_queue").fetchone()
        return int(row[0])

    def head(self, limit: int = 1) -> list[Entry]:
        """The oldest entries, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, queued_ms, body, epoch FROM findings_queue ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [_entry(row) for row in rows]

    def delete(self, entry_id: int) -> None:
        """Forget an entry (its judgement is committed)."""
        with self._lock:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("DELETE FROM findings_queue WHERE id = ?", (entry_id,))
            self._recount()

    def drop_all(self) -> int:
        """Forget every entry (judged under a lease that is lost); how many were dropped."""
        with self._lock:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                dropped = self._conn.execute("DELETE FROM findings_queue").rowcount
            self._recount()
        return int(dropped)

    def drop(self, ids: Sequence[int]) -> int:
        """Forget these entries (judged under a lease that a later owner's checkpoint supersedes)."""
        with self._lock:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                dropped = sum(
                    self._conn.execute("DELETE FROM findings_queue WHERE id = ?", (i,)).rowcount for i in ids
                )
            self._recount()
        return int(dropped)

    def put_aside(self, entry: Entry, error: str) -> None:
        """Move an entry that cannot be committed (a bug, not an outage) out of the way, with the error."""
        with self._lock:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "INSERT OR REPLACE INTO findings_set_aside (id, queued_ms, body, error) VALUES (?, ?, ?, ?)",
                    (entry.id, entry.queued_ms, entry.body, error[:2000]),
                )
                self._conn.execute("DELETE FROM findings_queue WHERE id = ?", (entry.id,))
            self._recount()

    def _recount(self) -> None:
        row = self._conn.execute("SELECT COUNT(*), MIN(queued_ms) FROM findings_queue").fetchone()
        self._count = int(row[0])
        self._oldest_ms = None if row[1] is None else int(row[1])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


__all__ = ["Entry", "FindingsQueue", "Judgement", "Late", "decode", "encode", "merge"]
