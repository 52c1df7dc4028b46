"""Leases across a PostgreSQL restart: keepers let go while the database is gone (before their leases
end), no site is ever held by two keepers at once, and every site is held again once it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from alerts.engine.leases import LeaseStore
from facwatch.state import open_engine
from tests.cluster.helpers import SITES, Ledger, db_owners, watching
from tests.fixtures.postgres_stoppable import StoppablePostgres
from tests.fixtures.postgres_stoppable import stoppable_postgres as stoppable_postgres  # fixture
from tests.fixtures.waiting import wait_until

LEASE_S = 4.0


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    book = Ledger()
    try:
        yield book
    finally:
        book.stop_all()


def test_no_site_is_held_twice_across_a_database_restart(
    stoppable_postgres: StoppablePostgres, ledger: Ledger
) -> None:
    engine = open_engine(stoppable_postgres.url)
    try:
        with watching(ledger) as problems:
            for name in ("w0", "w1", "w2"):
                ledger.keeper(LeaseStore(engine, lease_s=LEASE_S), name, margin_s=1.5)
            wait_until(lambda: ledger.counts() == {"w0": 4, "w1": 4, "w2": 4}, 30, "4, 4 and 4")

            stoppable_postgres.stop()
            stopped = time.monotonic()
            wait_until(lambda: ledger.held() == 0, LEASE_S * 3, "every keeper letting go")
            let_go = time.monotonic() - stopped
            stoppable_postgres.start()
            back = time.monotonic()
            wait_until(lambda: ledger.held() == len(SITES), 60, "every site held again")
            regained = time.monotonic() - back
            wait_until(lambda: sorted(ledger.counts().values()) == [4, 4, 4], 30, "fair shares again")
        assert let_go < LEASE_S, f"let go {let_go:.1f} s after the database went"
        assert regained < LEASE_S * 3, f"all sites held again {regained:.1f} s after the restart"
        assert db_owners(engine) == ledger.owner
        assert problems == [] and ledger.violations == []
    finally:
        ledger.stop_all()
        engine.dispose()
