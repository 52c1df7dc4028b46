"""The in-process fan-out of events: alert and ticket changes and data-path health, to listeners.

The truth is the durable event log (``alerts.engine.eventlog``): in a running system the only publisher
is the log's tailer (``fan_out`` with the log's ids), and a process that wrote to the log calls ``wake``
so its tailer looks at once. ``publish`` (ids from a counter) is for tests without a database.

Publishers are threads (the gateway's worker, the clock ticker); subscribers are asyncio consumers
(the API's server-sent events) or plain callables (the MQTT alert publisher). A subscriber's queue is
bounded: one that falls too far behind is marked ``overflowed`` and closed, so that its client reconnects
and reloads, instead of the process holding an unbounded backlog for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    """``alert``, ``ticket``, ``notification`` or ``health``."""
    data: Mapping[str, object]
    ts: datetime
    id: int = 0
    site: str = ""


@dataclass(eq=False)
class Subscription:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Event | None]
    overflowed: bool = False
    closed: bool = field(default=False)

    async def get(self) -> Event | None:
        """The next event, or None once the subscription is closed (overflowed or bus stopped)."""
        if self.closed:
            return None
        return await self.queue.get()


class EventBus:
    def __init__(self, max_queue: int = 1000) -> None:
        self._max_queue = max_queue
        self._subs: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._wakers: list[Callable[[], None]] = []

    def on_wake(self, callback: Callable[[], None]) -> None:
        """``callback`` is called by ``wake`` (the log's readers: look now rather than at the next poll)."""
        with self._lock:
            self._wakers.append(callback)

    def wake(self) -> None:
        """Something was appended to the event log in this process."""
        with self._lock:
            wakers = list(self._wakers)
        for callback in wakers:
            callback()

    def listen(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` synchronously, in the publisher's thread, for every event."""
        with self._lock:
            self._listeners.append(callback)

    def subscribe(self) -> Subscription:
        """Must be called from inside the consumer's running event loop."""
        sub = Subscription(asyncio.get_running_loop(), asyncio.Queue(self._max_queue))
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)
        sub.closed = True

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, type_: str, data: Mapping[str, object], ts: datetime) -> Event:
        event = Event(type=type_, data=data, ts=ts, id=next(self._ids))
        self.fan_out(event)
        return event

    def fan_out(self, event: Event) -> None:
        """Hand an event (from the log) to every listener and subscriber."""
        with self._lock:
            subs = list(self._subs)
            listeners = list(self._listeners)
        for callback in listeners:
            callback(event)
        for sub in subs:
            with contextlib.suppress(RuntimeError):  # the consumer's loop has closed
                sub.loop.call_soon_threadsafe(self._deliver, sub, event)

    def _deliver(self, sub: Subscription, event: Event) -> None:
        if sub.closed:
            return
        try:
            sub.queue.put_nowait(event)
        except asyncio.QueueFull:
            sub.overflowed = True
            self.unsubscribe(sub)
            # Wake the consumer so it sees the end; its queue is full, so make room for the marker.
            with contextlib.suppress(asyncio.QueueEmpty):
                sub.queue.get_nowait()
            sub.queue.put_nowait(None)

    def close(self) -> None:
        with self._lock:
            subs = list(self._subs)
            self._subs.clear()
        for sub in subs:
            sub.closed = True
            with contextlib.suppress(RuntimeError):
                sub.loop.call_soon_threadsafe(sub.queue.put_nowait, None)
