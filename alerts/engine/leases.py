"""Site leases: workers share the sites through leases in PostgreSQL, with a fencing epoch.

    LeaseKeeper (alerts/engine/leases_keeper.py), every lease/3:
        heartbeat ─► renew what it holds ─► snapshot ─► plan() ─► give up the surplus, take free sites
    AlertService write transaction:
        fence(conn, site, owner, epoch)  ─► FOR KEY SHARE on the lease row; StaleOwner unless still ours

- ``plan`` is the pure core: a worker's fair share is ceil(sites / live workers); it takes free sites (no
  lease, or an expired one) up to its share and gives up what it holds above it (a worker joined), never
  more than it holds. Free sites are tried in an order of the worker's own (a hash of its id and the site), so
  that workers starting together rarely want the same site.
- ``LeaseStore`` is the shell. Every time is the **database's** clock (``clock_timestamp()``), so workers on
  machines whose clocks disagree still agree on when a lease ends. Taking a lease (``acquire``) bumps its
  ``epoch``; ``renew`` extends only a lease that is still ours and not yet expired; ``release`` expires it at
  once, so the next owner takes over without waiting for the lease time. A release, a worker joining and a
  worker leaving are announced on the NOTIFY channel ``facwatch_leases``: the keepers (``listen``) run a
  round at once instead of at their next one, so a handover takes milliseconds.
- ``fence`` runs first in each write transaction of the engine: it locks the lease row ``FOR KEY SHARE`` (a
  takeover, which locks the row ``FOR UPDATE``, waits until the write has committed, a renewal does not, and the write's transaction cannot
  outlive the lease by idling: ``idle_in_transaction_session_timeout``) and raises ``StaleOwner`` unless the
  owner and epoch still match and the lease has not expired. So a paused former owner writes nothing.
- With SQLite (one machine, one process) there are no leases: the process owns every site and the engine
  runs without a fence.
"""

from __future__ import annotations

import contextlib
import math
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import psycopg
from sqlalchemy import Connection, Engine, text

from alerts.engine.errors import AlertsError

LEASE_S = 15.0
"""The default lease time; a lease is renewed every third of it."""


class LeasesUnavailable(AlertsError):
    """The database could not be asked about leases (the keeper retries next round)."""


class StaleOwner(AlertsError):
    """A write for a site whose lease this worker no longer holds (another epoch, another owner, expired)."""

    def __init__(self, site: str, epoch: int, why: str) -> None:
        super().__init__(f"site {site}: write refused, lease epoch {epoch} is stale ({why})")
        self.site = site
        self.epoch = epoch
        self.why = why


@dataclass(frozen=True, slots=True)
class Lease:
    site: str
    owner: str
    epoch: int
    expires_at: datetime


class Reason(StrEnum):
    HOLDING = "holding its fair share"
    TAKING = "taking free sites up to its fair share"
    GIVING_UP = "giving up the sites above its fair share (a worker joined)"
    NOTHING_FREE = "below its fair share, but no site is free"


def fair_share(sites: int, workers: int) -> int:
    """The most sites one of ``workers`` live workers holds: ceil(sites / workers)."""
    return math.ceil(sites / max(1, workers))


def preference(me: str, site: str) -> int:
    """A stable order of the sites that differs from worker to worker (lower: wanted first)."""
    return zlib.crc32(f"{me}/{site}".encode())


def plan(
    sites: Sequence[str],
    leases: Mapping[str, Lease],
    workers: Collection[str],
    me: str,
    now: datetime,
) -> tuple[tuple[str, ...], tuple[str, ...], Reason]:
    """What worker ``me`` takes and gives up this round: ``(take, give_up, reason)``.

    ``leases``: the lease rows by site; ``workers``: the live workers' ids (``me`` counts whether listed or
    not); ``now``: the database's clock. A lease is held while ``expires_at > now``.
    """
    share = fair_share(len(sites), len(set(workers) | {me}))
    mine: list[str] = []
    free: list[str] = []
    for site in sites:
        lease = leases.get(site)
        if lease is None or lease.expires_at <= now:
            free.append(site)
        elif lease.owner == me:
            mine.append(site)
    if len(mine) > share:
        keep_order = sorted(mine, key=lambda s: (preference(me, s), s))
        return (), tuple(keep_order[share:]), Reason.GIVING_UP
    room = share - len(mine)
    if room == 0:
        return (), (), Reason.HOLDING
    if not free:
        return (), (), Reason.NOTHING_FREE
    wanted = sorted(free, key=lambda s: (preference(me, s), s))[:room]
    return tuple(wanted), (), Reason.TAKING


