"""The lease keeper: a worker's thread that holds its fair share of the sites (alerts/engine/leases.py).

Every ``lease_s / 3`` a round: heartbeat, renew what it holds, read the leases, ``plan``, give up the
surplus (``on_lost`` first, then ``release``), take free sites (``on_won(site, epoch)`` once the lease is
ours); and a round at once when another worker releases a lease, joins or leaves (PostgreSQL NOTIFY; without
the listener, the rounds alone), and one just after another worker's lease runs out (a dead worker's sites
are taken when their leases end, not up to a round later). A second thread, the watchdog, enforces the **local deadline** of each held site: the start of its
last successful renewal (or acquisition) + lease − ``margin_s``. When a renewal fails (the database is gone,
a round hangs) the watchdog calls ``on_lost`` *before* the lease expires in the database, so the runtime has
stopped before another worker can take the site. ``stop`` leaves, then gives every site up at once, in
parallel: each site's ``on_lost``, then at once its release, so the next owner starts it while the others
are still stopping.

A site given up (the surplus, or ``stop``) stays held while ``on_lost`` runs: its last writes (a last tick,
the delivery, the checkpoint) are still fenced with its epoch, and it is released only once they are done. A
site lost (``GONE``, ``DEADLINE``) is dropped first: from then on ``holds`` is False and the fence refuses.

Callbacks of one site run one at a time (never two at once), from either thread; those of different sites
may overlap (``stop``). They should not block for long.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from alerts.engine.leases import (
    Lease,
    LeaseStore,
    LeasesUnavailable,
    Listener,
    Reason,
    StaleOwner,
    fence,
    plan,
)

log = structlog.get_logger("facwatch.leases")

HELD = Gauge("facwatch_site_leases_held", "Sites this process holds through a lease")
WON = Counter("facwatch_site_leases_won_total", "Site leases taken (each bumps the site's epoch)")
LOST = Counter("facwatch_site_leases_lost_total", "Site leases let go", ["why"])

_MIN_GAP_S = 0.05
"""Rounds woken by notifications are at least this far apart."""
_PLANS_PER_ROUND = 3
"""Plans in one round at most: another when a wanted site went to another worker first."""
_AFTER_EXPIRY_S = 0.05
"""A round planned for when another worker's lease runs out comes this much after it."""

OnWon = Callable[[str, int], None]
OnLost = Callable[[str], None]


