"""Request bodies over their limit are refused with 413 before anything reads them.

A pure ASGI middleware, in front of everything else (authentication, idempotency, FastAPI's body parsing),
so that an oversized body costs the server nothing, with or without a token:

- a ``Content-Length`` over the limit is answered at once, without reading a byte of the body;
- a body without one (chunked) is counted as it is read: the chunk that crosses the limit ends the request
  with 413 (whoever was reading it is stopped), so at most ``limit`` bytes are ever held.

The limit is ``DEFAULT_LIMIT`` (1 MiB); a route may say otherwise by its path prefix (``limits``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.text import NUL_IN_URL, nul_in_url

DEFAULT_LIMIT = 1024 * 1024
"""Bytes a request body may have, unless its route says otherwise."""


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a counted body crosses its limit."""


def limit_for(path: str, limits: Mapping[str, int], default: int) -> int:
    """The limit of the longest path prefix in ``limits`` that ``path`` starts with, else ``default``."""
    best, chosen = -1, default
    for prefix, limit in limits.items():
        if path.startswith(prefix) and len(prefix) > best:
            best, chosen = len(prefix), limit
    return chosen


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The ``Content-Length`` as an int; None when absent; -1 when it is not a number."""
    for name, value in headers:
        if name.lower() == b"content-length":
            text = value.strip()
            return int(text) if text.isdigit() and len(text) < 20 else -1
    return None


def _too_large_body(limit: int) -> bytes:
    return orjson.dumps({"detail": f"request body larger than {limit} bytes"})


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, default: int = DEFAULT_LIMIT, limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.limits = dict(limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if nul_in_url(str(scope.get("path", "")), bytes(scope.get("query_string", b""))):
            await _answer(send, 422, NUL_IN_URL)
            return
        limit = limit_for(str(scope.get("path", "")), self.limits, self.default)
        declared = declared_length(list(scope.get("headers", [])))
        if declared == -1:
            await _answer(send, 400, b'{"detail":"Content-Length is not a number"}')
            return
        if declared is not None and declared > limit:
            await _answer(send, 413, _too_large_body(limit))
            return
        seen = 0
        overflowed = started = False

        async def counting_receive() -> Message:
            nonlocal seen, overflowed
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    overflowed = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the reader made of the interruption (FastAPI answers 400), the client hears 413.
            nonlocal started
            if overflowed:
                if not started:
                    started = True
                    await _answer(send, 413, _too_large_body(limit))
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if overflowed and not started:
            await _answer(send, 413, _too_large_body(limit))


async def _answer(send: Send, status: int, body: bytes) -> None:
    """A complete JSON answer that closes the connection (the rest of the body is never read)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