# --- the shell --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The leases and the live workers as the database saw them at ``now`` (its clock)."""

    now: datetime
    leases: Mapping[str, Lease]
    workers: frozenset[str]


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class LeaseStore:
    """Leases on PostgreSQL, on the database's clock. Each call is one short transaction whose lock and
    statement waits are bounded by ``wait_s`` (a round never hangs on a row a paused writer holds)."""

    def __init__(self, engine: Engine, *, lease_s: float = LEASE_S, wait_s: float | None = None) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("leases need PostgreSQL: with SQLite one process owns every site")
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self.engine = engine
        self.lease_s = lease_s
        self.wait_s = wait_s if wait_s is not None else lease_s / 3

    def _bound(self, conn: Connection) -> None:
        ms = _ms(self.wait_s)
        conn.execute(text(f"SET LOCAL lock_timeout = {ms}"))
        conn.execute(text(f"SET LOCAL statement_timeout = {ms}"))

    def heartbeat(self, me: str) -> None:
        """Say that worker ``me`` lives (live = seen within the lease time)."""
        with self.engine.begin() as conn:
            self._bound(conn)
            row = conn.execute(
                text(
                    "INSERT INTO workers (id, seen_at) VALUES (:me, clock_timestamp()) "
                    "ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at RETURNING (xmax = 0) AS joined"
                ),
                {"me": me},
            ).one()
            if row.joined:  # the others give up their surplus now rather than at their next round
                _notify(conn, f"joined {me}")
            # Workers that died long ago (each process has an id of its own) are forgotten.
            conn.execute(text("DELETE FROM workers WHERE seen_at < clock_timestamp() - interval '1 day'"))

    def leave(self, me: str) -> None:
        """Worker ``me`` stops: the others' fair share grows at once."""
        with self.engine.begin() as conn:
            self._bound(conn)
            conn.execute(text("DELETE FROM workers WHERE id = :me"), {"me": me})
            _notify(conn, f"left {me}")

    def snapshot(self) -> Snapshot:
        with self.engine.begin() as conn:
            self._bound(conn)
            now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            rows = conn.execute(text("SELECT site, owner, epoch, expires_at FROM site_leases"))
            leases = {r.site: Lease(r.site, r.owner, int(r.epoch), r.expires_at) for r in rows}
            live = conn.execute(
                text("SELECT id FROM workers WHERE seen_at > clock_timestamp() - make_interval(secs => :s)"),
                {"s": self.lease_s},
            )
            return Snapshot(now, leases, frozenset(str(r.id) for r in live))

    def acquire(self, site: str, me: str) -> int | None:
        """Take ``site`` when it has no lease or its lease has expired: the new epoch, or None (taken)."""
        with self.engine.begin() as conn:
            self._bound(conn)
            # FOR UPDATE waits for the fenced writes in flight (FOR KEY SHARE); renewals do not (their UPDATE
            # takes FOR NO KEY UPDATE), so a busy site's writes never hold its owner's renewal up.
            conn.execute(text("SELECT 1 FROM site_leases WHERE site = :site FOR UPDATE"), {"site": site})
            row = conn.execute(
                text(
                    "INSERT INTO site_leases AS l (site, owner, epoch, expires_at) "
                    "VALUES (:site, :me, 1, clock_timestamp() + make_interval(secs => :s)) "
                    "ON CONFLICT (site) DO UPDATE SET owner = EXCLUDED.owner, epoch = l.epoch + 1, "
                    "expires_at = EXCLUDED.expires_at WHERE l.expires_at <= clock_timestamp() "
                    "RETURNING l.epoch"
                ),
                {"site": site, "me": me, "s": self.lease_s},
            ).first()
            return None if row is None else int(row.epoch)

    def renew(self, held: Mapping[str, int], me: str) -> frozenset[str]:
        """Extend the leases ``held`` (site -> epoch) that are still ours and unexpired: the renewed sites."""
        if not held:
            return frozenset()
        with self.engine.begin() as conn:
            self._bound(conn)
            rows = conn.execute(
                text(
                    "UPDATE site_leases AS l SET expires_at = clock_timestamp() + make_interval(secs => :s) "
                    "FROM unnest(CAST(:sites AS text[]), CAST(:epochs AS bigint[])) AS h(site, epoch) "
                    "WHERE l.site = h.site AND l.epoch = h.epoch AND l.owner = :me "
                    "AND l.expires_at > clock_timestamp() RETURNING l.site"
                ),
                {"sites": list(held), "epochs": list(held.values()), "me": me, "s": self.lease_s},
            )
            return frozenset(str(r.site) for r in rows)

    def release(self, site: str, me: str, epoch: int) -> bool:
        """Expire our lease on ``site`` at once (the next owner need not wait); False when it was not ours."""
        with self.engine.begin() as conn:
            self._bound(conn)
            result = conn.execute(
                text(
                    "UPDATE site_leases SET expires_at = clock_timestamp() "
                    "WHERE site = :site AND owner = :me AND epoch = :epoch AND expires_at > clock_timestamp()"
                ),
                {"site": site, "me": me, "epoch": epoch},
            )
            if result.rowcount != 1:
                return False
            _notify(conn, f"released {site}")
            return True

    def listen(self) -> Listener:
        """A connection of its own that hears leases being released and workers joining or leaving."""
        return Listener(self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False))


