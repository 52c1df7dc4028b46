"""The ``worker`` part: ``facwatch run --only worker`` runs the gateway and the alerts (engine, SLA clocks,
delivery, webhooks) without the API, and takes its sites through leases.

    PostgreSQL:  LeaseKeeper(LeaseStore(engine, lease_s)) ── on_won(site, epoch) ─► SiteRuntime.start() (own thread)
                                                          └─ on_lost(site) ───────► SiteRuntime.stop()
                 each site's AlertService fenced with keeper.fencing(site), its gateway acks only while
                 keeper.holds(site); stop(): every site given back at once
    SQLite:      no leases: the worker owns every site
    Either way the process first takes the start-up lock (facwatch/sole_owner.py, in System.start): workers
    share it on PostgreSQL, a process running the sites without leases holds it alone, so neither starts
    beside the other (nor a second worker on one SQLite file)

A site is started in a thread of its own when its lease is won (restoring its state takes a moment, and the
keeper must go on renewing meanwhile); it is stopped in the keeper's thread when the lease is lost, so the
runtime has stopped before the lease ends in the database. One lock per site keeps a start and a stop of the
same site apart, and a start whose lease was lost meanwhile does not run.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy import Connection, Engine, create_engine

from alerts.engine.leases import LeaseStore
from alerts.engine.leases_keeper import LeaseKeeper
from facwatch.config import PARTS, Settings
from facwatch.errors import StartupError

log = structlog.get_logger("facwatch.worker")

ROLES: Mapping[str, tuple[str, ...]] = {"worker": ("gateway", "alerts")}
"""What ``--only`` accepts besides the parts themselves: a role names parts and takes its sites by lease."""

Fence = Callable[[Connection], None]


class Startable(Protocol):
    """What the worker starts and stops per site (facwatch.runtime.SiteRuntime)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Only:
    """What ``facwatch run --only`` asked for: the parts, and whether the sites come through leases."""

    parts: tuple[str, ...]
    leased: bool


def parse_only(text: str) -> Only:
    """``worker`` = ``gateway,alerts`` taken by lease; ``api``, ``gateway``, ``alerts`` as they are."""
    parts: list[str] = []
    leased = False
    for name in (p.strip() for p in text.split(",")):
        if not name:
            continue
        if name in ROLES:
            leased = True
            parts.extend(ROLES[name])
        else:
            parts.append(name)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise StartupError(f"unknown parts {unknown}; choose from worker, {', '.join(PARTS)}")
    return Only(tuple(dict.fromkeys(parts)), leased)


def worker_name(settings: Settings) -> str:
    """``[cluster] worker_id``, or ``<hostname>-<pid>``."""
    return settings.cluster.worker_id or f"{socket.gethostname()}-{os.getpid()}"


class Ownership(Protocol):
    """How a worker comes to own its sites."""

    def fencing(self, site: str) -> Fence | None: ...

    def holds(self, site: str) -> bool: ...

    def epoch(self, site: str) -> int | None: ...

    def start(self, runtimes: Mapping[str, Startable]) -> None: ...

    def stop(self) -> None: ...


def ownership(settings: Settings, engine: Engine, sites: Sequence[str]) -> Ownership:
    """Leases on PostgreSQL; on SQLite the one worker owns every site."""
    if engine.dialect.name == "postgresql":
        return SiteLeases(engine, sites, lease_s=settings.cluster.lease_s, me=worker_name(settings))
    return SoleOwner()


class SiteLeases:
    """A worker's sites from the lease keeper: started when won, stopped when lost."""

    stop_s = 20.0
    """How long ``stop`` (SIGTERM) waits for the sites to stop and be released (systemd's TimeoutStopSec is
    30 s); a site still stopping then keeps its lease until it runs out in the database."""

    def __init__(self, engine: Engine, sites: Sequence[str], *, lease_s: float, me: str) -> None:
        # An engine of its own: renewals never wait for a connection behind the sites' work (a busy worker's
        # pool is often all in use), or a worker under load would lose its leases at the local deadline.
        self._engine = create_engine(
            engine.url.render_as_string(hide_password=False), pool_size=2, max_overflow=2, pool_pre_ping=True
        )
        self.keeper = LeaseKeeper(
            LeaseStore(self._engine, lease_s=lease_s), sites, on_won=self._won, on_lost=self._lost, me=me
        )
        self._runtimes: Mapping[str, Startable] = {}
        self._locks = {site: threading.Lock() for site in sites}
        self._log = log.bind(worker=me)

    def fencing(self, site: str) -> Fence:
        return self.keeper.fencing(site)

    def holds(self, site: str) -> bool:
        return self.keeper.holds(site)

    def epoch(self, site: str) -> int | None:
        return self.keeper.epoch(site)

    def start(self, runtimes: Mapping[str, Startable]) -> None:
        self._runtimes = runtimes
        self._log.info("worker.leasing", sites=len(runtimes), lease_s=self.keeper.lease_s)
        self.keeper.start()

    def stop(self) -> None:
        """Every held site stopped and its lease released, the sites in parallel, each released as soon as it
        has stopped (its next owner starts it while the others are still stopping); bounded by ``stop_s``."""
        self.keeper.stop(self.stop_s)
        self._engine.dispose()

    def _won(self, site: str, epoch: int) -> None:
        def take() -> None:
            with self._locks[site]:
                if self.keeper.epoch(site) != epoch:
                    return  # lost again before it started
                self._log.info("worker.site_taking", site=site, epoch=epoch)
                self._runtimes[site].start()

        threading.Thread(target=take, name=f"facwatch-take-{site}", daemon=True).start()

    def _lost(self, site: str) -> None:
        with self._locks[site]:
            self._runtimes[site].stop()
        self._log.info("worker.site_given_up", site=site)


class SoleOwner:
    """SQLite: no leases, the one worker owns every site. That it is the only process running the sites on
    the state file is the start-up lock's work (facwatch/sole_owner.py), as for every process."""

    def fencing(self, site: str) -> Fence | None:
        return None

    def holds(self, site: str) -> bool:
        return True

    def epoch(self, site: str) -> int | None:
        return None

    def start(self, runtimes: Mapping[str, Startable]) -> None:
        for runtime in runtimes.values():
            runtime.start()

    def stop(self) -> None:
        pass


__all__ = ["ROLES", "Only", "Ownership", "SiteLeases", "SoleOwner", "ownership", "parse_only", "worker_name"]
