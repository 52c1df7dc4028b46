"""Keepers as the tests run them: a ledger of who holds what (from the callbacks), checked for double
ownership at every win and, by a watcher thread, from the keepers' own state every few milliseconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from alerts.engine.leases import LeaseStore
from alerts.engine.leases_keeper import LeaseKeeper

SITES = tuple(f"site-{i:02d}" for i in range(12))


class Ledger:
    """Who holds which site according to the callbacks; any site won while another keeper holds it is a
    violation (the old owner's ``on_lost`` must come before the new owner's ``on_won``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: dict[str, str] = {}
        self.violations: list[str] = []
        self.wins: list[tuple[float, str, str, int]] = []
        self.losses: list[tuple[float, str, str]] = []
        self.keepers: list[LeaseKeeper] = []

    def keeper(
        self,
        store: LeaseStore,
        name: str,
        sites: tuple[str, ...] = SITES,
        *,
        margin_s: float = 1.0,
        start: bool = True,
    ) -> LeaseKeeper:
        def won(site: str, epoch: int) -> None:
            with self.lock:
                other = self.owner.get(site)
                if other is not None and other != name:
                    self.violations.append(f"{site} won by {name} (epoch {epoch}) while {other} holds it")
                self.owner[site] = name
                self.wins.append((time.monotonic(), name, site, epoch))

        def lost(site: str) -> None:
            with self.lock:
                if self.owner.get(site) == name:
                    del self.owner[site]
                self.losses.append((time.monotonic(), name, site))

        keeper = LeaseKeeper(store, sites, on_won=won, on_lost=lost, me=name, margin_s=margin_s)
        self.keepers.append(keeper)
        if start:
            keeper.start()
        return keeper

    def counts(self) -> dict[str, int]:
        with self.lock:
            out: dict[str, int] = {}
            for name in self.owner.values():
                out[name] = out.get(name, 0) + 1
            return out

    def held(self) -> int:
        with self.lock:
            return len(self.owner)

    def stop_all(self) -> None:
        for keeper in self.keepers:
            keeper.stop()


@contextmanager
def watching(ledger: Ledger) -> Iterator[list[str]]:
    """Check every 10 ms that no site is held by two keepers at once (by the keepers' own state)."""
    problems: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.01):
            seen: dict[str, str] = {}
            for keeper in ledger.keepers:
                for site in keeper.held():
                    if site in seen:
                        problems.append(f"{site} held by {seen[site]} and {keeper.me}")
                    seen[site] = keeper.me

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield problems
    finally:
        done.set()
        thread.join(5)


def db_owners(engine: Engine) -> dict[str, str]:
    """The live leases by site, as the database sees them now."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT site, owner FROM site_leases WHERE expires_at > clock_timestamp()"))
        return {str(r.site): str(r.owner) for r in rows}


def crash(keeper: LeaseKeeper) -> None:
    """The keeper's process dies: its threads stop, nothing is released, no callback runs."""
    keeper._stopping.set()
    keeper._changed.set()
    for thread in keeper._threads:
        thread.join(10)
    keeper._threads.clear()
    with keeper._state:
        keeper._held.clear()
