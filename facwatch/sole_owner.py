"""Who may run the sites on one state database: any number of workers together, or one process alone.

    facwatch run --only worker            leased  ─► a SHARED lock per part it runs (gateway, alerts)
    facwatch run [--only gateway,alerts]  alone   ─► an EXCLUSIVE lock per part it runs
    facwatch run --only api                       ─► no lock (it runs no site)

A process that runs a site's gateway or alerts without a lease judges every site it names: beside workers
(which share the same sites through leases) two processes would judge one site, open its alerts twice and
send twice. So whichever starts second is refused at once (``StartupError``: exit 1, the message on stderr),
naming the process that holds the lock and what to do.

- **PostgreSQL**: session advisory locks (``pg_try_advisory_lock`` / ``..._shared``, keys ``(NAMESPACE,
  part)``) on a connection of the process's own, whose ``application_name`` says who holds it; the refused
  process reads the holders from ``pg_locks`` and ``pg_stat_activity``. Taking the lock is atomic in the
  server (two processes starting at the same moment cannot both win), and it ends with the holder's
  connection: a crashed process frees it at once (a dead machine: after the server's TCP keepalive, set to
  about 20 s on this connection), with nothing to expire or clean up. The connection is pinged every
  ``PING_S``; when it breaks (a database restart) the lock is taken again as soon as the database answers,
  and if a process of the other kind took it meanwhile, this process stops every site at once and exits 1
  (``on_lost``) rather than judge beside it.
- **SQLite**: ``flock`` on ``<state db>.<part>.lock``, exclusive for workers too (with SQLite one process
  owns every site); the holder writes its name into the file for the refused one to read. The lock ends
  with the process; it reaches as far as the file system's locks do (one machine).

The decision (who conflicts, and what the operator is told) is the pure part: ``wanted``, ``Holder``,
``refusal``. The locks are the shell around it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Protocol

import psycopg
import structlog
from psycopg.rows import TupleRow
from sqlalchemy import Engine

from facwatch.errors import StartupError

log = structlog.get_logger("facwatch.sole_owner")

NAMESPACE = 0x66770001
"""First key of the advisory locks (the second is the part's)."""
PART_KEYS = {"gateway": 1, "alerts": 2}
"""The parts that run sites, and each one's second key. ``api`` runs no site and takes no lock."""
PING_S = 1.0
"""How often the lock's connection is checked (and, once broken, how often it is taken again)."""
_APP = "facwatch"


class Role(StrEnum):
    WORKER = "worker"
    """``--only worker``: shares the sites with other workers through leases."""
    ALONE = "alone"
    """Any other process running a site's gateway or alerts: owns every site it names, by itself."""


@dataclass(frozen=True, slots=True)
class Holder:
    """A process that holds (or wants) the lock: its role and its name (worker id, or host-pid)."""

    role: Role
    name: str

    def label(self) -> str:
        """``application_name`` on PostgreSQL (at most 63 bytes), the file's line on SQLite."""
        return f"{_APP} {self.role.value} {self.name}"[:63]

    @staticmethod
    def parse(label: str) -> Holder | None:
        words = label.strip().split(" ", 2)
        if len(words) != 3 or words[0] != _APP or words[1] not in Role.__members__.values():
            return None
        return Holder(Role(words[1]), words[2])

    def describe(self) -> str:
        if self.role is Role.WORKER:
            return f"worker {self.name} (facwatch run --only worker)"
        return f"{self.name} (facwatch run without --only worker: it runs every site by itself)"


def wanted(parts: Collection[str]) -> tuple[str, ...]:
    """The parts whose lock a process running ``parts`` takes (in a fixed order)."""
    return tuple(part for part in PART_KEYS if part in parts)


def refusal(me: Holder, part: str, others: Sequence[Holder], database: str, *, sqlite: bool) -> str:
    """What the operator is told when ``me`` may not run ``part`` because ``others`` hold its lock."""
    who = ", ".join(o.describe() for o in others) or "another facwatch process (not named)"
    if sqlite:
        other = "worker" if others and all(o.role is Role.WORKER for o in others) else "facwatch process"
        return (
            f"another {other} already runs on the SQLite state database {database} ({who}, the {part} of "
            "the sites): with SQLite one process owns every site; stop it first, or use PostgreSQL and "
            "--only worker to share the sites among several processes"
        )
    head = f"refusing to run the {part} of the sites: {who} already runs it on the state database {database}"
    if me.role is Role.WORKER:
        return (
            f"{head}. A process started without --only worker judges every site by itself, and a worker "
            "beside it would judge the same sites again (alerts opened and sent twice). Stop it and run "
            "every process as --only worker, or run this one with --only api"
        )
    if any(o.role is Role.WORKER for o in others):
        return (
            f"{head}. Workers share the sites through leases; this process would judge all of them again "
            "beside them (alerts opened and sent twice). Run it as --only worker (or --only api), or stop "
            "the workers first"
        )
    return f"{head}. Only one process may run the sites without leases: run several as --only worker"


# --- the shell ---------------------------------------------------------------------------------------------


class _Unreachable(StartupError):
    """The state database did not answer (at start: reported; while running: tried again)."""


class Guard(Protocol):
    def release(self) -> None: ...


OnLost = Callable[[str], None]


def claim(engine: Engine, parts: Collection[str], me: Holder, on_lost: OnLost) -> Guard | None:
    """Take the locks of the parts ``me`` runs, or raise ``StartupError`` naming who holds them. None: the
    process runs no site (``--only api``) or its SQLite database is in memory."""
    names = wanted(parts)
    if not names:
        return None
    if engine.dialect.name == "postgresql":
        return PgGuard(engine, names, me, on_lost)
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return FileGuard(Path(database), names, me)


class PgGuard:
    """Advisory locks on a PostgreSQL connection of its own, kept (and retaken after a break) by a thread."""

    def __init__(self, engine: Engine, parts: Sequence[str], me: Holder, on_lost: OnLost) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._where = engine.url.render_as_string(hide_password=True)
        self._parts, self._me, self._on_lost = parts, me, on_lost
        self._stop = threading.Event()
        self._conn = self._take()  # raises StartupError: nothing started
        self._thread = threading.Thread(target=self._keep, name="facwatch-sole-owner", daemon=True)
        self._thread.start()

    def _take(self, *, again: bool = False) -> psycopg.Connection[TupleRow]:
        """Connect and take every lock; ``again``: after a break, when the server may not yet have noticed
        that this process's former connection is gone (it holds the lock until then: wait, not refuse)."""
        try:
            conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=5,
                application_name=self._me.label(),
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
            )
        except psycopg.Error as exc:
            raise _Unreachable(f"cannot reach the state database {self._where}: {exc}") from exc
        try:
            # The server notices a dead holder (its machine gone) within about 20 s and frees the lock.
            conn.execute("SET tcp_keepalives_idle = 10")
            conn.execute("SET tcp_keepalives_interval = 5")
            conn.execute("SET tcp_keepalives_count = 2")
            shared = "_shared" if self._me.role is Role.WORKER else ""
            for part in self._parts:
                row = conn.execute(
                    f"SELECT pg_try_advisory_lock{shared}(%s, %s)", (NAMESPACE, PART_KEYS[part])
                ).fetchone()
                if row is None or not row[0]:
                    others = self._holders(conn, part)
                    if again and others and all(other == self._me for other in others):
                        raise _Unreachable("the lock is still held by this process's former connection")
                    raise StartupError(refusal(self._me, part, others, self._where, sqlite=False))
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                conn.close()  # the locks taken so far end with the connection
            raise
        return conn

    @staticmethod
    def _holders(conn: psycopg.Connection[TupleRow], part: str) -> list[Holder]:
        rows = conn.execute(
            "SELECT DISTINCT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.pid <> pg_backend_pid() "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s ORDER BY 1",
            (NAMESPACE, PART_KEYS[part]),
        ).fetchall()
        found = [Holder.parse(str(r[0] or "")) for r in rows]
        return [h for h in found if h is not None]

    def _keep(self) -> None:
        """Ping the connection; when it breaks, take the locks again as soon as the database answers."""
        broken, waiting = False, ""
        while not self._stop.wait(PING_S):
            try:
                if broken:
                    conn = self._take(again=True)
                    old, self._conn = self._conn, conn
                    with contextlib.suppress(psycopg.Error):
                        old.close()
                    broken, waiting = False, ""
                    log.info("sole_owner.lock_taken_again", holder=self._me.label())
                else:
                    self._conn.execute("SELECT 1")
            except psycopg.Error as exc:
                if not broken:
                    log.warning("sole_owner.connection_lost", error=str(exc).splitlines()[0][:200])
                broken = True
            except _Unreachable as exc:  # still away: try again after the next pause
                if str(exc) != waiting:
                    waiting = str(exc)
                    log.info("sole_owner.waiting", reason=waiting.splitlines()[0][:200])
            except StartupError as exc:
                log.critical("sole_owner.lock_lost", reason=str(exc))
                self._on_lost(f"lost the lock on the state database while it was away, and {exc}")
                return

    def release(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(PING_S + 10)
        with contextlib.suppress(psycopg.Error):
            self._conn.close()  # ends the session, and its locks with it


class FileGuard:
    """SQLite: an exclusive ``flock`` on ``<state db>.<part>.lock`` per part (one process owns every site)."""

    def __init__(self, database: Path, parts: Sequence[str], me: Holder) -> None:
        self._handles: list[IO[bytes]] = []
        try:
            for part in parts:
                self._handles.append(self._lock(database, part, me))
        except BaseException:
            self.release()
            raise

    @staticmethod
    def _lock(database: Path, part: str, me: Holder) -> IO[bytes]:
        path = database.with_name(f"{database.name}.{part}.lock")
        handle = path.open("a+b")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            other = Holder.parse(handle.read(200).decode("utf-8", "replace"))
            handle.close()
            raise StartupError(
                refusal(me, part, [other] if other else [], str(database), sqlite=True)
            ) from None
        handle.truncate(0)
        handle.write(f"{me.label()}\n".encode())
        handle.flush()
        os.fsync(handle.fileno())
        return handle

    def release(self) -> None:
        handles, self._handles = self._handles, []
        for handle in handles:
            with contextlib.suppress(OSError):
                handle.close()


__all__ = [
    "NAMESPACE",
    "PART_KEYS",
    "FileGuard",
    "Guard",
    "Holder",
    "PgGuard",
    "Role",
    "claim",
    "refusal",
    "wanted",
]
