"""The durable spool: batches the store could not take wait on local disk and are replayed in order.

    gateway ─► SpoolingSink.write ─► store                     (spool empty, store answers)
                      └──────────► spool (fsync'd) ─► replay thread ─► store   (store down, or spool not empty)

Why SQLite and not hand-made segment files: one committed transaction (WAL, ``synchronous=FULL``) is an
fsync'd, atomic, checksummed append, and a crash mid-append leaves nothing half-written; rows keyed by an
autoincrement id replay in exactly the order they were spooled; deleting a replayed batch is one statement,
and the freed pages are reused, so no compaction of segments is needed. It is already a dependency.

Ordering per series: while the spool holds anything, new batches go behind it instead of to the store, so
a series is never written out of order (newer data first, older replayed later). The replay thread takes
the oldest batch, writes it, and deletes it only after the store accepted it (at least once; the store
writes are idempotent).

Bounded: ``max_bytes`` of spooled readings. From ``alert_ratio`` of it on, a ``datapath.spool_nearly_full``
finding is raised (and cleared once the spool is back under half of that); at the bound ``SpoolFull`` is
raised, the gateway retries without acknowledging, and the broker holds the messages (back-pressure). No
batch is ever dropped. ``Spool.full`` (a refused append, or the bound reached) is what ``/readyz`` reports.

The spool hides a store outage for a long time; the store it writes to is wrapped in ``ingest.outage``'s
``WatchedStore`` (by ``ingest.factory``), which raises ``datapath.store_unreachable`` within
``store_outage_s`` of the first failed write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import structlog

from facwatch.clock import Clock, WallClock
from facwatch.model import DATAPATH_ASSET, Finding, Level, Reading, ReadingSink, ms_from_utc
from ingest import metrics
from ingest.errors import StoreUnavailable
from ingest.sqlite_db import Database

log = structlog.get_logger("facwatch.spool")

FINDING_KIND = "datapath.spool_nearly_full"

_SCHEMA = """CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,
    readings INTEGER NOT NULL
)"""


class SpoolFull(StoreUnavailable):
    """The spool reached its size bound: nothing more can be made durable until replay frees space."""


def encode(readings: Sequence[Reading]) -> bytes:
    return orjson.dumps([(r.site, r.asset, r.channel, r.ts_ms, r.value, r.seq) for r in readings])


def decode(body: bytes) -> list[Reading]:
    return [
        Reading(site, asset, ch, ts, value, seq) for site, asset, ch, ts, value, seq in orjson.loads(body)
    ]


class Spool:
    """An fsync'd FIFO of reading batches in one SQLite file, bounded by ``max_bytes``. Thread-safe."""

    def __init__(self, path: Path | str, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._db = Database(path, "FULL")
        self._lock = threading.Lock()
        with self._db.write() as conn:
            conn.execute(_SCHEMA)
            row = conn.execute(
                "SELECT COALESCE(SUM(LENGTH(body)), 0), COUNT(*), COALESCE(SUM(readings), 0) FROM spool"
            ).fetchone()
        self._bytes, self._batches, self._readings = int(row[0]), int(row[1]), int(row[2])
        self._refused = False
        self._publish()

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def batches(self) -> int:
        return self._batches

    @property
    def readings(self) -> int:
        return self._readings

    @property
    def full(self) -> bool:
        """True from a refused append until the spool takes a batch again or replay frees space."""
        return self._refused or self._bytes >= self.max_bytes

    def append(self, readings: Sequence[Reading]) -> None:
        """Append durably (committed and fsync'd on return), or raise ``SpoolFull`` at the bound.

        A batch larger than the whole bound is still taken when the spool is empty: refusing it would
        block the intake forever.
        """
        body = encode(readings)
        with self._lock:
            if self._batches and self._bytes + len(body) > self.max_bytes:
                metrics.SPOOL_FULL.inc()
                self._refused = True
                raise SpoolFull(f"spool {self.path} is full ({self._bytes} of {self.max_bytes} bytes)")
            with self._db.write() as conn:
                conn.execute("INSERT INTO spool (body, readings) VALUES (?, ?)", (body, len(readings)))
            self._bytes += len(body)
            self._refused = False
            self._batches += 1
            self._readings += len(readings)
        metrics.SPOOLED.inc(len(readings))
        self._publish()

    def oldest(self) -> tuple[int, list[Reading]] | None:
        """The oldest batch (its id and readings), None when the spool is empty."""
        row = self._db.reader().execute("SELECT id, body FROM spool ORDER BY id LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), decode(bytes(row[1])))

    def remove(self, batch_id: int) -> None:
        with self._lock:
            with self._db.write() as conn:
                row = conn.execute(
                    "SELECT LENGTH(body), readings FROM spool WHERE id = ?", (batch_id,)
                ).fetchone()
                if row is None:
                    return
                conn.execute("DELETE FROM spool WHERE id = ?", (batch_id,))
            self._refused = False
            self._bytes -= int(row[0])
            self._batches -= 1
            self._readings -= int(row[1])
        self._publish()

    def close(self) -> None:
        self._db.close()

    def _publish(self) -> None:
        metrics.SPOOL_BYTES.set(self._bytes)
        metrics.SPOOL_BATCHES.set(self._batches)
        metrics.SPOOL_READINGS.set(self._readings)
        metrics.SPOOL_LIMIT_BYTES.set(self.max_bytes)


def fill_finding(
    raised: bool, used: int, limit: int, ratio: float, site: str, now_ms: int
) -> tuple[bool, Finding | None]:
    """Pure: whether the nearly-full finding is raised now, and the finding to emit when that changed.

    Raised at ``ratio`` of the bound, cleared below half of that (hysteresis, so a spool hovering at the
    threshold does not flap).
    """
    fill = used / limit
    if not raised and fill >= ratio:
        summary = f"telemetry spool {fill:.0%} full ({used} of {limit} bytes): the telemetry store is not taking writes"
        return True, _finding(site, now_ms, True, summary, fill)
    if raised and fill < ratio / 2:
        return False, _finding(site, now_ms, False, f"telemetry spool back to {fill:.0%}", fill)
    return raised, None


def _finding(site: str, now_ms: int, active: bool, summary: str, fill: float) -> Finding:
    return Finding(
        site=site,
        asset=DATAPATH_ASSET,
        kind=FINDING_KIND,
        ts_ms=now_ms,
        active=active,
        level=Level.ORANGE,
        summary=summary,
        value=fill,
        detail={"fill_ratio": fill},
    )


class SpoolingSink:
    """A ``ReadingSink`` that never loses a batch: the store, or else the spool; replayed in order."""

    def __init__(
        self,
        store: ReadingSink,
        spool: Spool,
        *,
        site: str,
        on_finding: Callable[[Finding], None] | None = None,
        clock: Clock | None = None,
        alert_ratio: float = 0.8,
        retry_max_s: float = 5.0,
    ) -> None:
        self._store = store
        self.spool = spool
        self._site = site
        self._on_finding = on_finding
        self._clock: Clock = clock or WallClock()
        self._alert_ratio = alert_ratio
        self._retry_max_s = retry_max_s
        self._order = threading.Lock()  # a direct write and the spool's emptiness are decided together
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._raised = False
        self._fill_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the replay thread (a spool left non-empty by the last run is replayed first)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._replay_loop, name="spool-replay", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def write(self, readings: Sequence[Reading]) -> None:
        """Durable on return: in the store, or in the spool. Raises ``SpoolFull`` only at the bound."""
        if not readings:
            return
        with self._order:
            if self.spool.batches == 0:
                try:
                    self._store.write(readings)
                    return
                except StoreUnavailable as exc:
                    metrics.STORE_WRITE_ERRORS.inc()
                    log.warning("spool.store_failed", readings=len(readings), error=str(exc)[:200])
            self.spool.append(readings)
        self._wake.set()
        self._check_fill()

    def _replay_loop(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            item = self.spool.oldest()
            if item is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            batch_id, readings = item
            try:
                self._store.write(readings)
            except StoreUnavailable as exc:
                metrics.STORE_WRITE_ERRORS.inc()
                log.info("spool.replay_waiting", spooled=self.spool.batches, error=str(exc)[:200])
                self._stop.wait(delay)
                delay = min(delay * 2, self._retry_max_s)
                continue
            except Exception:
                log.exception("spool.replay_failed")
                self._stop.wait(self._retry_max_s)
                continue
            with self._order:
                self.spool.remove(batch_id)
            metrics.REPLAYED.inc(len(readings))
            delay = 0.1
            if self.spool.batches == 0:
                log.info("spool.drained")
            self._check_fill()

    def _check_fill(self) -> None:
        now_ms = ms_from_utc(self._clock.now())
        with self._fill_lock:
            self._raised, finding = fill_finding(
                self._raised, self.spool.bytes, self.spool.max_bytes, self._alert_ratio, self._site, now_ms
            )
        if finding is None:
            return
        log.warning("spool.finding", kind=finding.kind, active=finding.active, summary=finding.summary)
        if self._on_finding is not None:
            try:
                self._on_finding(finding)
            except Exception:
                log.exception("spool.on_finding_failed")
