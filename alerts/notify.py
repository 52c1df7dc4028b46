"""Notifications: a durable outbox in the state database, and a dispatcher that sends it through apprise.

The outbox row is written in the same transaction as the alert or escalation that caused it, under an
idempotency key (``T-000001:open:engineer:eng-wang``): writing the same key again adds nothing, so a
replayed batch or a restarted clock never notifies twice. Each target URL of a notification gets a
receipt row (``pending`` → ``sending`` → ``sent``, or ``failed`` with the error and a retry time with
exponential backoff, or ``abandoned`` after ``max_attempts``). A receipt is claimed (``sending``) in its
own transaction before the send, so two dispatchers never send it both, and a send is never repeated
once it may have happened (at most once per key and target).

Two apprise schemes are registered on import, so that the demo's targets work:
``console://`` prints the message, and ``jsonl:///abs/path.jsonl`` (or ``jsonl://relative/path``, taken
from the working directory) appends one JSON line
``{"ts","title","body","audience","ticket_id"}`` to that file.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import apprise
import structlog
from apprise.decorators import notify as apprise_notify
from sqlalchemy import Connection, Engine, insert, select, update

from alerts import messages
from alerts.db import new_pk, notification_receipts, notifications, ticket_ref, utc_now
from alerts.notices import Notice, NoticeKind
from facwatch.model import Level, Site

log = structlog.get_logger("alerts.notify")

Sender = Callable[[str, str, str, "Outgoing"], None]
"""``send(url, title, body, outgoing)``: deliver one message to one target or raise ``DeliveryFailed``."""


class DeliveryFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A notification to enqueue: one audience member (a person or an owner group), all their targets."""

    key: str
    site: str
    ticket_id: int | None
    audience: str
    """``engineer``, ``supervisor``, ``manager`` (the person's role) or ``owners``."""
    recipient: str
    targets: tuple[str, ...]
    title: str
    body: str


class Outbox:
    """Writes notifications inside the caller's transaction."""

    def enqueue(self, conn: Connection, items: Sequence[Outgoing], now: datetime) -> int:
        """Add what is new (by key); returns how many notifications were added."""
        added = 0
        now = utc_now(now)
        for item in items:
            exists = conn.execute(select(notifications.c.id).where(notifications.c.key == item.key)).first()
            if exists is not None or not item.targets:
                continue
            nid = new_pk(
                conn.execute(
                    insert(notifications).values(
                        key=item.key,
                        site=item.site,
                        ticket_id=item.ticket_id,
                        audience=item.audience,
                        recipient=item.recipient,
                        title=item.title,
                        body=item.body,
                        created_at=now,
                    )
                )
            )
            conn.execute(
                insert(notification_receipts),
                [
                    {
                        "notification_id": nid,
                        "url": url,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "updated_at": now,
                    }
                    for url in dict.fromkeys(item.targets)
                ],
            )
            added += 1
        return added


