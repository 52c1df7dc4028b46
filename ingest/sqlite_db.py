"""SQLite plumbing shared by the stores: WAL connections, one writer under a lock, a reader per thread."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from ingest.errors import StoreUnavailable

Synchronous = Literal["OFF", "NORMAL", "FULL"]

PRIVATE = 0o600
"""Telemetry, the spool and the dead letters hold what devices sent: readable by their owner only. SQLite gives
the ``-wal`` and ``-shm`` files the main file's mode, so setting it before SQLite opens the file is enough."""


def _private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)


def connect(path: Path, synchronous: Synchronous = "FULL") -> sqlite3.Connection:
    """A connection in WAL mode. ``FULL`` makes every commit survive a power cut, not only a crash."""
    try:
        if str(path) != ":memory:":
            _private(path)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
    except (sqlite3.Error, OSError) as exc:
        raise StoreUnavailable(f"cannot open {path}: {exc}") from exc
    return conn


class Database:
    """One writer connection guarded by a lock; readers get their own connection per thread."""

    def __init__(self, path: Path | str, synchronous: Synchronous = "FULL") -> None:
        self.path = Path(path)
        self._synchronous: Synchronous = synchronous
        self._writer = connect(self.path, synchronous)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A transaction on the writer connection, committed when the block ends without error."""
        with self._write_lock:
            if self._closed:
                raise StoreUnavailable(f"{self.path} is closed")
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                try:
                    yield self._writer
                except BaseException:
                    self._writer.execute("ROLLBACK")
                    raise
                self._writer.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"write to {self.path} failed: {exc}") from exc

    def reader(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable(f"{self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self._synchronous)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close every connection."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            with self._readers_lock:
                for conn in self._readers:
                    conn.close()
                self._readers.clear()
            try:
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._writer.close()
