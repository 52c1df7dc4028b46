"""Webhooks: external ticket systems subscribe to alert and ticket events; each event becomes a signed POST.

    event bus ──listen──► WebhookStore.enqueue (one row per matching subscription, in the publisher's thread)
                                 │  table webhook_deliveries: pending → delivered | failed
                                 ▼
    WebhookWorker (api/webhook_worker.py) ── due rows ──► POSTs in parallel ──► record status, attempts, error

Target URLs are checked by ``api.targets`` when subscribed and again before every attempt.

Deliveries are rows, not an in-memory queue: they survive a restart, nothing is dropped silently, and the log
is readable (``GET /webhooks/{id}/deliveries``). A failed attempt (network error, timeout, non-2xx) is
retried with exponential backoff (``BACKOFF_S`` doubling, capped at ``MAX_BACKOFF_S``) until
``MAX_ATTEMPTS``; then the delivery is ``failed`` with its last error.

Signature (``X-Facwatch-Signature: t=<unix seconds>,v1=<hex>``): HMAC-SHA256 with the subscription's secret
over ``f"{t}.{body}"``. The receiver recomputes it and rejects a timestamp older than a few minutes (replay).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, Row, and_, delete, func, insert, select, update

from alerts.engine.events import Event
from api.db import webhook_deliveries, webhooks
from api.params import parse_id_cursor
from api.targets import TargetPolicy, check_url
from facwatch.model import Page

EVENT_TYPES = ("alert", "ticket")
SIGNATURE_HEADER = "X-Facwatch-Signature"
MAX_ATTEMPTS = 8
BACKOFF_S = 1.0
MAX_BACKOFF_S = 300.0
BATCH = 200


# --- the pure part -------------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does (and the docs show): check the MAC and that the timestamp is recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def backoff_s(attempts: int) -> float:
    """Delay before the next try after ``attempts`` failed ones: 1, 2, 4, ... seconds, capped."""
    return float(min(BACKOFF_S * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S))


def event_body(event: Event, delivery_key: str) -> bytes:
    payload = {"id": delivery_key, "type": event.type, "ts": event.ts, "data": dict(event.data)}
    return orjson.dumps(payload, default=str, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


# --- the store -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]
    owner: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: str
    event_type: str
    event_id: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _webhook(row: Row[Any]) -> Webhook:
    return Webhook(
        id=str(row.id),
        url=str(row.url),
        events=tuple(str(row.events).split()),
        owner=str(row.owner),
        created_at=_utc(row.created_at),
    )


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=int(row.id),
        webhook_id=str(row.webhook_id),
        event_type=str(row.event_type),
        event_id=int(row.event_id),
        status=str(row.status),
        attempts=int(row.attempts),
        next_attempt_at=_maybe_utc(row.next_attempt_at),
        last_status=None if row.last_status is None else int(row.last_status),
        last_error=row.last_error,
        created_at=_utc(row.created_at),
        delivered_at=_maybe_utc(row.delivered_at),
    )


def _utc(when: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _maybe_utc(when: datetime | None) -> datetime | None:
    return None if when is None else _utc(when)


class WebhookStore:
    """Subscriptions and their deliveries. ``owner=None`` in a query means every owner's (managers, admins);
    a name means that owner's only (another owner's subscription is then "not found")."""

    def __init__(self, engine: Engine, policy: TargetPolicy | None = None) -> None:
        self._engine = engine
        self.policy = policy or TargetPolicy()

    def subscribe(
        self, url: str, events: Iterable[str], owner: str, now: datetime, secret: str | None = None
    ) -> tuple[Webhook, str]:
        """A new subscription and its secret (generated when not given; shown to the caller once)."""
        chosen = tuple(dict.fromkeys(events))
        unknown = [e for e in chosen if e not in EVENT_TYPES]
        if not chosen or unknown:
            raise ValueError(f"events must be some of {', '.join(EVENT_TYPES)}; got {list(chosen)}")
        check_url(url, self.policy)
        secret = secret or secrets.token_urlsafe(32)
        hook = Webhook(id=uuid.uuid4().hex, url=url, events=chosen, owner=owner, created_at=now)
        with self._engine.begin() as conn:
            conn.execute(
                insert(webhooks).values(
                    id=hook.id, url=url, events=" ".join(chosen), secret=secret, owner=owner, created_at=now
                )
            )
        return hook, secret

    def page(self, limit: int, cursor: str | None, owner: str | None = None) -> Page[Webhook]:
        query = select(webhooks).order_by(webhooks.c.id).limit(limit + 1)
        if owner is not None:
            query = query.where(webhooks.c.owner == owner)
        if cursor is not None:
            if len(cursor) != 32 or any(c not in "0123456789abcdef" for c in cursor):
                raise ValueError(f"cursor {cursor!r} is not one this list gave out")
            query = query.where(webhooks.c.id > cursor)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        items = [_webhook(r) for r in rows[:limit]]
        return Page(items=items, next=items[-1].id if len(rows) > limit else None)

    def get(self, webhook_id: str, owner: str | None = None) -> Webhook | None:
        query = select(webhooks).where(webhooks.c.id == webhook_id)
        if owner is not None:
            query = query.where(webhooks.c.owner == owner)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _webhook(row)

    def remove(self, webhook_id: str, owner: str | None = None) -> bool:
        if self.get(webhook_id, owner) is None:
            return False
        with self._engine.begin() as conn:
            conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id))
            return bool(conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount)

    def deliveries(self, webhook_id: str, limit: int, cursor: str | None) -> Page[Delivery]:
        """Newest first; the cursor is the id of the last delivery of the previous page."""
        table = webhook_deliveries
        query = (
            select(table).where(table.c.webhook_id == webhook_id).order_by(table.c.id.desc()).limit(limit + 1)
        )
        before = parse_id_cursor(cursor)
        if before is not None:
            query = query.where(table.c.id < before)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        items = [_delivery(r) for r in rows[:limit]]
        return Page(items=items, next=str(items[-1].id) if len(rows) > limit else None)

    def enqueue(self, event: Event, now: datetime) -> int:
        """One pending delivery per subscription to this event's type; how many were queued."""
        if event.type not in EVENT_TYPES:
            return 0
        with self._engine.begin() as conn:
            hooks = [
                _webhook(r)
                for r in conn.execute(select(webhooks)).all()
                if event.type in str(r.events).split()
            ]
            for hook in hooks:
                conn.execute(
                    insert(webhook_deliveries).values(
                        webhook_id=hook.id,
                        event_type=event.type,
                        event_id=event.id,
                        body=event_body(event, f"{hook.id}:{event.id}").decode(),
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        return len(hooks)

    def due(
        self, now: datetime, busy: Collection[str] = (), limit: int = BATCH
    ) -> list[tuple[int, str, str, str, bytes]]:
        """The oldest due delivery of each subscription not in ``busy`` (one at a time per subscription, in
        order): (id, webhook id, url, secret, body), oldest first."""
        table = webhook_deliveries
        firsts = (
            select(func.min(table.c.id))
            .where(and_(table.c.status == "pending", table.c.next_attempt_at <= now))
            .group_by(table.c.webhook_id)
        )
        if busy:
            firsts = firsts.where(table.c.webhook_id.not_in(list(busy)))
        query = (
            select(table.c.id, table.c.webhook_id, webhooks.c.url, webhooks.c.secret, table.c.body)
            .join(webhooks, webhooks.c.id == table.c.webhook_id)
            .where(table.c.id.in_(firsts))
            .order_by(table.c.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [
                (int(r.id), str(r.webhook_id), str(r.url), str(r.secret), str(r.body).encode())
                for r in conn.execute(query)
            ]

    def record(self, delivery_id: int, now: datetime, status: int | None, error: str | None) -> str:
        """Record an attempt; a 2xx delivers, anything else is retried later or, at the limit, failed."""
        table = webhook_deliveries
        with self._engine.begin() as conn:
            attempts = (
                int(conn.execute(select(table.c.attempts).where(table.c.id == delivery_id)).scalar_one()) + 1
            )
            ok = status is not None and 200 <= status < 300
            outcome = "delivered" if ok else ("failed" if attempts >= MAX_ATTEMPTS else "pending")
            conn.execute(
                update(table)
                .where(table.c.id == delivery_id)
                .values(
                    attempts=attempts,
                    status=outcome,
                    last_status=status,
                    last_error=None if ok else (error or f"HTTP {status}")[:500],
                    delivered_at=now if ok else None,
                    next_attempt_at=None
                    if outcome != "pending"
                    else now + timedelta(seconds=backoff_s(attempts)),
                )
            )
        return outcome
