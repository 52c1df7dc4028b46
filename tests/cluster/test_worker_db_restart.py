"""Leases under a PostgreSQL restart, with real ``facwatch run --only worker`` processes (lease 4 s): while
the database is away each worker stops its sites at its local deadline, before the leases end; once it is
back the workers regain their sites, and no site ever ran in two workers at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from facwatch.state import open_engine
from tests.cluster.conftest import ProcFactory
from tests.cluster.workers import Publisher, overlaps, shares, start_all, write_sites
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres_stoppable import StoppablePostgres, stoppable_postgres
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration

__all__ = ["stoppable_postgres"]

LEASE_S = 4.0


def test_workers_regain_their_sites_after_a_database_restart_and_none_runs_twice(
    tmp_path: Path, procs: ProcFactory, mosquitto: MosquittoBroker, stoppable_postgres: StoppablePostgres
) -> None:
    sites = write_sites(tmp_path / "sites", 4, "json://127.0.0.1:9/")
    workers = [procs(f"w{i}", lease_s=LEASE_S, state_url=stoppable_postgres.url) for i in (1, 2)]
    start_all(workers)
    engine = open_engine(stoppable_postgres.url)
    publisher = Publisher(mosquitto.port, sites)
    try:

        def settled() -> bool:
            running = sorted(len(w.running_sites()) for w in workers)
            return sorted(shares(engine).values()) == [2, 2] and running == [2, 2]

        wait_until(settled, 60, "2 + 2 sites leased and running")
        # only the losses after the database went away count: a busy machine may have let a renewal miss its
        # deadline while the workers started (a site lost, then taken again)
        before = sum(w.count("no renewal within the lease") for w in workers)
        stoppable_postgres.stop()
        # no renewal: each worker stops its sites at its local deadline (before the leases end)
        wait_until(lambda: not any(w.running_sites() for w in workers), LEASE_S + 15, "every site stopped")
        lost = sum(w.count("no renewal within the lease") for w in workers) - before
        assert lost == 4, [w.tail(2000) for w in workers]
        stoppable_postgres.start()
        wait_until(settled, 60, "2 + 2 sites leased and running again")
        assert {s for w in workers for s in w.running_sites()} == set(sites)
        assert not overlaps(workers)
    finally:
        publisher.close()
        engine.dispose()