class OutboxNotifier:
    """Turns the engine's notices into outbox rows (``alerts.notices.Notifier``).

    ``opened``: the staff named get the engineer's message; for a RED alert the owner groups of the asset's
    building get the plain notice. ``escalated``: the escalation target gets the escalation message.
    """

    def __init__(self, site: Site, outbox: Outbox | None = None) -> None:
        self.site = site
        self.outbox = outbox or Outbox()

    def notify(self, conn: Connection, notices: Sequence[Notice], now: datetime) -> int:
        items: list[Outgoing] = []
        for notice in notices:
            items.extend(self._outgoing(notice))
        return self.outbox.enqueue(conn, items, now)

    def _outgoing(self, notice: Notice) -> list[Outgoing]:
        asset = notice.asset
        if asset is None:
            return []
        detail = notice.detail
        items: list[Outgoing] = []
        if notice.kind is NoticeKind.OPENED:
            text = messages.engineer_alert(
                ticket=notice.ticket,
                asset=asset,
                level=notice.level,
                summary=notice.summary,
                opened_at=detail.get("opened_at", notice.at),
                on_site_due=detail.get("on_site_due"),
                ack_due=detail.get("ack_due"),
                timezone=self.site.timezone,
            )
            for person in notice.staff:
                key = f"{notice.key}:{person.role}:{person.id}"
                items.append(
                    Outgoing(
                        key,
                        notice.site,
                        notice.ticket_pk,
                        person.role,
                        person.id,
                        person.notify,
                        text.title,
                        text.body,
                    )
                )
            if notice.level is Level.RED:
                plain = messages.owner_notice(asset)
                for group in self.site.owners_of(asset.building):
                    key = f"{notice.key}:owners:{group.building}:{group.name}"
                    items.append(
                        Outgoing(
                            key,
                            notice.site,
                            notice.ticket_pk,
                            "owners",
                            group.name,
                            group.notify,
                            plain.title,
                            plain.body,
                        )
                    )
        elif notice.kind is NoticeKind.ESCALATED:
            for person in notice.staff:
                text = messages.escalation(
                    ticket=notice.ticket,
                    asset=asset,
                    level=notice.level,
                    reason=str(detail.get("reason", "")),
                    person=person.name,
                    opened_at=detail.get("opened_at", notice.at),
                    timezone=self.site.timezone,
                )
                key = f"{notice.key}:{person.id}"
                items.append(
                    Outgoing(
                        key,
                        notice.site,
                        notice.ticket_pk,
                        person.role,
                        person.id,
                        person.notify,
                        text.title,
                        text.body,
                    )
                )
        return items


