"""Claims on the database's clock: two workers on one PostgreSQL, one of them with a clock an hour ahead.

A notification send's lease and a webhook attempt's claim are written by one worker and judged by the
others. Were they measured on each worker's own clock, the worker running ahead would find every lease of
the other one expired and send the same message again while the first send is still in flight. Measured on
the database's clock (``alerts.engine.claim_clock``), every message reaches the receiver exactly once.

The receiver answers after ``DELAY_S``, so that sends are in flight while the other worker looks.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, select

from alerts.engine.db import notification_receipts
from alerts.engine.events import Event, EventBus
from alerts.notify.outbox import Dispatcher, Outbox, Outgoing
from api.db import webhook_deliveries
from api.targets import TargetPolicy
from api.webhook_worker import WebhookWorker
from api.webhooks import WebhookStore, enqueue_events
from facwatch.clock import WallClock
from tests.fixtures.postgres import fresh_database
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration

ROWS = 12
DELAY_S = 1.0
AHEAD = timedelta(hours=1)


class AheadClock:
    """A worker's clock that runs an hour ahead of the others' (and of the database's)."""

    def now(self) -> datetime:
        return datetime.now(UTC) + AHEAD


class SlowReceiver:
    """Records each POST (path, JSON body) as it arrives, answers 200 after ``DELAY_S``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.posts.append((self.path, json.loads(body)))
                time.sleep(DELAY_S)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def received(self) -> list[tuple[str, Any]]:
        with self._lock:
            return list(self.posts)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


@pytest.fixture
def receiver() -> Iterator[SlowReceiver]:
    slow = SlowReceiver()
    yield slow
    slow.close()


def count(engine: Engine, table: Table, status: str) -> int:
    query = select(func.count()).select_from(table).where(table.c.status == status)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_a_dispatcher_whose_clock_runs_ahead_never_resends_what_another_has_in_flight(
    engine: Engine, receiver: SlowReceiver
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/"
    items = [Outgoing(f"k{i:02d}", "lakeside", None, "engineer", "eng-wang", (url,), f"n{i:02d}", "body")
             for i in range(ROWS)]  # fmt: skip
    with engine.begin() as conn:
        assert Outbox().enqueue(conn, items, datetime.now(UTC)) == ROWS
    done = threading.Event()

    def work(ahead: bool) -> None:
        # A short backoff: a send wrongly found expired would be retried at once, while still in flight.
        dispatcher = Dispatcher(engine, batch=4, backoff_s=0.01, backoff_cap_s=0.01)
        try:
            while not done.is_set():
                now = datetime.now(UTC) + (AHEAD if ahead else timedelta(0))
                dispatcher.deliver_pending(now, wait_s=0.1)
        finally:
            dispatcher.close()

    threads = [threading.Thread(target=work, args=(ahead,), daemon=True) for ahead in (False, True)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: count(engine, notification_receipts, "sent") == ROWS, 90, "every receipt sent")
    finally:
        done.set()
        for thread in threads:
            thread.join(30)
    titles = Counter(body["title"] for _, body in receiver.received())
    assert len(titles) == ROWS and set(titles.values()) == {1}, titles  # each message once


def test_a_webhook_worker_whose_clock_runs_ahead_never_takes_a_claimed_delivery(
    engine: Engine, receiver: SlowReceiver
) -> None:
    now = datetime.now(UTC)
    store = WebhookStore(engine, TargetPolicy(allow_http=True, allow=("127.0.0.1",)))
    for i in range(4):
        store.subscribe(f"http://127.0.0.1:{receiver.port}/h{i}", ["alert"], "ops", now)
    events = [Event("alert", {"n": n}, now, id=n + 1, site="lakeside") for n in range(ROWS // 4)]
    with engine.begin() as conn:
        assert enqueue_events(conn, events, now) == ROWS
    workers = [WebhookWorker(store, EventBus(), clock, poll_s=0.05) for clock in (AheadClock(), WallClock())]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: count(engine, webhook_deliveries, "delivered") == ROWS, 90, "every row delivered")
    finally:
        for worker in workers:
            worker.stop()
    posts = Counter((path, body["data"]["n"]) for path, body in receiver.received())
    assert len(posts) == ROWS and set(posts.values()) == {1}, posts  # each (subscription, event) once
