"""``GET /api/v1/events``: the event bus as server-sent events; ``POST /api/v1/events/ticket``: a stream ticket.

Each event is ``id: N`` / ``event: <type>`` / ``data: <json>``; a comment line every ``heartbeat_s`` keeps
proxies from closing an idle stream (and lets the server notice a client that went away). The stream ends
when the subscription does: the bus stopped, or this client fell too far behind (it reconnects and reloads),
or its token was revoked or expired (checked every ``STREAM_CHECK_S``).

The ids are the durable event log's (``alerts.engine.eventlog``): a client that reconnects with
``Last-Event-ID: N`` first gets every event after N still in the log (retention: 30 days by default), then
the live ones, each exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import orjson
from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from alerts.engine import eventlog
from alerts.engine.events import Event, EventBus
from api.deps import Services, StreamViewer, Viewer
from api.metrics import STREAMS
from api.responses import AUTHENTICATED

router = APIRouter(tags=["events"], responses=AUTHENTICATED)

RETRY_MS = 3000
STREAM_CHECK_S = 2.0
"""How often an open stream asks whether its token is still usable (revoked or expired: the stream ends)."""


class TicketOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ticket": "st_4f1c2a9e", "expires_at": "2024-05-01T08:01:00Z"}]}
    )
    ticket: str = Field(description="Open the stream with `GET /api/v1/events?ticket=...` (once)")
    expires_at: datetime = Field(description="The ticket opens the stream once, until then")


def format_event(event: Event) -> bytes:
    data = orjson.dumps(dict(event.data), default=str, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.type.encode(), data)


async def stream(
    bus: EventBus,
    heartbeat_s: float,
    still_allowed: Callable[[], bool] | None = None,
    check_s: float = STREAM_CHECK_S,
    missed: Callable[[int], list[Event]] | None = None,
    after: int | None = None,
    sites: frozenset[str] | None = None,
) -> AsyncIterator[bytes]:
    """Subscribes before the first line, so a client that has read ``: connected`` misses nothing after it.
    ``still_allowed`` (blocking; run in a thread every ``check_s``) ends the stream when it says no.
    ``missed(n)`` (blocking): the logged events after id n, a batch at a time; with ``after`` they are sent
    first, and a live event already sent from the log is not sent again. ``sites``: only these sites' events
    (a token limited to sites); None: every event."""
    sub = bus.subscribe()
    STREAMS.inc()
    sent = 0
    try:
        yield b"retry: %d\n: connected\n\n" % RETRY_MS
        if missed is not None and after is not None:
            sent = after
            while batch := await run_in_threadpool(missed, sent):
                for old in batch:
                    if sites is None or old.site in sites:
                        yield format_event(old)
                sent = batch[-1].id
        last_beat = last_check = time.monotonic()
        while True:
            now = time.monotonic()
            if still_allowed is not None and now - last_check >= check_s:
                last_check = now
                if not await run_in_threadpool(still_allowed):
                    yield b"event: revoked\ndata: {}\n\n"
                    return
            wait_s = heartbeat_s - (now - last_beat)
            if still_allowed is not None:
                wait_s = min(wait_s, check_s - (now - last_check))
            try:
                event = await asyncio.wait_for(sub.get(), timeout=max(wait_s, 0.01))
            except TimeoutError:
                if time.monotonic() - last_beat >= heartbeat_s:
                    last_beat = time.monotonic()
                    yield b": heartbeat\n\n"
                continue
            if event is None:
                return
            if event.id <= sent or (sites is not None and event.site not in sites):
                continue
            yield format_event(event)
    finally:
        STREAMS.dec()
        bus.unsubscribe(sub)


@router.get(
    "/events",
    summary="Stream events (server-sent)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "example": ': connected\n\nid: 241\nevent: ticket\ndata: {"id": "T7"}\n\n'
                }
            },
            "description": "Server-sent events",
        }
    },
)
async def events(
    request: Request,
    services: Services,
    principal: StreamViewer,
    last_event_id: str | None = Header(default=None, alias="Last-Event-ID"),
) -> StreamingResponse:
    """Authenticate with the bearer header, or (a browser's EventSource) with ``?ticket=``.
    ``Last-Event-ID`` (sent by EventSource on reconnect): the events after it come first. A token limited to
    sites receives those sites' events only."""
    heartbeat_s: float = request.app.state.heartbeat_s
    tokens = services.tokens
    after = _event_id(last_event_id)
    engine = tokens.engine

    def missed(n: int) -> list[Event]:
        with engine.connect() as conn:
            return eventlog.read(conn, n)

    return StreamingResponse(
        stream(
            services.bus,
            heartbeat_s,
            lambda: tokens.active(principal.id),
            missed=missed if services.event_log else None,
            after=after,
            sites=principal.sites,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


MAX_EVENT_ID = 2**63 - 1


def _event_id(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 19 or int(value) > MAX_EVENT_ID:
        raise HTTPException(422, "Last-Event-ID must be an event id (a whole number)")
    return int(value)


@router.post("/events/ticket", summary="Get a stream ticket", response_model=TicketOut)
async def ticket(services: Services, principal: Viewer) -> TicketOut:
    """A stream ticket: opens ``GET /events?ticket=...`` once, within 60 s (so no token sits in a URL)."""
    value, expires_at = await run_in_threadpool(services.tokens.issue_ticket, principal)
    return TicketOut(ticket=value, expires_at=expires_at)