class Dispatcher:
    """Delivers due receipts; call ``deliver_pending(now)`` from a ticker thread."""

    def __init__(
        self,
        engine: Engine,
        *,
        send: Sender | None = None,
        max_attempts: int = 8,
        backoff_s: float = 5.0,
        backoff_cap_s: float = 600.0,
        batch: int = 100,
    ) -> None:
        self.engine = engine
        self.send = send or apprise_send
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.batch = batch
        self._lock = threading.Lock()

    def deliver_pending(self, now: datetime) -> int:
        """Send every receipt that is due; returns how many were sent successfully."""
        now = utc_now(now)
        with self._lock:
            sent = 0
            for row in self._due(now):
                if not self._claim(row.id, row.status, now):
                    continue
                outgoing = Outgoing(
                    key=row.key,
                    site=row.site,
                    ticket_id=row.ticket_id,
                    audience=row.audience,
                    recipient=row.recipient,
                    targets=(row.url,),
                    title=row.title,
                    body=row.body,
                )
                try:
                    self.send(row.url, row.title, row.body, outgoing)
                except DeliveryFailed as exc:
                    self._failed(row.id, row.attempts + 1, str(exc), now)
                except Exception as exc:  # a plugin's bug must not stop the outbox
                    self._failed(row.id, row.attempts + 1, f"{type(exc).__name__}: {exc}", now)
                else:
                    self._record(row.id, status="sent", sent_at=now, error=None, updated_at=now)
                    sent += 1
            return sent

    def _due(self, now: datetime) -> list[Any]:
        r, n = notification_receipts, notifications
        query = (
            select(r.c.id, r.c.url, r.c.status, r.c.attempts, n.c.key, n.c.site, n.c.ticket_id)
            .add_columns(n.c.audience, n.c.recipient, n.c.title, n.c.body)
            .join(n, n.c.id == r.c.notification_id)
            .where(r.c.status.in_(("pending", "failed")), r.c.next_attempt_at <= now)
            .order_by(r.c.next_attempt_at, r.c.id)
            .limit(self.batch)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def _claim(self, receipt_id: int, status: str, now: datetime) -> bool:
        r = notification_receipts
        with self.engine.begin() as conn:
            result = conn.execute(
                update(r)
                .where(r.c.id == receipt_id, r.c.status == status)
                .values(status="sending", attempts=r.c.attempts + 1, updated_at=now)
            )
            return result.rowcount == 1

    def _failed(self, receipt_id: int, attempts: int, error: str, now: datetime) -> None:
        if attempts >= self.max_attempts:
            self._record(receipt_id, status="abandoned", error=error, updated_at=now)
            log.error("notification abandoned", receipt=receipt_id, attempts=attempts, error=error)
            return
        delay = min(self.backoff_cap_s, self.backoff_s * 2 ** (attempts - 1))
        retry_at = now + timedelta(seconds=delay)
        self._record(receipt_id, status="failed", error=error, next_attempt_at=retry_at, updated_at=now)
        log.warning(
            "notification failed", receipt=receipt_id, attempts=attempts, retry_in_s=delay, error=error
        )

    def _record(self, receipt_id: int, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(notification_receipts).where(notification_receipts.c.id == receipt_id).values(**values)
            )


# --- apprise: the one seam to the outside --------------------------------------------------------------


def apprise_send(url: str, title: str, body: str, outgoing: Outgoing) -> None:
    """Send through apprise; raise DeliveryFailed with apprise's own words when it fails."""
    if url.startswith("jsonl://"):
        url = _jsonl_url(url, outgoing)
    client = apprise.Apprise()
    if not client.add(url):
        raise DeliveryFailed("not a usable apprise URL")
    capture = apprise.LogCapture(level=apprise.logging.WARNING)  # type: ignore[no-untyped-call]
    with capture as captured:
        ok = client.notify(body=body, title=title)
    if not ok:
        detail = captured.getvalue().strip().splitlines()
        raise DeliveryFailed(detail[-1] if detail else "apprise reported a failure")


_jsonl_lock = threading.Lock()


def _jsonl_url(url: str, outgoing: Outgoing) -> str:
    """An absolute ``jsonl://`` URL carrying the audience and ticket (the plugin sees only the URL).

    apprise cannot tell ``jsonl:///abs`` from ``jsonl://rel``, so a relative path is made absolute
    here, against the working directory, before apprise parses it.
    """
    raw, _, query = url[len("jsonl://") :].partition("?")
    path = Path(unquote(raw)).expanduser().resolve()
    extra = {"audience": outgoing.audience}
    if outgoing.ticket_id is not None:
        extra["ticket_id"] = ticket_ref(outgoing.ticket_id)
    params = f"{query}&{urlencode(extra)}" if query else urlencode(extra)
    return f"jsonl://{quote(str(path))}?{params}"


def jsonl_path(meta: dict[str, Any]) -> Path:
    """The file of ``jsonl:///abs/path``: apprise reads the first path segment as a host, so put it back."""
    host = unquote(str(meta.get("host") or ""))
    rest = unquote(str(meta.get("fullpath") or ""))
    return Path("/" + host + rest) if host else Path(rest)


def _jsonl(body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
    path = jsonl_path(meta)
    qsd = meta.get("qsd") or {}
    line = {
        "ts": utc_now(datetime.now().astimezone()).isoformat(),
        "title": title,
        "body": body,
        "audience": qsd.get("audience"),
        "ticket_id": qsd.get("ticket_id"),
    }
    data = json.dumps(line, ensure_ascii=False) + "\n"
    with _jsonl_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(data)
    return True


def _console(body: str, title: str, *args: Any, **kwargs: Any) -> bool:
    text = f"{title}\n{body}" if title else body
    sys.stdout.write(f"{text}\n\n")
    sys.stdout.flush()
    return True


def _register(scheme: str, name: str, func: Callable[..., bool]) -> None:
    decorator = apprise_notify(on=scheme, name=name)  # type: ignore[no-untyped-call]
    decorator(func)


_register("jsonl", "JSON lines file", _jsonl)
_register("console", "Console", _console)

__all__ = ["DeliveryFailed", "Dispatcher", "Outbox", "Outgoing", "apprise_send", "jsonl_path"]
