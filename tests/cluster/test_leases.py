"""Lease keepers on a real PostgreSQL: fair shares, a worker joining, a clean handover on stop, and a
keeper that stops renewing losing its sites here before its lease ends in the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from alerts.engine.leases import LeaseStore
from facwatch.state import open_engine
from tests.cluster.helpers import Ledger, crash, db_owners, watching
from tests.fixtures.postgres import fresh_database
from tests.fixtures.waiting import wait_until

LEASE_S = 3.0


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    book = Ledger()
    try:
        yield book
    finally:
        book.stop_all()


def shares(ledger: Ledger, expected: dict[str, int], timeout: float, what: str) -> None:
    wait_until(lambda: ledger.counts() == expected, timeout, f"{what} ({ledger.counts()})")


@pytest.mark.parametrize("workers", [2, 3])
def test_keepers_share_twelve_sites_fairly(engine: Engine, ledger: Ledger, workers: int) -> None:
    store = LeaseStore(engine, lease_s=LEASE_S)
    names = [f"w{i}" for i in range(workers)]
    with watching(ledger) as problems:
        for name in names:
            ledger.keeper(store, name)
        shares(ledger, {n: 12 // workers for n in names}, 20, "a fair share each")
    assert db_owners(engine) == ledger.owner  # the database agrees with what the keepers were told
    assert problems == [] and ledger.violations == []


def test_a_joining_keeper_gets_its_share_within_one_lease(engine: Engine, ledger: Ledger) -> None:
    lease_s = 6.0  # two rounds (4 s) expected: room for a loaded machine below the lease
    store = LeaseStore(engine, lease_s=lease_s)
    with watching(ledger) as problems:
        ledger.keeper(store, "w0")
        ledger.keeper(store, "w1")
        shares(ledger, {"w0": 6, "w1": 6}, 20, "6 and 6")
        joined = time.monotonic()
        ledger.keeper(store, "w2")
        shares(ledger, {"w0": 4, "w1": 4, "w2": 4}, 20, "4, 4 and 4")
        took = time.monotonic() - joined
    assert took < lease_s, f"the new keeper took {took:.1f} s to get its share"
    assert problems == [] and ledger.violations == []
    for _, name, site, epoch in ledger.wins:  # each site it took had an owner before: the epoch moved on
        if name == "w2":
            before = [e for _, n, s, e in ledger.wins if s == site and n != "w2"]
            assert epoch == max(before) + 1


def test_stop_hands_the_sites_over_at_once(engine: Engine, ledger: Ledger) -> None:
    lease_s = 9.0  # waiting for the leases to expire would take 6 s or more; a release takes one round
    store = LeaseStore(engine, lease_s=lease_s)
    with watching(ledger) as problems:
        ledger.keeper(store, "w0", margin_s=2.0)
        leaving = ledger.keeper(store, "w1", margin_s=2.0)
        shares(ledger, {"w0": 6, "w1": 6}, 30, "6 and 6")
        stopped = time.monotonic()
        leaving.stop()
        assert ledger.counts() == {"w0": 6}  # on_lost came before stop returned
        shares(ledger, {"w0": 12}, 30, "w0 holds all 12")
        took = time.monotonic() - stopped
    assert took < 2.0, f"handover after a stop took {took:.1f} s"  # a round would take up to 3 s
    assert problems == [] and ledger.violations == []


def test_a_crashed_keepers_sites_are_taken_over_when_its_leases_end(engine: Engine, ledger: Ledger) -> None:
    store = LeaseStore(engine, lease_s=LEASE_S)
    with watching(ledger) as problems:
        ledger.keeper(store, "w0")
        dead = ledger.keeper(store, "w1")
        shares(ledger, {"w0": 6, "w1": 6}, 20, "6 and 6")
        sites = set(dead.held())
        crash(dead)
        with ledger.lock:  # it cannot say so: the ledger forgets it
            for site in sites:
                del ledger.owner[site]
        crashed = time.monotonic()
        shares(ledger, {"w0": 12}, LEASE_S * 4, "w0 taking the dead keeper's sites")
        took = time.monotonic() - crashed
    assert took < LEASE_S + 1.0, f"took {took:.1f} s after the crash, lease {LEASE_S:g} s"
    assert problems == [] and ledger.violations == []


class HangingStore(LeaseStore):
    """A store whose renewals hang once ``hang`` is set (a stuck round), until ``unblock``."""

    def __init__(self, engine: Engine, lease_s: float) -> None:
        super().__init__(engine, lease_s=lease_s)
        self.hang = threading.Event()
        self.unblock = threading.Event()

    def renew(self, held: Mapping[str, int], me: str) -> frozenset[str]:
        if self.hang.is_set():
            self.unblock.wait(60)
        return super().renew(held, me)


def test_a_keeper_that_stops_renewing_lets_go_before_its_lease_ends(engine: Engine, ledger: Ledger) -> None:
    stuck = HangingStore(engine, LEASE_S)
    healthy = LeaseStore(engine, lease_s=LEASE_S)
    checker = create_engine(engine.url)
    still_ours: list[tuple[str, bool, float]] = []

    def check(site: str) -> None:  # at on_lost: is the lease still ours in the database, and for how long?
        with checker.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT owner = 'w0' AND expires_at > clock_timestamp() AS ours, "
                    "extract(epoch FROM expires_at - clock_timestamp()) AS left_s "
                    "FROM site_leases WHERE site = :site"
                ),
                {"site": site},
            ).one()
            still_ours.append((site, bool(row.ours), float(row.left_s)))

    try:
        with watching(ledger) as problems:
            w0 = ledger.keeper(stuck, "w0")
            ledger.keeper(healthy, "w1")
            shares(ledger, {"w0": 6, "w1": 6}, 20, "6 and 6")
            mine = set(w0.held())
            original = w0._on_lost

            def lost(site: str) -> None:
                check(site)
                original(site)

            w0._on_lost = lost
            stuck.hang.set()
            wait_until(lambda: not w0.held(), LEASE_S * 3, "w0 letting go of its sites")
            shares(ledger, {"w1": 12}, LEASE_S * 4, "w1 taking every site over")
        assert {site for site, _, _ in still_ours} == mine
        assert all(ours for _, ours, _ in still_ours), still_ours  # let go while the lease was still ours
        assert min(left for _, _, left in still_ours) > 0.2
        assert problems == [] and ledger.violations == []
    finally:
        stuck.unblock.set()
        checker.dispose()


def test_release_expires_at_once_and_the_next_owner_bumps_the_epoch(engine: Engine) -> None:
    store = LeaseStore(engine, lease_s=LEASE_S)
    assert store.acquire("a", "w0") == 1
    assert store.acquire("a", "w1") is None  # held
    assert store.renew({"a": 1}, "w1") == frozenset()  # not its lease
    assert store.renew({"a": 2}, "w0") == frozenset()  # not that epoch
    assert store.renew({"a": 1}, "w0") == {"a"}
    assert store.release("a", "w0", 1)
    assert store.acquire("a", "w1") == 2
    assert not store.release("a", "w0", 1)  # gone already
    with engine.begin() as conn:  # w1 dies: its lease runs out
        conn.execute(text("UPDATE site_leases SET expires_at = clock_timestamp() - interval '1 ms'"))
    assert store.renew({"a": 2}, "w1") == frozenset()  # an expired lease is not renewed
    assert store.acquire("a", "w0") == 3


def test_sqlite_has_no_leases(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        LeaseStore(open_engine(f"sqlite:///{tmp_path / 'state.db'}"))
