"""``Idempotency-Key`` on every POST: a retry with the same key replays the first answer instead of acting twice.

A ticket system that timed out does not know whether its ``dispatch`` went through; it retries with the same
key and gets the stored answer. Keys belong to the caller (the hash of its bearer token), so two callers
cannot collide or read each other's answers. Rules:

- same key, same request (method, path, query, body)  → the stored status and body, ``Idempotent-Replayed: true``
- same key, different request                          → 422, naming the key
- same key while the first request is still running    → 409 (retry later)
- the first answer was a 5xx (or the handler crashed)  → nothing is kept: the retry runs again
- keys expire after ``TTL`` (24 h); after that the key is free again.

The store is plain SQL on the state database (table ``idempotency_keys``, migration 0005); the middleware
is the shell around it and runs its queries in a worker thread, off the event loop.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import anyio
import orjson
from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import hash_token
from api.db import idempotency_keys

TTL = timedelta(hours=24)
HEADER = "idempotency-key"
MAX_KEY = 200
MAX_BODY = 1_000_000
"""A POST body larger than this is not taken (the API's bodies are small JSON)."""
KEPT_STATUSES = range(200, 500)
NOT_KEPT = frozenset({401, 403, 429})
"""Auth failures and throttling say nothing about the request itself: a retry must be judged afresh."""


class Outcome(StrEnum):
    NEW = "new"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Outcome
    status: int | None = None
    body: bytes = b""
    content_type: str | None = None


def request_hash(method: str, path: str, query: bytes, body: bytes) -> str:
    """What makes two requests "the same": method, path, query string and the exact body."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyStore:
    def __init__(self, engine: Engine, ttl: timedelta = TTL) -> None:
        self._engine = engine
        self._ttl = ttl

    def claim(self, principal: str, key: str, route: str, digest: str, now: datetime) -> Claim:
        """Claim ``key`` for this request, or say why not (a stored answer, a mismatch, one in progress)."""
        table = idempotency_keys
        with self._engine.begin() as conn:
            conn.execute(delete(table).where(table.c.created_at < now - self._ttl))
            row = conn.execute(
                select(table).where(and_(table.c.principal == principal, table.c.key == key))
            ).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(table).values(
                                principal=principal, key=key, route=route, request_hash=digest, created_at=now
                            )
                        )
                except IntegrityError:  # a concurrent first request claimed it between select and insert
                    return Claim(Outcome.IN_PROGRESS)
                return Claim(Outcome.NEW)
        if row.request_hash != digest or row.route != route:
            return Claim(Outcome.MISMATCH)
        if row.status is None:
            return Claim(Outcome.IN_PROGRESS)
        return Claim(Outcome.REPLAY, int(row.status), bytes(row.body or b""), row.content_type)

    def complete(self, principal: str, key: str, status: int, body: bytes, content_type: str | None) -> None:
        table = idempotency_keys
        with self._engine.begin() as conn:
            conn.execute(
                update(table)
                .where(and_(table.c.principal == principal, table.c.key == key))
                .values(status=status, body=body, content_type=content_type)
            )

    def release(self, principal: str, key: str) -> None:
        """Forget a claim whose request failed on our side, so that the retry runs again."""
        table = idempotency_keys
        with self._engine.begin() as conn:
            conn.execute(delete(table).where(and_(table.c.principal == principal, table.c.key == key)))


def _json(
    status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> tuple[Message, Message]:
    body = orjson.dumps({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    start: Message = {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    return start, {"type": "http.response.body", "body": body}


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


class IdempotencyMiddleware:
    """Wraps every POST that carries ``Idempotency-Key`` from a caller with a valid token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = (
            _header(scope, HEADER.encode()) if scope["type"] == "http" and scope["method"] == "POST" else None
        )
        token = _bearer(scope) if key is not None else None
        if key is None or token is None:
            await self.app(
                scope, receive, send
            )  # no key, or no token: the route answers (401 for the latter)
            return
        services = scope["app"].state.services
        store: IdempotencyStore = scope["app"].state.idempotency
        if await anyio.to_thread.run_sync(services.tokens.verify, token) is None:
            await self.app(scope, receive, send)  # the route answers 401
            return
        if not key.strip() or len(key) > MAX_KEY or not key.isprintable():
            await _send(send, *_json(422, f"Idempotency-Key must be 1 to {MAX_KEY} printable characters"))
            return
        body, too_large = await _read_body(receive)
        if too_large:
            await _send(send, *_json(413, f"request body over {MAX_BODY} bytes"))
            return
        principal = hash_token(token)
        route = f"POST {scope['path']}"
        digest = request_hash("POST", scope["path"], scope.get("query_string", b""), body)
        now = services.clock.now()
        claim = await anyio.to_thread.run_sync(store.claim, principal, key, route, digest, now)
        if claim.outcome == Outcome.MISMATCH:
            detail = (
                f"Idempotency-Key {key!r} was already used for a different request; "
                "send a new key for a new request"
            )
            await _send(send, *_json(422, detail))
            return
        if claim.outcome == Outcome.IN_PROGRESS:
            await _send(send, *_json(409, f"a request with Idempotency-Key {key!r} is still being answered"))
            return
        if claim.outcome == Outcome.REPLAY:
            await _replay(send, claim)
            return
        await self._first(scope, body, send, store, principal, key)

    async def _first(
        self, scope: Scope, body: bytes, send: Send, store: IdempotencyStore, principal: str, key: str
    ) -> None:
        sent = False

        async def replay_receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        status = 500
        content_type: str | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await anyio.to_thread.run_sync(store.release, principal, key)
            raise
        if status in KEPT_STATUSES and status not in NOT_KEPT:
            await anyio.to_thread.run_sync(
                store.complete, principal, key, status, b"".join(chunks), content_type
            )
        else:
            await anyio.to_thread.run_sync(store.release, principal, key)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return b"", True
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts), False


async def _send(send: Send, start: Message, body: Message) -> None:
    await send(start)
    await send(body)


async def _replay(send: Send, claim: Claim) -> None:
    headers = [
        (b"content-length", str(len(claim.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    if claim.content_type:
        headers.append((b"content-type", claim.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": claim.status or 200, "headers": headers})
    await send({"type": "http.response.body", "body": claim.body})
