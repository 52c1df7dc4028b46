"""The API's own tables on PostgreSQL (production's state database): migration 0005, idempotency keys
(including two claims racing for one key) and webhook deliveries, on a real server started by a fixture."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, inspect

from alerts.engine.events import Event
from api.idempotency import IdempotencyStore, Outcome
from api.webhooks import WebhookStore
from tests.api.conftest import LOCAL_TARGETS
from tests.api.fakes import T0
from tests.fixtures.postgres import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


def test_migration_0005_creates_the_tables_on_postgres(pg_engine: Engine) -> None:
    assert {"idempotency_keys", "webhooks", "webhook_deliveries"} <= set(inspect(pg_engine).get_table_names())


def test_idempotency_on_postgres(pg_engine: Engine) -> None:
    store = IdempotencyStore(pg_engine)
    assert store.claim("p", "k", "POST /x", "h1", T0).outcome == Outcome.NEW
    assert store.claim("p", "k", "POST /x", "h1", T0).outcome == Outcome.IN_PROGRESS
    store.complete("p", "k", 200, b'{"ok": true}', "application/json")
    replay = store.claim("p", "k", "POST /x", "h1", T0 + timedelta(hours=1))
    assert (replay.outcome, replay.status, replay.body) == (Outcome.REPLAY, 200, b'{"ok": true}')
    assert store.claim("p", "k", "POST /x", "h2", T0).outcome == Outcome.MISMATCH
    assert store.claim("p", "k", "POST /x", "h2", T0 + timedelta(hours=25)).outcome == Outcome.NEW  # expired


def test_only_one_of_many_racing_claims_wins_on_postgres(pg_engine: Engine) -> None:
    store = IdempotencyStore(pg_engine)
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        outcomes.append(store.claim("p", "race", "POST /x", "h", T0).outcome)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == sorted([Outcome.NEW] + [Outcome.IN_PROGRESS] * 7)


def test_webhook_deliveries_on_postgres(pg_engine: Engine) -> None:
    store = WebhookStore(pg_engine, LOCAL_TARGETS)
    hook, secret = store.subscribe("http://127.0.0.1:9/x", ["ticket"], "pm", T0)
    assert len(secret) >= 32
    assert store.enqueue(Event(type="ticket", data={"id": "T-1"}, ts=T0, id=7), T0) == 1
    assert store.enqueue(Event(type="alert", data={"id": "A-1"}, ts=T0, id=8), T0) == 0
    [due] = store.due(T0)
    delivery_id = due.id
    assert due.url == "http://127.0.0.1:9/x" and b'"T-1"' in due.body and due.event_id == 7
    assert store.claim(delivery_id, T0, 15) and not store.claim(delivery_id, T0, 15)  # one process wins
    assert store.record(delivery_id, T0, None, "ConnectError: refused") == "pending"
    assert store.due(T0) == []  # backing off
    assert store.record(delivery_id, T0 + timedelta(seconds=2), 200, None) == "delivered"
    [entry] = store.deliveries(hook.id, 10, None).items
    assert (entry.status, entry.attempts, entry.last_status) == ("delivered", 2, 200)
    assert store.remove(hook.id) and store.get(hook.id) is None
