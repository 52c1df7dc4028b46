"""``GET /api/v1/events``: the event bus as server-sent events.

Each event is ``id: N`` / ``event: <type>`` / ``data: <json>``; a comment line every ``heartbeat_s`` keeps
proxies from closing an idle stream (and lets the server notice a client that went away). The stream ends
when the subscription does: the bus stopped, or this client fell too far behind (it reconnects and reloads).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from alerts.engine.events import Event, EventBus
from api.deps import Services, StreamViewer
from api.metrics import STREAMS

router = APIRouter(tags=["events"])

RETRY_MS = 3000


def format_event(event: Event) -> bytes:
    data = orjson.dumps(dict(event.data), default=str, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.type.encode(), data)


async def stream(bus: EventBus, heartbeat_s: float) -> AsyncIterator[bytes]:
    """Subscribes before the first line, so a client that has read ``: connected`` misses nothing after it."""
    sub = bus.subscribe()
    STREAMS.inc()
    try:
        yield b"retry: %d\n: connected\n\n" % RETRY_MS
        while True:
            try:
                event = await asyncio.wait_for(sub.get(), timeout=heartbeat_s)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if event is None:
                return
            yield format_event(event)
    finally:
        STREAMS.dec()
        bus.unsubscribe(sub)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def events(request: Request, services: Services, _: StreamViewer) -> StreamingResponse:
    heartbeat_s: float = request.app.state.heartbeat_s
    return StreamingResponse(
        stream(services.bus, heartbeat_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
