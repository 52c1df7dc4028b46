"""Webhooks: external ticket systems subscribe to alert and ticket events; each event becomes a signed POST.

    event log ──LogReader "webhooks" (durable cursor)──► WebhookStore.enqueue_events (one row per matching
                                 │  subscription, in the transaction that moves the cursor: exactly once)
                                 │  table webhook_deliveries: pending → delivered | failed
                                 ▼
    WebhookWorker (api/webhook_worker.py) ── claims due rows ──► POSTs in parallel ──► record the attempt

Any process may run the worker: a delivery is claimed row by row (``claim``: a compare-and-set on the row
that only one process wins) and delivered at least once (a claim whose process died runs out and the row is
due again). One subscription's deliveries go in event order: only its oldest pending delivery is ever due.
Due times and claims are on the database's clock with PostgreSQL (``alerts.engine.claim_clock``): a worker
whose own clock runs ahead cannot take a row another worker is still delivering.

Target URLs are checked by ``api.targets`` when subscribed and again before every attempt.

Deliveries are rows, not an in-memory queue: they survive a restart, nothing is dropped silently, and the log
is readable (``GET /webhooks/{id}/deliveries``). A failed attempt (network error, timeout, non-2xx) is
retried with exponential backoff (``BACKOFF_S`` doubling, capped at ``MAX_BACKOFF_S``) until
``MAX_ATTEMPTS``; then the delivery is ``failed`` with its last error.

Signatures follow the Standard Webhooks specification (the ``standardwebhooks`` package): headers
``webhook-id`` (the event id: a receiver drops repeats by it), ``webhook-timestamp`` (unix seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``). Secrets are ``whsec_`` +
base64. During a rollover (``rotate``) both the new and the previous secret sign, space-separated, until
``previous_until``, so a receiver may switch keys at any moment of it.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Engine, Row, delete, func, insert, select, update

from alerts.engine.claim_clock import claim_after, claim_now
from alerts.engine.events import Event
from api.db import webhook_deliveries, webhooks
from api.params import parse_id_cursor
from api.targets import TargetPolicy, check_url
from facwatch.model import Page

if TYPE_CHECKING:
    import standardwebhooks

EVENT_TYPES = ("alert", "ticket")
MAX_ATTEMPTS = 8
BACKOFF_S = 1.0
MAX_BACKOFF_S = 300.0
BATCH = 200
ROLLOVER = timedelta(hours=24)
"""How long the previous secret still signs after ``rotate``."""


# --- the pure part -------------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _signer(secret: str) -> standardwebhooks.Webhook:
    """A ``whsec_`` secret is base64; an older secret (from before issue 13) is used as its bytes."""
    import standardwebhooks  # imported where it signs: a process that never delivers does not need it

    return standardwebhooks.Webhook(secret if secret.startswith("whsec_") else secret.encode())


def signature_headers(msg_id: str, secrets_: Sequence[str], when: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers for ``body``, signed with every secret in ``secrets_``."""
    data = body.decode()
    signatures = " ".join(_signer(s).sign(msg_id, when, data) for s in secrets_)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signatures,
    }


def backoff_s(attempts: int) -> float:
    """Delay before the next try after ``attempts`` failed ones: 1, 2, 4, ... seconds, capped."""
    return float(min(BACKOFF_S * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S))


