"""The dispatcher: sends the outbox's receipts, each in isolation, and records what happened.

Receipts. ``pending`` → ``sending`` (claimed in its own transaction, with a lease) → ``sent``; or ``failed``
with the error and a retry time, ``abandoned`` after ``max_attempts``; ``standby`` channels wake one by one
as others fail (fallback); a non-RED message delivered on one channel has its others ``skipped``. What a
send's end means for its receipt is one pure function, ``alerts.notify.delivery.decide``; this module loads
the facts for it and stores its change.

Isolation (``alerts.notify.isolation``). Every send runs in a thread of its own with a hard deadline
(``timeout_s``), at most ``per_target`` at once per target (scheme, host, port). A receipt whose target has
no free slot is not claimed: it stays due, unattempted. A round waits at most ``round_wait_s`` for the sends
it started, then returns; a send still running is recorded by a later round, when it ends or when its
deadline passes (then its outcome is unknown and it is retried, carrying the same reference). So a slow or
hanging target holds up nobody else: the others' sends start at once and its own are abandoned at their
deadline.

Restarts and crashes. A receipt ``pending`` or ``failed`` is simply taken up by the next dispatcher. A
receipt left ``sending`` by a process that died has an unknown outcome: when its lease runs out it is
retried, so in that one case (and for a send abandoned mid-request) the receiver may get the message twice;
every message carries a short reference derived from its key (``N1a2b3c4d``, and the header
``X-Facwatch-Ref`` on ``json://``, ``xml://``, ``form://``) so a receiver can tell. The lease is written and
judged on the database's clock with PostgreSQL (``alerts.engine.claim_clock``), so a worker whose clock runs
ahead cannot take a send that another worker still has in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine, select, update

from alerts.engine import eventlog
from alerts.engine.claim_clock import claim_after, claim_now
from alerts.engine.db import notification_receipts, notifications, utc_now
from alerts.notify import metrics
from alerts.notify.audiences import Outgoing
from alerts.notify.channels import apprise_send
from alerts.notify.delivery import Change, Event, Facts, Outcome, Policy, Reason, decide
from alerts.notify.isolation import IsolatedSender, Send, Sender
from alerts.notify.messages import Templates
from alerts.notify.undelivered import Undelivered, recovered, safe
from alerts.notify.writer import Outbox
from facwatch.config import NotifySettings
from facwatch.model import Finding, Level, Person, Site

log = structlog.get_logger("alerts.notify.dispatcher")

ACTIVE = ("pending", "failed")
POLL_S = 0.05
"""While a round waits for its sends, it looks for newly due receipts this often."""
LEASE_UNKNOWN = "outcome unknown: the process stopped during the send; retried with the same reference"


class Dispatcher:
    """Delivers the outbox; call ``deliver_pending(now)`` from a loop (the application runs it every 0.5 s)."""

    def __init__(
        self,
        engine: Engine,
        *,
        site: Site | None = None,
        settings: NotifySettings | None = None,
        templates: Templates | None = None,
        fallback: Person | None = None,
        on_findings: Callable[[Sequence[Finding]], None] | None = None,
        send: Sender | None = None,
        max_attempts: int | None = None,
        backoff_s: float | None = None,
        backoff_cap_s: float | None = None,
        batch: int = 100,
    ) -> None:
        s = settings or NotifySettings()
        self.engine = engine
        self.site = site
        self.settings = s
        self.templates = templates or Templates(s.template_dir)
        self.on_findings = on_findings
        self.policy = Policy(
            max_attempts=max_attempts or s.max_attempts,
            backoff_s=backoff_s or s.backoff_s,
            backoff_cap_s=backoff_cap_s or s.backoff_cap_s,
        )
        self.batch = batch
        self.outbox = Outbox(s.red_channels)
        self.undelivered = Undelivered(self.outbox, s, self.templates, fallback)
        self.sender = IsolatedSender(
            send or apprise_send, per_target=s.per_target, total=s.workers, deadline_s=s.timeout_s
        )
        self._inflight: dict[int, tuple[Any, Send]] = {}
        self._cleared: list[Finding] = []
        self._last_now: datetime | None = None
        """The time of the last round: what ``close`` records is recorded at that time."""
        self._lock = threading.Lock()

    @property
    def fallback(self) -> Person | None:
        return self.undelivered.fallback

    def close(self, wait_s: float = 1.0) -> None:
        """Start nothing more; record what ends within ``wait_s``. A send still running is left ``sending``:
        its lease runs out and the next dispatcher retries it as outcome unknown."""
        self.sender.stop()
        with self._lock:
            self.sender.wait([s for _, s in self._inflight.values()], time.monotonic() + wait_s)
            self._harvest(self._last_now or utc_now(datetime.now().astimezone()), final=True)

    def deliver_pending(self, now: datetime, *, wait_s: float | None = None) -> int:
        """Release what waited, start every due send whose target has room, wait up to ``wait_s``
        (default ``round_wait_s``) for them, and record every send that ended; returns how many were sent."""
        now = self._last_now = utc_now(now)
        wait = self.settings.round_wait_s if wait_s is None else wait_s
        with self._lock:
            self.outbox.release_held(self.engine, self.site, self.templates, now)
            self._recover(now)
            sent = self._harvest(now)
            began = time.monotonic()
            until = began + wait
            running = self._start_due(now, now, self.batch)
            budget = self.batch - len(running)
            while running and time.monotonic() < until:
                # While it waits, the round goes on starting what becomes due (a new RED), what a slot
                # that was freed lets start, and a fallback channel that a failure woke.
                self.sender.wait(running, min(until, time.monotonic() + POLL_S), first=True)
                sent += self._harvest(now)
                due_by = now + timedelta(seconds=time.monotonic() - began)
                more = self._start_due(now, due_by, budget) if budget > 0 else []
                budget -= len(more)
                running = [s for s in running if s.result() is None] + more
            sent += self._harvest(now)
            findings = self._cleared + self.undelivered.check(self.engine, now)
            self._cleared = []
        if findings:
            if self.on_findings is not None:
                self.on_findings(findings)
            else:
                for finding in findings:
                    log.error("undelivered", asset=finding.asset, summary=finding.summary)
        return sent

    # --- starting sends --------------------------------------------------------------------------------------

    def _start_due(self, now: datetime, due_by: datetime, limit: int) -> list[Send]:
        """Start up to ``limit`` sends due by ``due_by`` whose target has room; the others stay due, unattempted."""
        started: list[Send] = []
        full: set[str] = set()  # URLs whose target had no room: not fetched again this round
        for _ in range(8):
            want = limit - len(started)
            rows = self._due(due_by, want, full) if want > 0 else []
            if not rows:
                break
            for row in rows:
                if not self.sender.has_room(row.url):
                    full.add(row.url)
                    continue
                if not self._claim(row.id, row.status, row.attempts, now):
                    continue
                outgoing = Outgoing(row.key, row.site, row.ticket_id, row.audience, row.recipient,
                                    (row.url,), row.title, row.body)  # fmt: skip
                handle = self.sender.start(row.url, row.title, row.body, outgoing)
                if handle is None:  # taken meanwhile (another user of the sender), or stopping
                    self._record(row, Event(Outcome.NOT_STARTED), now)
                    full.add(row.url)
                    continue
                self._inflight[row.id] = (row, handle)
                started.append(handle)
            if len(rows) < want:
                break
        return started

    def _due(self, now: datetime, limit: int, skip: set[str]) -> list[Any]:
        r, n = notification_receipts, notifications
        query = (
            select(r.c.id, r.c.url, r.c.status, r.c.attempts, r.c.notification_id)
            .add_columns(n.c.key, n.c.site, n.c.ticket_id, n.c.audience, n.c.recipient, n.c.title, n.c.body)
            .add_columns(n.c.level, n.c.undelivered_at, n.c.asset)
            .join(n, n.c.id == r.c.notification_id)
            .where(r.c.status.in_(ACTIVE), r.c.next_attempt_at <= now)
            .order_by(r.c.next_attempt_at, r.c.id)
            .limit(limit)
        )
        if skip:
            query = query.where(r.c.url.not_in(sorted(skip)))
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def _claim(self, receipt_id: int, status: str, attempts: int, now: datetime) -> bool:
        """Take a due receipt for one send (True: this process won it). Compared on the attempts too: a row
        another worker sent and failed meanwhile is back in the same status, but not due yet. The lease is
        on the database's clock with PostgreSQL (``claim_clock``): another worker's clock cannot end it early."""
        r = notification_receipts
        lease = claim_after(self.engine.dialect.name, now, self.settings.timeout_s * 2 + 5)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(r)
                .where(r.c.id == receipt_id, r.c.status == status, r.c.attempts == attempts)
                .values(status="sending", attempts=r.c.attempts + 1, updated_at=now, lease_until=lease)
            )
            return result.rowcount == 1

    # --- recording what happened ---------------------------------------------------------------------------

    def _harvest(self, now: datetime, *, final: bool = False) -> int:
        """Record every send of ours that ended or passed its deadline; returns how many were sent."""
        sent = 0
        at = time.monotonic()
        for rid, (row, handle) in list(self._inflight.items()):
            result = handle.result(at)
            if result is None:
                if final:  # left "sending": the lease decides later
                    del self._inflight[rid]
                continue
            del self._inflight[rid]
            metrics.observe_send(row.url, result.outcome.value, (handle.ended_at or at) - handle.started_at)
            self._record(row, Event(result.outcome, result.error), now)
            sent += result.outcome is Outcome.SENT
        return sent

    def _recover(self, now: datetime) -> None:
        """A send whose lease ran out in another (dead) process has an unknown outcome: retry it, saying so."""
        r, n = notification_receipts, notifications
        query = (
            select(r.c.id, r.c.url, r.c.attempts, r.c.notification_id, n.c.key, n.c.site, n.c.recipient)
            .add_columns(n.c.level, n.c.undelivered_at, n.c.asset)
            .join(n, n.c.id == r.c.notification_id)
            .where(r.c.status == "sending", r.c.lease_until <= claim_now(self.engine.dialect.name, now))
        )
        with self.engine.connect() as conn:
            rows = [row for row in conn.execute(query) if row.id not in self._inflight]
        for row in rows:
            # The claim counted the attempt already: the row's attempts include it.
            self._record(row, Event(Outcome.UNKNOWN, LEASE_UNKNOWN), now, counted=True)

    def _record(self, row: Any, event: Event, now: datetime, *, counted: bool = False) -> None:
        r = notification_receipts
        red = row.level == Level.RED.value
        with self.engine.begin() as conn:
            delivered = conn.execute(
                select(r.c.id).where(
                    r.c.notification_id == row.notification_id, r.c.status == "sent", r.c.id != row.id
                )
            ).first()
            attempts = row.attempts if counted else row.attempts + 1
            facts = Facts(
                attempts=attempts, red=red, delivered_elsewhere=delivered is not None, policy=self.policy
            )
            change, reason = decide(facts, event, now)
            self._store(conn, row, change, now)
            late = change.status == "sent" and row.undelivered_at is not None and row.asset is not None
            if late and (finding := recovered(conn, row, now)) is not None:
                self._cleared.append(finding)
        _log(row, change, reason)

    def _store(self, conn: Any, row: Any, change: Change, now: datetime) -> None:
        r = notification_receipts
        values: dict[str, object] = {
            "status": change.status,
            "attempts": change.attempts,
            "updated_at": now,
            "lease_until": None,
        }
        if change.status == "sent":
            values |= {"sent_at": change.sent_at, "error": None}
        elif change.status != "pending":
            values["error"] = change.error
        if change.next_attempt_at is not None:
            values["next_attempt_at"] = change.next_attempt_at
        conn.execute(update(r).where(r.c.id == row.id).values(**values))
        if change.skip_others:
            conn.execute(
                update(r)
                .where(r.c.notification_id == row.notification_id, r.c.status.in_((*ACTIVE, "standby")))
                .values(status="skipped", updated_at=now)
            )
        if change.wake_next:
            standby = conn.execute(
                select(r.c.id)
                .where(r.c.notification_id == row.notification_id, r.c.status == "standby")
                .order_by(r.c.priority)
                .limit(1)
            ).first()
            if standby is not None:
                conn.execute(
                    update(r)
                    .where(r.c.id == standby.id, r.c.status == "standby")
                    .values(status="pending", next_attempt_at=now, updated_at=now)
                )
        receipt = {
            "receipt": row.id,
            "notification": row.key,
            "recipient": row.recipient,
            "target": safe(row.url),
            "status": change.status,
            "attempts": change.attempts,
        }
        eventlog.append(conn, "notification", str(row.site), receipt, now)  # in the receipt's transaction


def _log(row: Any, change: Change, reason: Reason) -> None:
    fields = {"receipt": row.id, "target": safe(row.url), "attempts": change.attempts, "reason": reason.value}
    if change.status == "abandoned":
        log.error("notification abandoned", error=change.error, **fields)
    elif change.status == "failed":
        log.warning("notification failed", error=change.error, **fields)
    else:
        log.debug("notification receipt", status=change.status, **fields)


__all__ = ["Dispatcher"]