def worker_id() -> str:
    """A worker id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Why(StrEnum):
    """Why a keeper let a site go."""

    GIVEN_UP = "given up: above the fair share, or stopping"
    GONE = "the database no longer has our lease (taken over or expired)"
    DEADLINE = "no renewal within the lease: the local deadline passed"


@dataclass(slots=True)
class _Held:
    epoch: int
    deadline: float
    """time.monotonic() after which the site counts as lost here (before it expires in the database)."""
    leaving: bool = False
    """Being given up: ``on_lost`` runs, the release follows (its writes are still fenced with ``epoch``)."""


class LeaseKeeper:
    """Holds this worker's fair share of ``sites`` and says so through ``on_won`` / ``on_lost``."""

    def __init__(
        self,
        store: LeaseStore,
        sites: Sequence[str],
        *,
        on_won: OnWon,
        on_lost: OnLost,
        me: str | None = None,
        margin_s: float | None = None,
    ) -> None:
        self.store = store
        self.sites = tuple(dict.fromkeys(sites))
        self.me = me or worker_id()
        self.lease_s = store.lease_s
        self.round_s = store.lease_s / 3
        self.margin_s = margin_s if margin_s is not None else max(0.5, store.lease_s / 5)
        if self.margin_s >= self.lease_s:
            raise ValueError("margin_s must be shorter than the lease")
        self._on_won, self._on_lost = on_won, on_lost
        self._held: dict[str, _Held] = {}
        self._state = threading.Lock()
        self._calls = {site: threading.RLock() for site in self.sites}
        """One per site: a site's callbacks never overlap; different sites' may (``stop``)."""
        self._stopping = threading.Event()
        self._changed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: Listener | None = None
        self._expiry_in = self.round_s
        """Seconds from the last snapshot until another worker's lease runs out (capped by the round)."""
        self.rounds = 0
        """Rounds completed (a positive signal for tests)."""
        self.last_reason: Reason | None = None
        self._log = log.bind(worker=self.me)

    # --- what the runtime asks ------------------------------------------------------------------------

    def held(self) -> dict[str, int]:
        """The sites held here now, with their epochs."""
        with self._state:
            return {site: h.epoch for site, h in self._held.items()}

    def epoch(self, site: str) -> int | None:
        with self._state:
            held = self._held.get(site)
            return None if held is None else held.epoch

    def holds(self, site: str) -> bool:
        """Whether ``site`` is held here now: held, and its local deadline (monotonic clock) not passed. Cheap
        (no database): the gateway asks it before it acknowledges a message, and a worker resumed after a
        pause past its lease answers False at once, before the watchdog has stopped the site."""
        with self._state:
            held = self._held.get(site)
            return held is not None and time.monotonic() < held.deadline

    def fencing(self, site: str) -> Callable[[Connection], None]:
        """The hook for ``AlertService(fencing=...)``: fences each write with the epoch held now."""

        def check(conn: Connection) -> None:
            epoch = self.epoch(site)
            if epoch is None:
                raise StaleOwner(site, 0, "this worker does not hold the site")
            fence(conn, site, self.me, epoch, lease_s=self.lease_s)

        return check

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        for target, name in ((self._run, "facwatch-leases"), (self._watch, "facwatch-lease-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the rounds, leave, and hand every site back at once: each site's ``on_lost`` in a thread of
        its own, its release as soon as it returns. Waits up to ``timeout_s`` for the sites; a site whose
        stop takes longer keeps its lease until the lease runs out (the database's clock)."""
        deadline = time.monotonic() + timeout_s
        self._stopping.set()
        self._changed.set()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        try:  # first, so that the others' fair share has grown when they hear of the releases
            self.store.leave(self.me)
        except SQLAlchemyError as exc:
            self._log.warning("leases.leave_failed", error=str(exc)[:200])
        givers = [
            threading.Thread(target=self._give_up, args=(site,), name=f"facwatch-give-up-{site}", daemon=True)
            for site in sorted(self.held())
        ]
        for giver in givers:
            giver.start()
        for giver in givers:
            giver.join(max(0.0, deadline - time.monotonic()))
        left = sorted(self.held())
        if left:
            self._log.error(
                "leases.stop_unfinished",
                sites=left,
                timeout_s=timeout_s,
                meaning="still stopping: not released, their leases run out by themselves",
            )

    # --- the rounds ------------------------------------------------------------------------------------

    def _run(self) -> None:
        self._listen()  # before the first round: nothing announced after it is missed
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                self.round()
            except SQLAlchemyError as exc:
                self._log.warning("leases.round_failed", error=str(exc).splitlines()[0][:200])
            except Exception:
                self._log.exception("leases.round_crashed")
            self._pause(min(began + self.round_s, time.monotonic() + self._expiry_in))
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _pause(self, until: float) -> None:
        """Wait for the next round: until ``until``, or less when a lease is released or a worker joins or
        leaves (PostgreSQL NOTIFY), so that a handover takes milliseconds rather than a round."""
        self._stopping.wait(_MIN_GAP_S)
        while not self._stopping.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return
            if self._listener is None:
                if self._listen():
                    return  # listening again: what was announced meanwhile is read by a round now
                self._stopping.wait(left)
                return
            try:
                if self._listener.wait(min(left, 0.25)):
                    return
            except LeasesUnavailable as exc:
                self._listener.close()
                self._listener = None
                self._log.debug("leases.listener_lost", error=str(exc)[:200])

    def _listen(self) -> bool:
        """Open the listener (True), or leave it closed until the next pause (the database is away)."""
        try:
            self._listener = self.store.listen()
            return True
        except LeasesUnavailable as exc:
            self._log.debug("leases.listener_failed", error=str(exc)[:200])
            return False

    def round(self) -> None:
        """One round: heartbeat, renew, plan, give up, take (public for tests that drive it by hand)."""
        self.store.heartbeat(self.me)
        held = self.held()
        sent = time.monotonic()
        renewed = self.store.renew(held, self.me) if held else frozenset()
        for site, epoch in held.items():
            if site in renewed:
                self._extend(site, epoch, sent)
            else:
                self._lose(site, epoch, Why.GONE)
        for _ in range(_PLANS_PER_ROUND):
            if not self._plan_and_act():
                break
        self.rounds += 1

    def _plan_and_act(self) -> bool:
        """Read the leases, plan, give up, take. True: a site it wanted was taken by another meanwhile."""
        snap = self.store.snapshot()
        leases = dict(snap.leases)
        mine = self.held()
        for site, lease in snap.leases.items():
            # Ours in the database but dropped here (the watchdog won a race with a renewal): free it.
            if lease.owner == self.me and lease.expires_at > snap.now and mine.get(site) != lease.epoch:
                self.store.release(site, self.me, lease.epoch)
                leases[site] = Lease(site, lease.owner, lease.epoch, snap.now)
        take, give_up, reason = plan(self.sites, leases, snap.workers, self.me, snap.now)
        # The next round comes no later than the moment another worker's lease runs out (a dead worker's).
        others = [x.expires_at for x in leases.values() if x.owner != self.me and x.expires_at > snap.now]
        ends = min(others, default=None)
        self._expiry_in = (
            self.round_s if ends is None else (ends - snap.now).total_seconds() + _AFTER_EXPIRY_S
        )
        if reason is not self.last_reason:
            self._log.info("leases.plan", reason=reason.value, take=take, give_up=give_up, held=len(mine))
            self.last_reason = reason
        for site in give_up:
            self._give_up(site)
        missed = False
        for site in take:
            if self._stopping.is_set():
                return False
            sent = time.monotonic()
            won = self.store.acquire(site, self.me)
            if won is None:
                missed = True  # another worker was quicker: plan again, other sites may be free
            else:
                self._won(site, won, sent)
        return missed

    def _extend(self, site: str, epoch: int, sent: float) -> None:
        with self._state:
            held = self._held.get(site)
            # A deadline already passed stays passed (``holds`` said False: the gateway let the session go);
            # the watchdog drops the site, and a later round may take it again under a new epoch.
            if held is not None and held.epoch == epoch and held.deadline > time.monotonic():
                held.deadline = sent + self.lease_s - self.margin_s
        self._changed.set()

    def _won(self, site: str, epoch: int, sent: float) -> None:
        with self._calls[site]:
            with self._state:
                self._held[site] = _Held(epoch, sent + self.lease_s - self.margin_s)
            self._changed.set()
            HELD.inc()
            WON.inc()
            self._log.info("leases.won", site=site, epoch=epoch)
            self._call(self._on_won, site, epoch)

    def _lose(self, site: str, epoch: int, why: Why) -> bool:
        """Let ``site`` go (if still held at ``epoch``) and call ``on_lost``; False when already let go.

        ``GIVEN_UP``: the site stays held (its writes fenced with ``epoch``) until ``on_lost`` returns;
        otherwise it is dropped first (``holds`` False, writes refused), then ``on_lost``."""
        with self._calls[site]:
            with self._state:
                held = self._held.get(site)
                if held is None or held.epoch != epoch or held.leaving:
                    return False
                if why is Why.GIVEN_UP:
                    held.leaving = True
                else:
                    del self._held[site]
            HELD.dec()
            LOST.labels(why.name.lower()).inc()
            self._log.warning("leases.lost", site=site, epoch=epoch, why=why.value)
            self._call(self._on_lost, site)
            with self._state:
                if self._held.get(site) is held:
                    del self._held[site]
            return True

    def _give_up(self, site: str) -> None:
        """``on_lost`` while still held, then the release (the next owner may start it at once)."""
        epoch = self.epoch(site)
        if epoch is None or not self._lose(site, epoch, Why.GIVEN_UP):
            return
        try:
            self.store.release(site, self.me, epoch)
        except SQLAlchemyError as exc:  # it expires by itself within the lease time
            self._log.warning("leases.release_failed", site=site, error=str(exc)[:200])

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            self._log.exception("leases.callback_failed", callback=getattr(callback, "__name__", "?"))

    # --- the watchdog ----------------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.is_set():
            now = time.monotonic()
            with self._state:
                # a site being given up is stopping already (and its writes are fenced in the database)
                due = [(s, h.epoch) for s, h in self._held.items() if h.deadline <= now and not h.leaving]
                nearest = min((h.deadline for h in self._held.values()), default=now + self.round_s)
            for site, epoch in due:
                self._lose(site, epoch, Why.DEADLINE)
            self._changed.wait(max(0.01, min(nearest - time.monotonic(), self.round_s)))
            self._changed.clear()


__all__ = ["LeaseKeeper", "OnLost", "OnWon", "Why", "worker_id"]
