"""Notifications: a durable outbox in the state database, and a dispatcher that sends it through apprise.

Outbox. A notification row is written in the same transaction as the alert, action or escalation that
caused it, under an idempotency key (``T-000001:A-000001:engineer:eng-wang``): writing the same key again
adds nothing, so a replayed batch or a restarted clock never notifies twice. A row that waits (the group
window, or the owners' quiet hours) is ``held``; when its time comes, everything held for the same
recipient goes out as one message (a digest with the count and the worst cases first) and the members are
``merged`` into it. A ``ready`` notification has one receipt per channel, in the recipient's order.

Receipts. ``pending`` → ``sending`` (claimed in its own transaction, with a lease) → ``sent``; or
``failed`` with the error and a retry time with exponential backoff, ``abandoned`` after ``max_attempts``.
RED goes to the first ``red_channels`` channels at once, anything else to the first; the other channels
are ``standby`` and each failure wakes the next one (fallback). Once a non-RED message is delivered on one
channel, its other channels are ``skipped``.

Restarts and crashes. A receipt ``pending`` or ``failed`` is simply taken up by the next dispatcher. A
receipt left ``sending`` (the process died during the send, or the send hung past ``timeout_s``) has an
unknown outcome: when its lease runs out it is retried, so in that one case the receiver may get the
message twice; every message carries a short reference derived from the key (``N1a2b3c4d``, and the
header ``X-Facwatch-Ref`` on ``json://``, ``xml://``, ``form://``) so a receiver can tell. A receipt whose
outcome is known (sent, or failed with an answer) is never sent again.

RED not delivered on any channel within ``undelivered_s``: the dispatcher reports a ``notify.undelivered``
finding (level red, the ticket's asset) through ``on_findings`` (the application hands it to the alert
engine) and sends the message to the site's fallback person.

Sending goes through one seam, ``alerts.notify.channels.apprise_send`` (apprise, and the demo's ``console://`` and
``jsonl://`` schemes); tests and benchmarks can hand the dispatcher another ``send``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, func, insert, select, update

from alerts.engine.db import new_pk, notification_receipts, notifications, utc, utc_now
from alerts.engine.notices import Notice
from alerts.notify.audiences import FALLBACK, OWNERS, Outgoing, Planner, digest, ref_of
from alerts.notify.channels import DeliveryFailed, apprise_send, jsonl_path
from alerts.notify.messages import LEVEL_NAMES, Templates, languages
from facwatch.config import NotifySettings
from facwatch.model import Finding, Level, Person, Site, ms_from_utc

log = structlog.get_logger("alerts.notify.outbox")

Sender = Callable[[str, str, str, Outgoing], None]
"""``send(url, title, body, outgoing)``: deliver one message to one target or raise ``DeliveryFailed``."""

UNDELIVERED = "notify.undelivered"
ACTIVE = ("pending", "failed")


class Outbox:
    """Writes notifications inside the caller's transaction."""

    def __init__(self, red_channels: int = 2) -> None:
        self.red_channels = red_channels

    def enqueue(self, conn: Connection, items: Sequence[Outgoing], now: datetime) -> int:
        """Add what is new (by key); returns how many notifications were added."""
        added = 0
        now = utc_now(now)
        n = notifications
        for item in items:
            key = fit_key(item.key)
            exists = conn.execute(select(n.c.id).where(n.c.key == key)).first()
            if exists is not None:
                continue
            if not item.targets:
                log.warning("nobody to notify: no channels", recipient=item.recipient, key=item.key)
                continue
            release = utc_now(item.release_at) if item.release_at is not None else None
            held = release is not None and release > now
            if held and release is not None and not item.quiet:
                release = self._join_batch(conn, item, release)
            nid = new_pk(
                conn.execute(
                    insert(n).values(
                        key=key,
                        site=item.site,
                        ticket_id=item.ticket_id,
                        audience=item.audience,
                        recipient=item.recipient[:200],
                        title=item.title,
                        body=item.body,
                        created_at=now,
                        status="held" if held else "ready",
                        level=item.level,
                        asset=item.asset,
                        lang=item.lang,
                        line=item.line or item.title,
                        targets=json.dumps(list(item.targets)),
                        release_at=release if held else None,
                        quiet=int(item.quiet and held),
                    )
                )
            )
            if not held:
                self.add_receipts(conn, nid, item.targets, item.level, now)
            added += 1
        return added

    def _join_batch(self, conn: Connection, item: Outgoing, release: datetime) -> datetime:
        """Everything waiting for one recipient leaves together: at the earliest release among them."""
        n = notifications
        mine = (
            n.c.status == "held",
            n.c.quiet == 0,
            n.c.site == item.site,
            n.c.audience == item.audience,
            n.c.recipient == item.recipient[:200],
        )
        batch = utc(conn.execute(select(func.min(n.c.release_at)).where(*mine)).scalar())
        if batch is None or batch <= release:
            return batch or release
        conn.execute(update(n).where(*mine).values(release_at=release))
        return release

    def add_receipts(
        self, conn: Connection, nid: int, targets: Sequence[str], level: str | None, now: datetime
    ) -> None:
        active = self.red_channels if level == Level.RED.value else 1
        conn.execute(
            insert(notification_receipts),
            [
                {
                    "notification_id": nid,
                    "url": url,
                    "status": "pending" if i < active else "standby",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "updated_at": now,
                    "priority": i,
                }
                for i, url in enumerate(dict.fromkeys(targets))
            ],
        )


