"""The event log on real databases: ids that only grow (across restarts, never reused), and readers that
never skip a row whose transaction commits late (PostgreSQL: two interleaved transactions; many writers)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select, text

from alerts.engine import eventlog
from alerts.engine.events import Event
from facwatch.state import open_engine
from tests.fixtures.postgres import state_engine
from tests.fixtures.waiting import wait_until

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def _append(engine: Engine, n: int, ts: datetime = T0) -> list[int]:
    with engine.begin() as conn:
        return [eventlog.append(conn, "alert", "demo", {"n": i}, ts) for i in range(n)]


def test_ids_keep_growing_across_restarts_and_are_never_reused(engine: Engine) -> None:
    first = _append(engine, 3, T0 - timedelta(days=40))
    assert first == sorted(first) and len(set(first)) == 3
    # Retention deletes the old rows, and a restart (a new engine, a new process's pool) follows.
    assert eventlog.prune(engine, T0) == 3
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    again = open_engine(url)
    try:
        later = _append(again, 2)
        assert min(later) > max(first)  # the deleted ids are not handed out again
        with again.connect() as conn:
            assert [e.id for e in eventlog.read(conn, 0)] == later
    finally:
        again.dispose()


def test_a_reader_never_skips_a_transaction_that_commits_late(engine: Engine) -> None:
    """T1 draws its id first and stays open; T2 comes after. No reader may see T2's row and move past T1's."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: there is no interleaving to test")
    with engine.connect() as conn:
        start = eventlog.last_id(conn)
    seen: list[int] = []
    t1 = engine.connect()
    tx1 = t1.begin()
    id1 = eventlog.append(t1, "alert", "demo", {"t": 1}, T0)
    t2_done = threading.Event()

    def second() -> None:
        with engine.begin() as conn:
            eventlog.append(conn, "alert", "demo", {"t": 2}, T0)
        t2_done.set()

    thread = threading.Thread(target=second, daemon=True)
    thread.start()

    # T2 waits for T1 (a positive signal: its backend waits on the advisory lock); meanwhile a reader finds
    # nothing after ``start``, so T2 can never get ahead of T1.
    def t2_waits() -> bool:
        with engine.connect() as conn:
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar_one()
        return bool(waiting)

    wait_until(t2_waits, 10, "the second transaction waits for the first")
    position = start
    with engine.connect() as conn:
        assert eventlog.read(conn, position) == []
    assert not t2_done.is_set()
    tx1.commit()
    t1.close()
    wait_until(t2_done.is_set, 10, "the second transaction committed")
    thread.join(5)

    with engine.connect() as conn:
        batch = eventlog.read(conn, position)
    seen += [e.id for e in batch]
    assert seen[0] == id1 and len(seen) == 2 and seen == sorted(seen)


def test_many_writers_committing_at_random_moments_no_reader_skips_a_row(engine: Engine) -> None:
    """Eight threads append events and commit after a random pause; a ``LogReader`` follows with its durable
    cursor meanwhile. It gets every row exactly once, in id order."""
    got: list[int] = []

    def handler(conn: Connection, batch: list[Event]) -> None:
        got.extend(e.id for e in batch)

    reader = eventlog.LogReader(engine, "test", handler, poll_s=0.01)
    reader.step()  # the cursor starts at the end of the log
    reader.start()
    written: list[int] = []
    lock = threading.Lock()
    rng = random.Random(13)
    pauses = [[rng.uniform(0, 0.02) for _ in range(25)] for _ in range(8)]

    def writer(k: int) -> None:
        for pause in pauses[k]:
            with engine.begin() as conn:
                pk = eventlog.append(conn, "ticket", "demo", {"writer": k}, T0)
                time.sleep(pause)  # commits late, while others draw ids
            with lock:
                written.append(pk)

    threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        wait_until(lambda: len(got) >= len(written), 20, "the reader caught up")
    finally:
        reader.stop()
    assert got == sorted(written)
    with engine.connect() as conn:
        cursor = conn.execute(
            select(eventlog.event_cursors.c.last_id).where(eventlog.event_cursors.c.name == "test")
        ).scalar_one()
    assert cursor == max(written)
