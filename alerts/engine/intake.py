"""The durable findings queue: judged batches wait on local disk until the state database has them.

    gateway worker ─► judge (rules, in memory) ─► Intake.put ─► queue (fsync'd SQLite) ─► committer ─► state DB
                                                                                   (deleted after the commit)

- No finding is lost: ``put`` returns only once the judgement is in the queue file (one fsync'd SQLite
  transaction, like ``ingest/spool.py``); the committer thread commits the oldest entry through the alert
  service and deletes it only after that commit. A crash in between commits it again on the next start
  (the engine ignores a repeat of what it already has, even an incident that resolved since:
  ``conditions.decide_finding``, ``RECORDED``), before anything newer: the queue is in order.
- A state-database outage delays alerts, it never drops them: entries stay queued and are retried with
  backoff (to 2 s); when the database is back each alert opens at its onset's event time, and every
  ticket opened or joined by an entry that waited gets an ``opened_late`` timeline entry saying why
  ("state database unreachable for N s").
- While the database has been unreachable for more than ``tell_after_s`` (60 s), the fallback person is told
  directly, once per outage, and again when it is back (``alerts/engine/intake_tell.py``).
- A batch that caused no finding is not written to disk: its only effect (the engine noting how current
  each asset's data is, and opening or resolving what held long enough) is kept in memory, merged, and
  committed when the queue is empty; the SLA ticker does the same from the wall clock anyway.
- An outage is not a bug (``is_outage``): a commit that fails ``_BUG_ATTEMPTS`` times while the database
  answers is set aside in the queue file with its error (``intake_queue.FindingsQueue.put_aside``), so that
  one bad entry never holds up the findings behind it.
- Bounded: at ``max_entries`` queued judgements ``put`` waits (the gateway stops acknowledging: the broker
  holds the messages). Findings are rare (a change of a condition), so the bound is far away.
- A commit refused because this worker no longer holds the site's lease (``StaleOwner``) is final: the refused
  entry and every entry behind it are dropped, never committed under another epoch; an entry an earlier run
  left is dropped before it is committed when a later owner's checkpoint supersedes it. Why nothing is lost by
  this: ``alerts/engine/intake_stale.py``.
- ``backlog()`` and ``lag_s()`` (the age of the oldest entry) are for the readiness check.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import exc as sa_exc

from alerts.engine.intake_queue import Entry, FindingsQueue, Judgement, Late, decode, encode, merge
from alerts.engine.intake_stale import DROPPED_STALE, drop_queued, drop_superseded
from alerts.engine.intake_tell import FallbackTeller, TellFallback
from alerts.engine.leases import StaleOwner
from facwatch.clock import Clock, WallClock
from facwatch.errors import FacwatchError
from facwatch.model import ms_from_utc

log = structlog.get_logger("facwatch.intake")

BACKLOG = Gauge(
    "facwatch_intake_backlog", "Judged batches with findings waiting for the state database", ["site"]
)
STATE_DB_DOWN = Gauge("facwatch_intake_state_db_down", "1 while commits to the state database fail", ["site"])
COMMITTED = Counter("facwatch_intake_committed_total", "Judgements committed to the state database", ["site"])
SET_ASIDE = Counter(
    "facwatch_intake_set_aside_total", "Queued judgements set aside after failing as a bug", ["site"]
)

_RETRY_MAX_S = 2.0
_BUG_ATTEMPTS = 3
"""A commit that fails this often with an error that is not an outage is a bug: the entry is set aside."""


class Committer(Protocol):
    def commit(self, judgement: Judgement, late: Late | None = None) -> None: ...


def is_outage(exc: BaseException) -> bool:
    """Whether a failed commit means the state database cannot be reached (retry), not a bug."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    outages = (
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.DisconnectionError,
        sa_exc.TimeoutError,
        ConnectionError,
        TimeoutError,
        OSError,
    )
    return isinstance(exc, outages)


class IntakeClosed(FacwatchError):
    """``put`` on an intake that is stopping: the judgement was not queued (the caller must not ack)."""


# --- the shell: put, commit, tell -----------------------------------------------------------------------


