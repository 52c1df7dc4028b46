"""The durable event log: every change that the outside world hears of, as a row of ``events``.

A row is written by ``append`` inside the transaction of the change it describes, so a change and its event
commit together or not at all (a crash between commit and publish loses nothing: the row is there).

Ids come from the database (a PostgreSQL sequence; SQLite ``AUTOINCREMENT``), only grow and are never
reused, across restarts, processes and machines. Readers never skip a row that commits late: on PostgreSQL a
sequence hands out ids in one order and transactions may commit in another, so ``append`` takes a
transaction-scoped advisory lock before it draws its id. The lock is held until the transaction ends, so
the next id is drawn only after the previous one committed (or rolled back): ids commit in order, and a
reader that has seen id N will never later find a row below N. SQLite has a single writer: the same holds.
``append`` is therefore called last in a transaction (after the change's own writes), to hold the lock
for the shortest time.

One lock for every site, because the readers follow the whole log (the tailer, the MQTT and webhook
readers, ``GET /events`` across sites): a lock per site would let one site's late commit slip below an id
that a reader already passed. So the damage a stalled appender can do is bounded instead, in the appending
transaction itself (``SET LOCAL``, nothing else on the connection changes):
- ``idle_in_transaction_session_timeout`` = ``APPEND_IDLE_S`` (or less, if the transaction had set less):
  a transaction that holds the lock and then sits idle (a paused or hung process, a forgotten commit) is ended by the server after that long, its
  connection closed and its change rolled back; the lock is free again.
- ``lock_timeout`` = ``APPEND_WAIT_S`` while the lock is taken (then back to the default): an append never
  waits longer than that; it raises ``EventLogBusy`` naming the wait, and its transaction rolls back (the
  engine retries the change, as after any outage of the state database).

Readers:
- ``LogTailer``: one per process; follows the log from its end and fans events out to the in-process
  ``EventBus`` (server-sent events). The bus is a fan-out and a wake-up only; the log is the truth.
- ``LogReader``: a named reader with a durable cursor in ``event_cursors`` (the MQTT alert topic, the
  webhook enqueuer). Its handler runs in the transaction that advances the cursor, so what it writes and
  the cursor commit together; what it sends outside is sent at least once. On PostgreSQL the cursor row is
  locked ``FOR UPDATE SKIP LOCKED``: several processes may run the same reader, one of them reads at a time.

Retention: ``prune`` deletes rows older than ``retention`` (default 30 days).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import OperationalError

from alerts.engine.db import metadata, new_pk, utc, utc_now
from alerts.engine.errors import AlertsError
from alerts.engine.events import Event, EventBus

log = structlog.get_logger("alerts.engine.eventlog")

ID = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("type", String(20), nullable=False),
    Column("site", String(64), nullable=False),
    Column("body", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_events_ts", events.c.ts)

event_cursors = Table(
    "event_cursors",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("last_id", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

APPEND_LOCK = 0x46574556  # "FWEV": the advisory lock that makes ids commit in order (PostgreSQL)
APPEND_WAIT_S = 10.0
"""How long an append waits for the lock before it fails with ``EventLogBusy`` (PostgreSQL)."""
APPEND_IDLE_S = 5.0
"""How long a transaction holding the lock may sit idle before the server ends it (PostgreSQL)."""
RETENTION = timedelta(days=30)
BATCH = 500
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout that ran out


class EventLogBusy(AlertsError, TimeoutError):
    """An append waited ``APPEND_WAIT_S`` for the event log's lock: another transaction holds it too long.

    A ``TimeoutError`` too, so the engine's intake takes it for what it is, an outage of the state database
    (the judgement stays queued and is committed later), never a bug to set aside."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(
            f"event log busy: waited {wait_s:g} s for the append lock, which another transaction holds; "
            "this change was rolled back and is retried"
        )
        self.wait_s = wait_s


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


# One round trip, no parameters (so that psycopg sends the statements together): bound the wait for the lock,
# take it, bound how long this transaction may then sit idle (never longer than it already was: a fenced
# write keeps a shorter lease's bound), and wait for other locks as before.
_IDLE_MS = _ms(APPEND_IDLE_S)
_TAKE_LOCK = (
    f"SET LOCAL lock_timeout = {_ms(APPEND_WAIT_S)}; "
    f"SELECT pg_advisory_xact_lock({APPEND_LOCK}); "
    "SELECT set_config('idle_in_transaction_session_timeout', CASE WHEN current_setting("
    f"'idle_in_transaction_session_timeout')::interval BETWEEN interval '1 ms' AND interval '{_IDLE_MS} ms' "
    f"THEN current_setting('idle_in_transaction_session_timeout') ELSE '{_IDLE_MS}' END, true); "
    "SET LOCAL lock_timeout TO DEFAULT"
)