CHANNEL = "facwatch_leases"
"""PostgreSQL NOTIFY channel: a lease released, a worker joined or left (keepers run a round at once)."""


def _notify(conn: Connection, what: str) -> None:
    conn.execute(text("SELECT pg_notify(:channel, :what)"), {"channel": CHANNEL, "what": what[:200]})


class Listener:
    """LISTEN on ``CHANNEL`` over a psycopg connection of its own (autocommit)."""

    def __init__(self, conninfo: str) -> None:
        try:
            self._conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
            self._conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            raise LeasesUnavailable(f"cannot listen for lease changes: {exc}") from exc

    def wait(self, timeout_s: float) -> bool:
        """Whether a change was heard within ``timeout_s``."""
        try:
            # Every notification that arrived together is consumed: the round that follows sees them all.
            return bool(list(self._conn.notifies(timeout=timeout_s, stop_after=1)))
        except psycopg.Error as exc:
            raise LeasesUnavailable(f"lost the lease listener: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self._conn.close()


def fence(conn: Connection, site: str, owner: str, epoch: int, *, lease_s: float = LEASE_S) -> None:
    """Run first in a write transaction: raise StaleOwner unless ``owner`` holds ``site`` at ``epoch`` now.

    Locks the lease row ``FOR KEY SHARE`` until the transaction ends, so a takeover (``acquire`` locks the row
    ``FOR UPDATE``) waits for this write, while the owner's renewals do not; the
    transaction may not sit idle longer than the lease (the server ends it), so a writer paused in the
    middle of it cannot hold a takeover up, and what it wrote never lands.
    """
    conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {_ms(lease_s)}"))
    row = conn.execute(
        text(
            "SELECT owner, epoch, expires_at > clock_timestamp() AS live "
            "FROM site_leases WHERE site = :site FOR KEY SHARE"
        ),
        {"site": site},
    ).first()
    if row is None:
        raise StaleOwner(site, epoch, "the site has no lease")
    if row.owner != owner or int(row.epoch) != epoch:
        raise StaleOwner(site, epoch, f"taken over at epoch {row.epoch}")
    if not row.live:
        raise StaleOwner(site, epoch, "the lease has expired")


__all__ = [
    "CHANNEL",
    "LEASE_S",
    "Lease",
    "LeaseStore",
    "LeasesUnavailable",
    "Listener",
    "Reason",
    "Snapshot",
    "StaleOwner",
    "fair_share",
    "fence",
    "plan",
    "preference",
]
