"""The event log's append lock on real PostgreSQL: one stalled transaction cannot hold every append up.

Ids commit in order because an append holds one advisory lock until its transaction ends. A transaction
that takes it and then stalls (a paused process, a forgotten commit) is ended by the server after
``APPEND_IDLE_S``: its change is rolled back, it gets an error, and the appends waiting behind it go on.
One that keeps the lock while busy makes the others fail after ``APPEND_WAIT_S`` with ``EventLogBusy``,
whose message says what happened, instead of waiting without end.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from alerts.engine import eventlog
from alerts.engine.eventlog import APPEND_IDLE_S, APPEND_WAIT_S, EventLogBusy
from alerts.engine.intake import is_outage
from tests.fixtures.postgres import fresh_database
from tests.fixtures.waiting import wait_until

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


def _sites_in_log(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [str(e.data["site"]) for e in eventlog.read(conn, 0)]


def _backends(engine: Engine, where: str) -> int:
    query = text(f"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND {where}")
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _append(conn: Connection, site: str) -> int:
    return eventlog.append(conn, "alert", site, {"site": site}, T0)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("2000", "2s"),  # a fenced write's shorter lease bound is kept
        ("1500", "1500ms"),  # in any unit
        ("15000", f"{APPEND_IDLE_S:g}s"),  # a longer one is cut to the append's
        ("120000", f"{APPEND_IDLE_S:g}s"),  # in minutes too
        ("0", f"{APPEND_IDLE_S:g}s"),  # none at all (the server's default)
    ],
)
def test_an_append_never_lengthens_the_idle_bound_a_transaction_had(
    engine: Engine, before: str, after: str
) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {before}"))
        _append(conn, "fenced")
        assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar_one() == after


def test_a_stalled_appender_is_ended_and_the_other_sites_appends_go_on(engine: Engine) -> None:
    stuck = engine.connect()
    stuck_tx = stuck.begin()
    _append(stuck, "stalled")  # holds the append lock, then stalls: never commits
    # Only this transaction is bounded, and only while it holds the lock: other locks wait as before.
    assert (
        stuck.execute(text("SHOW idle_in_transaction_session_timeout")).scalar_one() == f"{APPEND_IDLE_S:g}s"
    )
    assert stuck.execute(text("SHOW lock_timeout")).scalar_one() == "0"

    began = time.monotonic()
    with engine.begin() as conn:  # another site's change waits behind it, at most until the server ends it
        _append(conn, "lively")
    waited = time.monotonic() - began
    assert waited < APPEND_WAIT_S, waited  # not forever, and no EventLogBusy: the stalled one was ended
    assert _sites_in_log(engine) == ["lively"]  # the stalled change never lands

    with pytest.raises(DBAPIError, match="idle-in-transaction timeout"):  # the stalled one hears of it
        stuck.execute(text("SELECT 1"))
    stuck_tx.rollback()
    stuck.close()


def test_an_append_behind_a_busy_holder_fails_clearly_after_the_wait(engine: Engine) -> None:
    holding = threading.Event()

    def busy_holder() -> None:  # holds the lock while running a long statement (not idle: not ended)
        with engine.connect() as conn, conn.begin():
            _append(conn, "busy")
            holding.set()
            with contextlib.suppress(DBAPIError):  # cancelled below
                conn.execute(text("SELECT pg_sleep(60)"))

    thread = threading.Thread(target=busy_holder, daemon=True)
    thread.start()
    try:
        wait_until(holding.is_set, 10, "the holder took the append lock")
        wait_until(lambda: _backends(engine, "query LIKE 'SELECT pg_sleep%'") == 1, 10, "the holder busy")
        began = time.monotonic()
        busy = pytest.raises(EventLogBusy, match=f"waited {APPEND_WAIT_S:g} s for the append lock")
        with busy as refused, engine.begin() as conn:
            _append(conn, "waiting")
        assert is_outage(refused.value)  # the engine's intake keeps the judgement queued and commits it later
        assert APPEND_WAIT_S <= time.monotonic() - began < APPEND_WAIT_S + 5
    finally:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
                )
            )
        thread.join(30)
    with engine.begin() as conn:  # the lock is free again: appends go on
        _append(conn, "after")
    assert "after" in _sites_in_log(engine) and "waiting" not in _sites_in_log(engine)