def _dumps(data: Mapping[str, object]) -> str:
    return orjson.dumps(dict(data), default=str, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC).decode()


def append(conn: Connection, type_: str, site: str, data: Mapping[str, object], ts: datetime) -> int:
    """Write one event in ``conn``'s transaction (call it after the change's own writes); its id."""
    if conn.dialect.name == "postgresql":
        try:
            conn.exec_driver_sql(_TAKE_LOCK)
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise EventLogBusy(APPEND_WAIT_S) from exc
            raise
    result = conn.execute(insert(events).values(ts=utc_now(ts), type=type_, site=site, body=_dumps(data)))
    return new_pk(result)


def _event(row: Any) -> Event:
    ts = utc(row.ts)
    assert ts is not None
    return Event(type=str(row.type), data=orjson.loads(row.body), ts=ts, id=int(row.id), site=str(row.site))


def read(conn: Connection, after: int, limit: int = BATCH) -> list[Event]:
    """Events with an id above ``after``, oldest first."""
    query = select(events).where(events.c.id > after).order_by(events.c.id).limit(limit)
    return [_event(r) for r in conn.execute(query)]


def last_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())


def prune(engine: Engine, now: datetime, retention: timedelta = RETENTION) -> int:
    """Delete events older than ``retention``; how many."""
    with engine.begin() as conn:
        return int(conn.execute(delete(events).where(events.c.ts < utc_now(now) - retention)).rowcount)


class _Loop:
    """A daemon thread that runs ``step`` every ``poll_s`` or as soon as it is woken."""

    def __init__(self, name: str, poll_s: float) -> None:
        self._name, self._poll_s = name, poll_s
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                more = self.step()
            except Exception as exc:  # the database or the receiver may be away: try again next round
                log.warning(
                    "event log reader failed", reader=self._name, error=f"{type(exc).__name__}: {exc}"
                )
                more = False
            if not more:
                self._wake.wait(self._poll_s)
                self._wake.clear()

    def step(self) -> bool:
        """One round; True when there may be more to read at once."""
        raise NotImplementedError


class LogTailer(_Loop):
    """Follows the log from its end (as of ``start``) and hands each new event to ``bus.fan_out``."""

    def __init__(self, engine: Engine, bus: EventBus, poll_s: float = 0.2) -> None:
        super().__init__("facwatch-event-tail", poll_s)
        self.engine, self.bus = engine, bus
        self.position = -1

    def step(self) -> bool:
        with self.engine.connect() as conn:
            if self.position < 0:
                self.position = last_id(conn)
                return False
            batch = read(conn, self.position)
        for event in batch:
            self.bus.fan_out(event)
            self.position = event.id
        return len(batch) >= BATCH


Handler = Callable[[Connection, Sequence[Event]], None]


class LogReader(_Loop):
    """A named reader with a durable cursor; ``handler(conn, events)`` runs in the cursor's transaction.

    A new reader starts at the end of the log (``start_at_end``) or at its beginning.
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        handler: Handler,
        *,
        poll_s: float = 0.5,
        start_at_end: bool = True,
        committed: Callable[[], None] | None = None,
    ) -> None:
        """``committed``: called once a handled batch (and what the handler wrote) has committed."""
        super().__init__(f"facwatch-events-{name}", poll_s)
        self.engine, self.name, self.handler, self.start_at_end = engine, name, handler, start_at_end
        self.committed = committed

    def step(self) -> bool:
        now = utc_now(datetime.now().astimezone())
        with self.engine.begin() as conn:
            cursor = self._cursor(conn, now)
            if cursor is None:  # another process holds this reader's cursor just now
                return False
            batch = read(conn, cursor)
            if not batch:
                return False
            self.handler(conn, batch)
            conn.execute(
                update(event_cursors)
                .where(event_cursors.c.name == self.name)
                .values(last_id=batch[-1].id, updated_at=now)
            )
        if self.committed is not None:
            self.committed()
        return len(batch) >= BATCH

    def _cursor(self, conn: Connection, now: datetime) -> int | None:
        query = select(event_cursors.c.last_id).where(event_cursors.c.name == self.name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = conn.execute(query).first()
        if row is not None:
            return int(row.last_id)
        if conn.dialect.name == "postgresql":
            exists = conn.execute(
                select(event_cursors.c.name).where(event_cursors.c.name == self.name)
            ).first()
            if exists is not None:
                return None
        start = last_id(conn) if self.start_at_end else 0
        conn.execute(insert(event_cursors).values(name=self.name, last_id=start, updated_at=now))
        return start
