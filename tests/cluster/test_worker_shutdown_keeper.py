"""The lease keeper's stop on a real PostgreSQL: the sites are given up in parallel, each released as soon as
its own ``on_lost`` has returned (while another is still stopping), and a site being given up still holds its
fence, so its last writes go through; a site whose stop outlasts the keeper's bound keeps its lease."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from alerts.engine.leases import LeaseStore, StaleOwner
from alerts.engine.leases_keeper import LeaseKeeper
from tests.cluster.helpers import db_owners
from tests.fixtures.postgres import fresh_database
from tests.fixtures.waiting import wait_until

LEASE_S = 6.0


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


def test_stop_releases_each_site_once_stopped_while_another_still_stops(engine: Engine) -> None:
    b_stopping = threading.Event()
    fenced: dict[str, str] = {}
    keeper: LeaseKeeper | None = None

    def fence_ok(site: str) -> str:
        assert keeper is not None
        try:
            with engine.begin() as conn:
                keeper.fencing(site)(conn)  # the site's last writes are fenced like this
        except StaleOwner as exc:
            return f"refused: {exc}"
        return "ok"

    def on_lost(site: str) -> None:
        fenced[site] = fence_ok(site)
        if site == "a":  # "a" stops only once "b" is stopping too: the stops overlap
            assert b_stopping.wait(10), "b's stop did not begin while a was stopping"
        else:  # "b" is still stopping when "a", stopped, is released
            b_stopping.set()
            wait_until(lambda: "a" not in db_owners(engine), 10, "a released while b still stops")

    keeper = LeaseKeeper(
        LeaseStore(engine, lease_s=LEASE_S), ["a", "b"], on_won=lambda s, e: None, on_lost=on_lost, me="w1"
    )
    keeper.start()
    wait_until(lambda: set(keeper.held()) == {"a", "b"}, 20, "both sites held")
    keeper.stop(timeout_s=20)
    assert fenced == {"a": "ok", "b": "ok"}  # a site given up still holds its fence while it stops
    assert db_owners(engine) == {}
    assert keeper.held() == {}


def test_a_site_stopping_past_the_bound_keeps_its_lease(engine: Engine) -> None:
    hold = threading.Event()

    def on_lost(site: str) -> None:
        if site == "slow":
            hold.wait(30)

    keeper = LeaseKeeper(
        LeaseStore(engine, lease_s=LEASE_S),
        ["quick", "slow"],
        on_won=lambda s, e: None,
        on_lost=on_lost,
        me="w1",
    )
    keeper.start()
    try:
        wait_until(lambda: set(keeper.held()) == {"quick", "slow"}, 20, "both sites held")
        keeper.stop(timeout_s=1.0)  # returns at its bound
        assert db_owners(engine) == {"slow": "w1"}  # not released: still stopping (it runs out by itself)
        assert set(keeper.held()) == {"slow"}
    finally:
        hold.set()
        wait_until(lambda: keeper.held() == {}, 10, "the slow site released once it stopped")
