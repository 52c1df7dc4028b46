"""SIGTERM of a real ``facwatch run --only worker``: a quick handover, and an exit even with every server gone.

- Two workers share 4 sites; the one holding 2 is stopped (SIGTERM): its sites are stopped in parallel and
  each released once stopped, so the other worker runs them within seconds (not a lease). The last writes of
  the stopping worker are not refused (it still holds the lease while it stops): each site's last checkpoint
  is in the database, written after the SIGTERM, and no site ran in two workers at once.
- A worker whose PostgreSQL, Mosquitto and InfluxDB are all gone (an entrapment judged meanwhile, so its
  findings wait in the local queue) exits within 30 s of a SIGTERM, and says what it could not finish.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from facwatch.state import open_engine
from tests.cluster.conftest import ProcFactory
from tests.cluster.workers import Proc, Publisher, overlaps, owners, settled, start_all, write_sites
from tests.fixtures.influx import Influx
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres_stoppable import StoppablePostgres, stoppable_postgres
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration

__all__ = ["stoppable_postgres"]

LEASE_S = 15.0


def _events(proc: Proc, name: str) -> list[dict[str, object]]:
    return [r for r in proc.records() if r.get("event") == name]


def _queued(path: Path) -> int:
    """Entries in a site's local findings queue (the intake's file), read-only."""
    if not path.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as conn:
            return int(conn.execute("SELECT count(*) FROM findings_queue").fetchone()[0])
    except sqlite3.Error:
        return 0


def _checkpointed_at(engine: Engine, site: str) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT max(written_at) FROM detector_checkpoints WHERE site = :site"), {"site": site}
        ).scalar()
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_sigterm_hands_each_site_over_within_seconds_with_its_last_checkpoint(
    tmp_path: Path, procs: ProcFactory, cluster_db: Engine, mosquitto: MosquittoBroker
) -> None:
    sites = write_sites(tmp_path / "sites", 4, "json://127.0.0.1:9/")
    w1, w2 = procs("w1", lease_s=LEASE_S), procs("w2", lease_s=LEASE_S)
    start_all([w1, w2])
    publisher = Publisher(mosquitto.port, sites)
    try:
        settled(cluster_db, [w1, w2], [2, 2])
        mine = sorted(s for s, owner in owners(cluster_db).items() if owner == "w1")
        # the rebalance may have stopped sites in w1 before: only the stops after the SIGTERM count
        wait_until(lambda: sorted(w1.running_sites()) == mine, 20, "w1 running only its leased sites")
        before = len(w1.records())
        termed_wall = datetime.now(UTC)
        termed = time.monotonic()
        assert w1.proc is not None
        w1.proc.send_signal(signal.SIGTERM)

        wait_until(
            lambda: all(owners(cluster_db).get(s) == "w2" for s in mine), 10, "w1's sites leased by w2"
        )
        leased_s = time.monotonic() - termed
        wait_until(lambda: w2.running_sites() == set(sites), 20, "every site running in w2")
        assert w1.proc.wait(20) == 0, w1.tail()

        # well within the lease: the leases were released, not left to run out
        assert leased_s < LEASE_S / 2, leased_s
        stopped = {str(r["site"]): r for r in w1.records()[before:] if r.get("event") == "site.stopped"}
        assert sorted(stopped) == mine
        for site in mine:
            # its last writes were fenced with the epoch it still held: none refused, nothing left over
            assert "unfinished" not in stopped[site], stopped[site]
            written = _checkpointed_at(cluster_db, site)
            assert written is not None and written >= termed_wall, (site, written, termed_wall)
        log = w1.tail(10**9)
        assert "tick failed" not in log and "checkpoint failed" not in log, log[-3000:]
        assert not overlaps([w1, w2])
    finally:
        publisher.close()


def test_a_worker_with_every_server_gone_exits_on_sigterm_and_says_what_is_left(
    tmp_path: Path,
    procs: ProcFactory,
    mosquitto: MosquittoBroker,
    influx: Influx,
    stoppable_postgres: StoppablePostgres,
) -> None:
    sites = write_sites(tmp_path / "sites", 4, "json://127.0.0.1:9/")
    worker = procs("w1", lease_s=LEASE_S, state_url=stoppable_postgres.url)
    worker.start(timeout=120)
    engine = open_engine(stoppable_postgres.url)
    publisher: Publisher | None = Publisher(mosquitto.port, sites)
    try:
        wait_until(lambda: worker.running_sites() == set(sites), 60, "4 sites running")
        engine.dispose()
        stoppable_postgres.stop()
        assert publisher is not None
        publisher.stuck = set(sites)  # an entrapment judged while the state database is gone: queued locally
        queues = [tmp_path / "w1" / "data" / f"findings-{site}.db" for site in sites]
        wait_until(lambda: all(_queued(q) for q in queues), 60, "every site's findings queued locally")
        publisher.close()
        publisher = None
        influx.stop()
        mosquitto.stop()

        termed = time.monotonic()
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(30) == 0, worker.tail()
        took = time.monotonic() - termed

        stopped = {str(r["site"]): r for r in _events(worker, "site.stopped")}
        assert sorted(stopped) == sites, worker.tail()
        for site in sites:
            left = stopped[site].get("unfinished")
            assert isinstance(left, list), stopped[site]
            assert any(f"left in findings-{site}.db for the next start" in str(x) for x in left), left
        assert took < 30, took
    finally:
        if publisher is not None:
            publisher.close()
        engine.dispose()
