"""Row claims on one PostgreSQL database shared by two workers: two notification dispatchers and two webhook
workers deliver 200 queued rows to a real HTTP receiver, each exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

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
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until

ROWS = 200


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


def count(engine: Engine, table: Table, status: str) -> int:
    query = select(func.count()).select_from(table).where(table.c.status == status)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_two_dispatchers_send_each_notification_exactly_once(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    now = datetime.now(UTC)
    items = [
        Outgoing(
            f"k{i:03d}", "lakeside", None, "engineer", "eng-wang", (http_receiver.url,), f"n{i:03d}", "body"
        )
        for i in range(ROWS)
    ]
    with engine.begin() as conn:
        assert Outbox().enqueue(conn, items, now) == ROWS
    done = threading.Event()
    sent = Counter[str]()

    def work(name: str) -> None:
        dispatcher = Dispatcher(engine, batch=20)
        try:
            while not done.is_set():
                sent[name] += dispatcher.deliver_pending(datetime.now(UTC), wait_s=0.2)
        finally:
            dispatcher.close()

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in ("one", "two")]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: count(engine, notification_receipts, "sent") == ROWS, 120, "every receipt sent")
    finally:
        done.set()
        for thread in threads:
            thread.join(30)
    received = http_receiver.wait_for(ROWS)
    titles = Counter(body["title"] for body in received)
    assert len(received) == ROWS and set(titles.values()) == {1}  # each exactly once
    assert sent["one"] > 0 and sent["two"] > 0, sent  # both took part
    assert sent["one"] + sent["two"] == ROWS


def test_two_webhook_workers_deliver_each_row_exactly_once(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    now = datetime.now(UTC)
    store = WebhookStore(engine, TargetPolicy(allow_http=True, allow=("127.0.0.1",)))
    for i in range(4):
        store.subscribe(f"{http_receiver.http_url}h{i}", ["alert"], "ops", now)
    events = [Event("alert", {"n": n}, now, id=n + 1, site="lakeside") for n in range(ROWS // 4)]
    with engine.begin() as conn:
        assert enqueue_events(conn, events, now) == ROWS
    workers = [WebhookWorker(store, EventBus(), WallClock(), poll_s=0.05) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: count(engine, webhook_deliveries, "delivered") == ROWS, 120, "every row delivered")
    finally:
        for worker in workers:
            worker.stop()
    received = http_receiver.wait_for(ROWS)
    pairs = Counter(zip(http_receiver.paths, (str(body) for body in received), strict=True))
    assert len(pairs) == ROWS and set(pairs.values()) == {1}  # each (subscription, event) exactly once
    for path in {p for p, _ in pairs}:  # in order per subscription
        ns = [body["data"]["n"] for p, body in zip(http_receiver.paths, received, strict=True) if p == path]
        assert ns == sorted(ns)