class OutboxNotifier:
    """Turns the engine's notices into outbox rows (``alerts.engine.notices.Notifier``); see ``alerts.notify.audiences``."""

    def __init__(
        self,
        site: Site,
        outbox: Outbox | None = None,
        settings: NotifySettings | None = None,
        templates: Templates | None = None,
    ) -> None:
        self.site = site
        self.settings = settings or NotifySettings()
        self.outbox = outbox or Outbox(self.settings.red_channels)
        self.planner = Planner(site, self.settings, templates or Templates(self.settings.template_dir))

    def notify(self, conn: Connection, notices: Sequence[Notice], now: datetime) -> int:
        items: list[Outgoing] = []
        for notice in notices:
            items.extend(self.planner.plan(notice))
        return self.outbox.enqueue(conn, items, now)


class Dispatcher:
    """Delivers the outbox; call ``deliver_pending(now)`` from a loop (the application runs it every 0.5 s).

    Sends run in a bounded pool (``workers``), each waited for at most ``timeout_s``; the call returns when
    this round's sends have answered or timed out, so results are recorded by one thread.
    """

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
        self.fallback = fallback
        self.on_findings = on_findings
        self.send = send or apprise_send
        self.max_attempts = max_attempts or s.max_attempts
        self.backoff_s = backoff_s or s.backoff_s
        self.backoff_cap_s = backoff_cap_s or s.backoff_cap_s
        self.batch = batch
        self.outbox = Outbox(s.red_channels)
        self._pool = ThreadPoolExecutor(max_workers=s.workers, thread_name_prefix="notify")
        self._busy: set[Future[None]] = set()
        self._woken = False
        self._cleared: list[Finding] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def deliver_pending(self, now: datetime) -> int:
        """Release what waited, send every receipt that is due; returns how many sends succeeded."""
        now = utc_now(now)
        with self._lock:
            self._release(now)
            self._recover(now)
            sent = 0
            for _ in range(4):  # a failed channel wakes the next one: try it in this same call
                self._woken = False
                sent += self._send_due(now)
                if not self._woken:
                    break
            findings = self._cleared + self._undelivered(now)
            self._cleared = []
        if findings:
            if self.on_findings is not None:
                self.on_findings(findings)
            else:
                for finding in findings:
                    log.error("undelivered", asset=finding.asset, summary=finding.summary)
        return sent

    # --- held notifications: group windows and quiet hours ---------------------------------------------

    def _release(self, now: datetime) -> None:
        n = notifications
        with self.engine.begin() as conn:
            rows = list(
                conn.execute(
                    select(n)
                    .where(n.c.status == "held", n.c.release_at <= now)
                    .order_by(n.c.id)
                    .with_for_update(skip_locked=True)
                )
            )
            groups: dict[tuple[str, str, str, int], list[Any]] = {}
            for row in rows:
                groups.setdefault((row.site, row.audience, row.recipient, row.quiet), []).append(row)
            for members in groups.values():
                if len(members) == 1:
                    (row,) = members
                    conn.execute(update(n).where(n.c.id == row.id).values(status="ready"))
                    self.outbox.add_receipts(conn, row.id, json.loads(row.targets or "[]"), row.level, now)
                else:
                    self._merge(conn, members, now)

    def _merge(self, conn: Connection, members: list[Any], now: datetime) -> None:
        n = notifications
        first, last = members[0], members[-1]
        key = f"digest:{first.id}-{last.id}:{len(members)}"
        worst = max(members, key=lambda m: (_severity(m.level), -m.id))
        tickets = {m.ticket_id for m in members}
        text = digest(
            self.templates,
            staff=first.audience != OWNERS,
            lang=last.lang or "zh",
            site_name=self.site.name if self.site else first.site,
            key=key,
            members=[
                {"level": m.level, "line": m.line or m.title, "created_at": m.created_at} for m in members
            ],
        )
        nid = new_pk(
            conn.execute(
                insert(n).values(
                    key=key,
                    site=first.site,
                    ticket_id=tickets.pop() if len(tickets) == 1 else None,
                    audience=first.audience,
                    recipient=first.recipient,
                    title=text.title,
                    body=text.body,
                    created_at=min(utc_now(m.created_at) for m in members),
                    status="ready",
                    quiet=first.quiet,
                    level=worst.level,
                    asset=worst.asset,
                    lang=last.lang,
                    line=text.title,
                    targets=last.targets,
                )
            )
        )
        conn.execute(
            update(n).where(n.c.id.in_([m.id for m in members])).values(status="merged", merged_into=nid)
        )
        self.outbox.add_receipts(conn, nid, json.loads(last.targets or "[]"), worst.level, now)
        log.info("grouped", recipient=first.recipient, count=len(members), key=key)

    # --- receipts -----------------------------------------------------------------------------------------

    def _recover(self, now: datetime) -> None:
        """A send whose lease ran out (crash, hang) has an unknown outcome: retry it, saying so."""
        r = notification_receipts
        with self.engine.begin() as conn:
            conn.execute(
                update(r)
                .where(r.c.status == "sending", r.c.lease_until <= now)
                .values(
                    status="failed",
                    error="outcome unknown: the send did not finish (stopped or timed out); retried",
                    next_attempt_at=now,
                    updated_at=now,
                )
            )

    def _send_due(self, now: datetime) -> int:
        self._busy = {f for f in self._busy if not f.done()}
        room = min(self.batch, self.settings.workers - len(self._busy))
        if room <= 0:
            return 0
        claimed = [row for row in self._due(now, room) if self._claim(row.id, row.status, now)]
        if not claimed:
            return 0
        started = time.monotonic()
        futures: dict[Future[None], Any] = {}
        for row in claimed:
            outgoing = Outgoing(
                row.key, row.site, row.ticket_id, row.audience, row.recipient, (row.url,), row.title, row.body
            )
            futures[self._pool.submit(self.send, row.url, row.title, row.body, outgoing)] = row
        _, pending = wait_futures(futures, timeout=self.settings.timeout_s)
        elapsed = timedelta(seconds=time.monotonic() - started)
        sent = 0
        for future, row in futures.items():
            if future in pending:
                self._busy.add(future)  # the thread is still busy; its late result is ignored
                error = f"timed out after {self.settings.timeout_s:g} s (outcome unknown)"
                self._failed(row, error, now + elapsed, now)
                continue
            exc = future.exception()
            if exc is None:
                self._sent(row, now + elapsed)
                sent += 1
            elif isinstance(exc, DeliveryFailed):
                self._failed(row, str(exc), now + elapsed, now)
            else:  # a plugin's bug must not stop the outbox
                self._failed(row, f"{type(exc).__name__}: {exc}", now + elapsed, now)
        return sent

    def _due(self, now: datetime, limit: int) -> list[Any]:
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
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def _claim(self, receipt_id: int, status: str, now: datetime) -> bool:
        r = notification_receipts
        lease = now + timedelta(seconds=self.settings.timeout_s * 2 + 5)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(r)
                .where(r.c.id == receipt_id, r.c.status == status)
                .values(status="sending", attempts=r.c.attempts + 1, updated_at=now, lease_until=lease)
            )
            return result.rowcount == 1

    def _sent(self, row: Any, when: datetime) -> None:
        r = notification_receipts
        with self.engine.begin() as conn:
            conn.execute(
                update(r)
                .where(r.c.id == row.id)
                .values(status="sent", sent_at=when, error=None, updated_at=when, lease_until=None)
            )
            if row.level != Level.RED.value:  # one channel is enough: the others need not try
                conn.execute(
                    update(r)
                    .where(r.c.notification_id == row.notification_id, r.c.status.in_((*ACTIVE, "standby")))
                    .values(status="skipped", updated_at=when)
                )
            if row.undelivered_at is not None and row.asset is not None:
                self._recovered(conn, row, when)

    def _recovered(self, conn: Connection, row: Any, when: datetime) -> None:
        """A RED reported undelivered got through after all: clear the finding once none of its asset's is left."""
        r, n = notification_receipts, notifications
        delivered = select(r.c.id).where(r.c.notification_id == n.c.id, r.c.status == "sent").exists()
        left = conn.execute(
            select(n.c.id).where(
                n.c.site == row.site, n.c.asset == row.asset, n.c.undelivered_at.is_not(None), ~delivered
            )
        ).first()
        if left is None:
            summary = f"RED notification {ref_of(row.key)} to {row.recipient} delivered after all"
            self._cleared.append(
                Finding(row.site, row.asset, UNDELIVERED, ms_from_utc(when), False, Level.RED, summary)
            )

    def _failed(self, row: Any, error: str, when: datetime, retry_from: datetime | None = None) -> None:
        """Record a failure at ``when``; the backoff counts from ``retry_from`` (the round's start)."""
        r = notification_receipts
        retry_from = retry_from or when
        attempts = row.attempts + 1
        values: dict[str, object] = {"error": error, "updated_at": when, "lease_until": None}
        if attempts >= self.max_attempts:
            values["status"] = "abandoned"
            log.error(
                "notification abandoned", receipt=row.id, url=_safe(row.url), attempts=attempts, error=error
            )
        else:
            delay = min(self.backoff_cap_s, self.backoff_s * 2 ** (attempts - 1))
            values |= {"status": "failed", "next_attempt_at": retry_from + timedelta(seconds=delay)}
            log.warning(
                "notification failed", receipt=row.id, attempts=attempts, retry_in_s=delay, error=error
            )
        with self.engine.begin() as conn:
            conn.execute(update(r).where(r.c.id == row.id).values(**values))
            # Fall back: wake the next channel in the recipient's order (unless it is already delivered).
            delivered = conn.execute(
                select(r.c.id).where(r.c.notification_id == row.notification_id, r.c.status == "sent")
            ).first()
            if delivered is not None and row.level != Level.RED.value:
                return
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
                    .values(status="pending", next_attempt_at=retry_from, updated_at=when)
                )
                self._woken = True

    # --- RED that nobody received ---------------------------------------------------------------------------

    def _undelivered(self, now: datetime) -> list[Finding]:
        r, n = notification_receipts, notifications
        cutoff = now - timedelta(seconds=self.settings.undelivered_s)
        delivered = select(r.c.id).where(r.c.notification_id == n.c.id, r.c.status == "sent").exists()
        findings: list[Finding] = []
        with self.engine.begin() as conn:
            rows = list(
                conn.execute(
                    select(n).where(
                        n.c.level == Level.RED.value,
                        n.c.status == "ready",
                        n.c.audience != FALLBACK,
                        n.c.undelivered_at.is_(None),
                        n.c.quiet == 0,  # what waited for the morning was not urgent
                        n.c.created_at <= cutoff,
                        ~delivered,
                    )
                )
            )
            for row in rows:
                conn.execute(update(n).where(n.c.id == row.id).values(undelivered_at=now))
                errors = conn.execute(
                    select(r.c.url, r.c.error).where(r.c.notification_id == row.id).order_by(r.c.priority)
                ).all()
                why = "; ".join(f"{_safe(u)}: {e or 'not tried yet'}" for u, e in errors)
                summary = (
                    f"RED notification {ref_of(row.key)} to {row.recipient} not delivered on any channel "
                    f"within {self.settings.undelivered_s:g} s ({why})"
                )
                log.error("RED undelivered", key=row.key, recipient=row.recipient, errors=why)
                if row.asset is not None:
                    findings.append(
                        Finding(row.site, row.asset, UNDELIVERED, ms_from_utc(now), True, Level.RED, summary)
                    )
                self._to_fallback(conn, row, now)
        return findings

    def _to_fallback(self, conn: Connection, row: Any, now: datetime) -> None:
        person = self.fallback
        if person is None or person.id == row.recipient:
            log.error("no fallback person to pass an undelivered RED to", key=row.key)
            return
        lang = languages(person.lang)[0]
        fields = {
            "title": row.title,
            "body": row.body,
            "recipient": row.recipient,
            "seconds": f"{self.settings.undelivered_s:g}",
            "level_name": LEVEL_NAMES[lang][Level.RED.value],
        }
        text = self.templates.render_one("fallback", lang, fields)
        item = Outgoing(
            f"{row.key}:fallback:{person.id}",
            row.site,
            row.ticket_id,
            FALLBACK,
            person.id,
            person.notify,
            text.title,
            text.body,
            level=Level.RED.value,
            asset=row.asset,
            lang=person.lang,
        )
        self.outbox.enqueue(conn, [item], now)


def fit_key(key: str, limit: int = 200) -> str:
    """A key that fits its column: a long one keeps its head and a hash of the whole, so it stays unique."""
    if len(key) <= limit:
        return key
    digest_ = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return f"{key[: limit - 25]}#{digest_}"


def _severity(level: str | None) -> int:
    return {"red": 3, "orange": 2, "yellow": 1, "blue": 0}.get(level or "", 0)


def _safe(url: str) -> str:
    """A target for logs and findings: the scheme and host only, never tokens or passwords."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    return (
        f"{scheme}://{host}"
        if scheme in ("json", "xml", "form", "mailto", "mailtos", "console")
        else f"{scheme}://…"
    )


def fallback_person(site: Site) -> Person | None:
    """The site's fallback person for undelivered RED: ``[escalation] fallback``, else the last of the chain."""
    if site.fallback is not None and (person := site.person(site.fallback)) is not None:
        return person
    chain = site.escalation_chain()
    return chain[-1] if len(chain) > 1 else None


__all__ = [
    "UNDELIVERED",
    "DeliveryFailed",
    "Dispatcher",
    "Outbox",
    "OutboxNotifier",
    "Outgoing",
    "apprise_send",
    "fallback_person",
    "jsonl_path",
]