class Intake:
    """Durably queues judgements and commits them, in order, through ``committer`` (the alert service)."""

    def __init__(
        self,
        committer: Committer,
        path: Path | str,
        *,
        site: str,
        clock: Clock | None = None,
        max_entries: int = 100_000,
        tell_fallback: TellFallback | None = None,
        tell_after_s: float = 60.0,
        epoch: int | None = None,
        checkpoint_epoch: Callable[[], int | None] | None = None,
    ) -> None:
        """``epoch``: the site's lease epoch this intake judges under (None: no leases), stored with each entry;
        ``checkpoint_epoch``: reads the epoch of the site's newest checkpoint, asked once before the entries an
        earlier run left are committed (``superseded``)."""
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._committer = committer
        self._queue = FindingsQueue(path)
        self._site = site
        self._clock: Clock = clock or WallClock()
        self._max_entries = max_entries
        self._idle: Judgement | None = None
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._down_since: float | None = None  # monotonic, while commits fail
        self._down_wall: datetime | None = None
        self._last_outage: tuple[int, str] | None = None  # (ended, wall ms; the reason for late entries)
        self._bug_attempts = 0
        self._stale = False  # a commit was refused: the lease this intake worked under is gone for good
        self._judging = 0  # batches the rules took whose judgement is not queued yet (``judging``)
        self._judging_lock = threading.Lock()
        self._inherited = self._queue.last_id()
        """Entries up to this id were queued by an earlier run: committed first, and noted as late."""
        self._epoch = epoch
        self._checkpoint_epoch = checkpoint_epoch
        self._screened = epoch is None or checkpoint_epoch is None or not len(self._queue)
        """Whether the inherited entries were checked against the newest checkpoint's epoch (``_screen``)."""
        self.committed = 0
        """Judgements committed since start (for tests and metrics)."""
        self.refused = 0
        """Commits refused because this worker no longer holds the site's lease."""
        self.dropped = 0
        """Judgements dropped after a refusal (judged under a lost lease; the new owner judges them again)."""
        self._log = log.bind(site=site)
        self._teller = FallbackTeller(site, tell_fallback, tell_after_s, self._log)

    @property
    def tells(self) -> list[str]:
        """Titles of the direct messages sent to the fallback person (newest last)."""
        return self._teller.tells

    # --- what others ask -----------------------------------------------------------------------------

    def backlog(self) -> int:
        """Judgements with findings waiting for the state database."""
        return len(self._queue)

    def lag_s(self) -> float:
        """How long the oldest waiting judgement has waited (0 when none waits)."""
        oldest = self._queue.oldest_ms
        if oldest is None:
            return 0.0
        return max(0.0, (ms_from_utc(self._clock.now()) - oldest) / 1000)

    def uncommitted(self) -> int:
        """Judgements not in the state database yet: being judged, or queued (what the checkpoint waits for).

        Read it while no batch is judged (``AlertService.under_lock``): a batch counted by ``judging`` before
        its rules ran and uncounted only once its judgement is queued is never missed in between."""
        with self._judging_lock:
            judging = self._judging
        return judging + len(self._queue)

    @contextlib.contextmanager
    def judging(self) -> Iterator[Callable[[], None]]:
        """Wrap judging a batch and putting its judgement; the batch is counted in ``uncommitted`` from the
        call of the function it yields (``AlertService.judge(judged=...)``, under the judging lock as the
        rules take the batch) until its judgement is queued. A batch still waiting for the judging lock is not
        counted: the checkpoint's copy does not hold it, and under a steady stream of readings one is nearly
        always waiting (counted, 19 checkpoints of 20 were skipped)."""
        marked = False

        def mark() -> None:
            nonlocal marked
            if not marked:
                with self._judging_lock:
                    self._judging += 1
                marked = True

        try:
            yield mark
        finally:
            if marked:
                with self._judging_lock:
                    self._judging -= 1

    def down_s(self) -> float:
        """How long commits have been failing (0 while the state database answers)."""
        since = self._down_since
        return 0.0 if since is None else time.monotonic() - since

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the committer: what an earlier run left in the queue is committed first."""
        if self._thread is not None:
            return
        if len(self._queue):
            self._log.warning("intake.backlog_on_start", backlog=len(self._queue))
        self._thread = threading.Thread(target=self._run, name="facwatch-intake", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Commit what is queued (for up to ``timeout_s``), then stop; the rest waits for the next start,
        unless a commit was refused (the lease is lost): then it is dropped (see the module's docstring)."""
        deadline = time.monotonic() + timeout_s
        while self._thread is not None and (len(self._queue) or self._idle) and time.monotonic() < deadline:
            if self._down_since is not None or self._stale:
                break  # the database is gone, or the site another worker's: the queue file keeps it
            with self._wake:
                self._wake.notify_all()
                self._wake.wait(0.05)
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s + 15)
            if self._thread.is_alive():  # stuck in a commit the database never answers: leave the file open
                self._log.warning("intake.stop_abandoned", backlog=len(self._queue))
                return
            self._thread = None
        if self._stale:
            self._drop_stale("queued after the refusal")  # never committed under another epoch
        if len(self._queue):
            self._log.warning("intake.stopped_with_backlog", backlog=len(self._queue))
        self._queue.close()

    # --- put (the gateway worker) --------------------------------------------------------------------

    def put(self, judgement: Judgement | None) -> None:
        """Keep ``judgement`` until it is committed. Returns once it is durable (or merged, without findings).

        Waits while the queue is at its bound; raises IntakeClosed when stopping first.
        """
        if judgement is None:
            return
        if not judgement.findings:
            with self._wake:
                self._idle = merge(self._idle, judgement)
                self._wake.notify_all()
            return
        waited = False
        while len(self._queue) >= self._max_entries:
            if not waited:
                self._log.warning("intake.full", backlog=len(self._queue))
                waited = True
            if self._stopping.wait(0.2):
                raise IntakeClosed("the intake is stopping")
        delay = 0.05
        while True:
            try:
                self._queue.append(judgement, ms_from_utc(self._clock.now()), self._epoch)
                BACKLOG.labels(self._site).set(len(self._queue))
                break
            except sqlite3.Error as exc:  # a full disk, a lock: retry, never drop
                self._log.error("intake.queue_write_failed", error=str(exc)[:200])
            if self._stopping.wait(delay):
                raise IntakeClosed("the intake is stopping")
            delay = min(delay * 2, _RETRY_MAX_S)
        with self._wake:
            self._wake.notify_all()

    # --- the committer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.05
        while not self._stopping.is_set():
            if self._stale:  # the lease is gone: nothing more is committed here, until the site is stopped
                with self._wake:
                    self._idle = None
                self._drop_stale("queued after the refusal")
                self._stopping.wait(0.2)
                continue
            try:
                progress = self._screen() if not self._screened else self._commit_next()
            except Exception:  # the queue file itself failed: keep going, it is retried
                self._log.exception("intake.committer_failed")
                self._stopping.wait(1.0)
                continue
            if progress:
                delay = 0.05
                continue
            if self._down_since is not None:
                self._teller.maybe_tell(self.down_s, self._queue)
                self._stopping.wait(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            with self._wake:
                if not len(self._queue) and self._idle is None and not self._stopping.is_set():
                    self._wake.wait(0.5)

    def _commit_next(self) -> bool:
        """Commit the oldest entry (else the merged finding-less judgements). True: progress was made."""
        head = self._queue.head()
        entry = head[0] if head else None
        idle: Judgement | None = None
        if entry is not None:
            try:
                judgement = entry.judgement()
            except Exception as exc:  # written by another version, or damaged: never block what follows
                self._put_aside(entry, f"undecodable: {exc}")
                return True
            queued_ms = entry.queued_ms
        else:
            with self._wake:
                idle, self._idle = self._idle, None
            if idle is None:
                return False
            judgement, queued_ms = idle, ms_from_utc(self._clock.now())
        late = self._late(queued_ms, None if entry is None else entry.id)
        attempt = (time.monotonic(), self._clock.now())
        try:
            self._committer.commit(judgement, late)
        except Exception as exc:
            if idle is not None:
                with self._wake:
                    self._idle = merge(idle, self._idle) if self._idle is not None else idle
            if isinstance(exc, StaleOwner):
                self._log.warning("intake.not_owner", backlog=len(self._queue), error=str(exc)[:300])
                self._stale = True
                self.refused += 1
                self._drop_stale(f"refused: {exc}")
                return False
            if is_outage(exc):
                self._failed(exc, attempt)
                return False
            return self._bug(entry, exc)
        if entry is not None:
            self._queue.delete(entry.id)
            BACKLOG.labels(self._site).set(len(self._queue))
        self._bug_attempts = 0
        self.committed += 1
        COMMITTED.labels(self._site).inc()
        self._recovered()
        return True

    def _screen(self) -> bool:
        """Before anything an earlier run left is committed: drop the entries judged under a lease epoch older
        than the newest checkpoint's (``superseded``); True once done. An outage is retried; a failure that is
        not one (a bug) is logged and the entries are committed as before."""
        attempt = (time.monotonic(), self._clock.now())
        try:
            newest = None if self._checkpoint_epoch is None else self._checkpoint_epoch()
        except Exception as exc:
            if is_outage(exc):
                self._failed(exc, attempt)
                return False
            self._log.error("intake.screen_failed", error=repr(exc)[:300])
            newest = None
        self._screened = True
        self._recovered()
        if newest is None:
            return True
        now_ms = ms_from_utc(self._clock.now())
        self._count_dropped(drop_superseded(self._queue, self._inherited, newest, now_ms, self._log))
        return True

    def _drop_stale(self, why: str) -> None:
        """Drop every queued judgement: judged under a lease that is gone, judged again by the new owner."""
        self._count_dropped(drop_queued(self._queue, why, self.lag_s(), self._log))

    def _count_dropped(self, dropped: int) -> None:
        if dropped:
            self.dropped += dropped
            DROPPED_STALE.labels(self._site).inc(dropped)
            BACKLOG.labels(self._site).set(len(self._queue))

    def _bug(self, entry: Entry | None, exc: Exception) -> bool:
        """A commit failed and the database answers: a bug. Retried a few times, then the entry is set
        aside (kept in the queue file, logged) so that the findings behind it are not held up."""
        self._bug_attempts += 1
        self._log.error("intake.commit_failed", attempt=self._bug_attempts, error=repr(exc)[:300])
        if self._bug_attempts < _BUG_ATTEMPTS:
            self._stopping.wait(0.2)
            return False
        self._bug_attempts = 0
        if entry is None:
            with self._wake:
                self._idle = None  # only "how current the data is": the ticker catches up from the clock
            return True
        self._put_aside(entry, repr(exc))
        return True

    def _put_aside(self, entry: Entry, error: str) -> None:
        self._queue.put_aside(entry, error)
        SET_ASIDE.labels(self._site).inc()
        BACKLOG.labels(self._site).set(len(self._queue))
        self._log.error("intake.set_aside", entry=entry.id, error=error[:300])

    def _late(self, queued_ms: int, entry_id: int | None) -> Late | None:
        now = self._clock.now()
        if self._down_since is not None and self._down_wall is not None:
            down = (now - self._down_wall).total_seconds()
            return Late(now, f"opened late: state database unreachable for {down:.0f} s")
        if self._last_outage is not None and queued_ms <= self._last_outage[0]:
            return Late(now, self._last_outage[1])
        if entry_id is not None and entry_id <= self._inherited:  # left by an earlier run (a crash)
            waited = (ms_from_utc(now) - queued_ms) / 1000
            reason = f"opened late: waited {waited:.0f} s for the state database (facwatch restarted)"
            return Late(now, reason)
        return None

    def _failed(self, exc: Exception, attempt: tuple[float, datetime]) -> None:
        """A commit failed: the outage began when that attempt did (a locked database fails slowly)."""
        if self._down_since is None:
            self._down_since, self._down_wall = attempt
            STATE_DB_DOWN.labels(self._site).set(1)
            self._log.error("intake.state_db_unreachable", backlog=len(self._queue), error=str(exc)[:300])

    def _recovered(self) -> None:
        if self._down_since is None or self._down_wall is None:
            return
        now = self._clock.now()
        down = (now - self._down_wall).total_seconds()
        reason = f"opened late: state database unreachable for {down:.0f} s"
        self._last_outage = (ms_from_utc(now), reason)
        self._log.warning("intake.state_db_back", down_s=round(down, 1), backlog=len(self._queue))
        self._down_since = self._down_wall = None
        STATE_DB_DOWN.labels(self._site).set(0)
        self._teller.back(down)


__all__ = [
    "Committer",
    "Entry",
    "FindingsQueue",
    "Intake",
    "IntakeClosed",
    "Judgement",
    "Late",
    "decode",
    "encode",
    "is_outage",
    "merge",
]
