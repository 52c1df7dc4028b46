"""The webhook worker: delivers due rows in parallel, so that a receiver that never answers delays no other.

- Each attempt runs in a pool thread with a hard deadline (``deadline_s``): when it passes, the attempt is
  recorded as failed (and retried later with backoff) whether or not the thread has ended.
- At most ``per_host`` attempts are in flight to one host (scheme, host and port); the slot is held until the
  thread really ends, so a hanging receiver ties up at most ``per_host`` threads.
- One attempt at a time per subscription, oldest first (deliveries of one subscription stay in order).
- Deliveries come from the durable event log (``alerts.engine.eventlog.LogReader`` named ``webhooks``) when
  the worker is given the state database; every row is claimed before its attempt, so any number of
  processes may run a worker. Without a log (tests of the API alone) the bus's events are enqueued.
- Every attempt resolves the host again and connects to the checked address (``api.targets.pin``): a name
  that now resolves inside the network is refused. Redirects are not followed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from sqlalchemy import Connection, Engine

from alerts.engine.eventlog import LogReader
from alerts.engine.events import Event, EventBus
from api.targets import TargetRefused, pin
from api.webhooks import Due, WebhookStore, enqueue_events, signature_headers
from facwatch.clock import Clock

log = structlog.get_logger("api.webhooks")

DEADLINE_S = 10.0
"""The hard deadline of one attempt, from start to the receiver's status line."""
PER_HOST = 2
"""Attempts in flight to one host at once."""
WORKERS = 16
LEASE_MARGIN_S = 5.0
"""A claimed delivery is due again this long after its deadline when its process died mid-attempt."""
"""Attempts in flight in all (threads, abandoned ones included until they end)."""


@dataclass(slots=True)
class _Flight:
    delivery_id: int
    webhook_id: str
    key: str
    started: float
    recorded: bool = False


class WebhookWorker:
    """Listens to the bus (enqueue) and delivers due rows from its own thread, through a pool."""

    def __init__(
        self,
        store: WebhookStore,
        bus: EventBus,
        clock: Clock,
        *,
        poll_s: float = 1.0,
        deadline_s: float = DEADLINE_S,
        per_host: int = PER_HOST,
        workers: int = WORKERS,
        transport: httpx.BaseTransport | None = None,
        log_engine: Engine | None = None,
    ) -> None:
        """``log_engine``: the state database whose event log feeds the deliveries (None: the bus does)."""
        self.store, self.bus, self.clock = store, bus, clock
        self._poll_s, self._deadline_s, self._per_host = poll_s, deadline_s, per_host
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._flights: dict[int, _Flight] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="facwatch-webhook")
        self._client = httpx.Client(
            timeout=httpx.Timeout(deadline_s), transport=transport, follow_redirects=False
        )
        self._reader: LogReader | None = None
        if log_engine is not None:
            self._reader = LogReader(log_engine, "webhooks", self._enqueue_from_log, committed=self._wake.set)
            bus.on_wake(self._reader.wake)
            bus.listen(lambda _event: self._reader.wake() if self._reader is not None else None)
        else:
            bus.listen(self._on_event)

    def _enqueue_from_log(self, conn: Connection, batch: Sequence[Event]) -> None:
        enqueue_events(conn, batch, self.clock.now())  # the deliverer is woken once this has committed

    def _on_event(self, event: Event) -> None:
        if self._stopped.is_set():
            return
        try:
            if self.store.enqueue(event, self.clock.now()):
                self._wake.set()
        except Exception:  # the engine's thread must go on; the event is still on the board and the SSE
            log.exception("webhook enqueue failed", event_type=event.type, event_id=event.id)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="facwatch-webhooks", daemon=True)
        self._thread.start()
        if self._reader is not None:
            self._reader.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped.set()
        self._wake.set()
        if self._reader is not None:
            self._reader.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.expire_overdue()
                started = self.deliver_due()
            except Exception:
                log.exception("webhook delivery pass failed")
                started = 0
            with self._lock:
                busy = bool(self._flights)
            if not started:
                self._wake.wait(min(self._poll_s, 0.1) if busy else self._poll_s)
                self._wake.clear()

    def deliver_due(self) -> int:
        """Start the due deliveries that have a free slot; how many were started."""
        with self._lock:
            busy_hooks = {f.webhook_id for f in self._flights.values()}
            per_key: dict[str, int] = {}
            for flight in self._flights.values():
                per_key[flight.key] = per_key.get(flight.key, 0) + 1
        started = 0
        for due in self.store.due(self.clock.now(), busy_hooks):
            if self._stopped.is_set():
                break
            key = _host_key(due.url)
            if per_key.get(key, 0) >= self._per_host:
                continue
            if not self.store.claim(due.id, self.clock.now(), self._deadline_s + LEASE_MARGIN_S):
                continue  # another process took it
            per_key[key] = per_key.get(key, 0) + 1
            flight = _Flight(due.id, due.webhook_id, key, time.monotonic())
            with self._lock:
                self._flights[due.id] = flight
            self._pool.submit(self._attempt, flight, due)
            started += 1
        return started

    def expire_overdue(self) -> int:
        """Record as failed every attempt past its deadline (its thread may go on; its slot stays taken)."""
        now = time.monotonic()
        with self._lock:
            overdue = [
                f for f in self._flights.values() if not f.recorded and now - f.started > self._deadline_s
            ]
        for flight in overdue:
            self._record(flight, None, f"no answer within the deadline of {self._deadline_s:g} s")
        return len(overdue)

    def _record(self, flight: _Flight, status: int | None, error: str | None) -> None:
        with self._lock:
            if flight.recorded:
                return
            flight.recorded = True
        outcome = self.store.record(flight.delivery_id, self.clock.now(), status, error)
        log.info("webhook attempt", delivery_id=flight.delivery_id, status=status, outcome=outcome)

    def _attempt(self, flight: _Flight, due: Due) -> None:
        status: int | None = None
        error: str | None = None
        try:
            status = self._post(due)
        except TargetRefused as exc:
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a pool thread must always record and free its slot
            error = f"{type(exc).__name__}: {exc}"
        try:
            if not self._stopped.is_set() or status is not None:
                self._record(flight, status, error)
        finally:
            with self._lock:
                self._flights.pop(flight.delivery_id, None)
            self._wake.set()

    def _post(self, due: Due) -> int:
        url, body = due.url, due.body
        target, address = pin(url, self.store.policy)
        parts = urlsplit(url)
        host_port = f"[{address}]" if ":" in address else address
        pinned = urlunsplit(parts._replace(netloc=f"{host_port}:{target.port}"))
        default_port = 443 if target.scheme == "https" else 80
        host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
        headers = {
            "Host": host_header,
            "Content-Type": "application/json",
            **signature_headers(str(due.event_id), due.secrets, self.clock.now(), body),
            "User-Agent": "facwatch-webhooks/1",
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request(
            "POST", pinned, content=body, headers=headers, extensions=extensions
        )
        response = self._client.send(request, stream=True)  # the status is all we need: no body is read
        response.close()
        return response.status_code


def _host_key(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or ''}"
    except ValueError:
        return url