def event_body(event: Event) -> bytes:
    payload = {"type": event.type, "timestamp": event.ts, "id": event.id, "data": dict(event.data)}
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


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery ready for an attempt: what to send, where, and the secrets that sign it."""

    id: int
    webhook_id: str
    event_id: int
    url: str
    secrets: tuple[str, ...]
    body: bytes


def _due(row: Any, now: datetime) -> Due:
    keys = [str(row.secret)]
    if row.previous_secret and row.previous_until is not None and _utc(row.previous_until) > now:
        keys.append(str(row.previous_secret))
    return Due(
        id=int(row.id),
        webhook_id=str(row.webhook_id),
        event_id=int(row.event_id),
        url=str(row.url),
        secrets=tuple(keys),
        body=str(row.body).encode(),
    )


def enqueue_events(conn: Connection, batch: Sequence[Event], now: datetime) -> int:
    """One pending delivery per matching subscription for each event, in ``conn``'s transaction; how many."""
    wanted = [e for e in batch if e.type in EVENT_TYPES]
    if not wanted:
        return 0
    hooks = [_webhook(r) for r in conn.execute(select(webhooks).order_by(webhooks.c.id)).all()]
    rows = [
        {
            "webhook_id": hook.id,
            "event_type": event.type,
            "event_id": event.id,
            "body": event_body(event).decode(),
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
        for event in wanted
        for hook in hooks
        if event.type in hook.events
    ]
    if not rows:
        return 0
    statement = insert(webhook_deliveries)
    due = claim_now(conn.dialect.name, now)  # due at once, on the clock the claims are judged on
    if isinstance(due, datetime):
        rows = [row | {"next_attempt_at": due} for row in rows]
    else:
        statement = statement.values(next_attempt_at=due)
    conn.execute(statement, rows)
    return len(rows)


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
        secret = secret or new_secret()
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

    def rotate(
        self, webhook_id: str, now: datetime, owner: str | None = None, rollover: timedelta = ROLLOVER
    ) -> str | None:
        """A new secret for the subscription (None: not found); the current one still signs for ``rollover``."""
        if self.get(webhook_id, owner) is None:
            return None
        secret = new_secret()
        with self._engine.begin() as conn:
            current = conn.execute(select(webhooks.c.secret).where(webhooks.c.id == webhook_id)).scalar_one()
            conn.execute(
                update(webhooks)
                .where(webhooks.c.id == webhook_id)
                .values(secret=secret, previous_secret=current, previous_until=now + rollover)
            )
        return secret

    def enqueue(self, event: Event, now: datetime) -> int:
        """One pending delivery per subscription to this event's type (its own transaction); how many."""
        with self._engine.begin() as conn:
            return enqueue_events(conn, [event], now)

    def due(self, now: datetime, busy: Collection[str] = (), limit: int = BATCH) -> list[Due]:
        """The oldest pending delivery of each subscription not in ``busy``, when it is due (a later one of
        the same subscription waits for it: deliveries stay in order), oldest first."""
        table = webhook_deliveries
        firsts = select(func.min(table.c.id)).where(table.c.status == "pending").group_by(table.c.webhook_id)
        if busy:
            firsts = firsts.where(table.c.webhook_id.not_in(list(busy)))
        query = (
            select(
                table.c.id,
                table.c.webhook_id,
                table.c.event_id,
                webhooks.c.url,
                webhooks.c.secret,
                webhooks.c.previous_secret,
                webhooks.c.previous_until,
                table.c.body,
            )
            .join(webhooks, webhooks.c.id == table.c.webhook_id)
            .where(
                table.c.id.in_(firsts), table.c.next_attempt_at <= claim_now(self._engine.dialect.name, now)
            )
            .order_by(table.c.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_due(r, now) for r in conn.execute(query)]

    def claim(self, delivery_id: int, now: datetime, lease_s: float) -> bool:
        """Take a due delivery for one attempt (True: this process won it). The claim is a lease: when the
        process dies mid-attempt, the row is due again after ``lease_s`` (delivery at least once)."""
        table, dialect = webhook_deliveries, self._engine.dialect.name
        with self._engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(
                    table.c.id == delivery_id,
                    table.c.status == "pending",
                    table.c.next_attempt_at <= claim_now(dialect, now),
                )
                .values(next_attempt_at=claim_after(dialect, now, lease_s))
            )
            return bool(result.rowcount == 1)

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
                    else claim_after(conn.dialect.name, now, backoff_s(attempts)),
                )
            )
        return outcome
