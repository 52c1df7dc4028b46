"""The gateway judges before it stores and acknowledges last (gateway/subscriber.py, gateway/handoff.py).

A sink that refuses everything (the store down, the spool full) holds up the acknowledgements, never the
judging: every batch already received reaches ``on_batch``; the broker redelivers what was not acknowledged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from facwatch.config import MqttSettings
from facwatch.model import Reading, TelemetryQuery
from gateway.handoff import Handoff
from gateway.subscriber import Gateway
from ingest.deadletters import DeadLetterStore
from ingest.errors import StoreUnavailable
from ingest.sqlite_store import SqliteStore
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.waiting import wait_until
from tests.gateway.test_subscriber import SITE, Device, now_ms, numbered

pytestmark = pytest.mark.integration


class Blocked:
    """A sink that refuses until ``up`` is set, then writes to ``store``."""

    def __init__(self, store: SqliteStore) -> None:
        self.up = threading.Event()
        self.refused = 0
        self.store = store

    def write(self, readings: Sequence[Reading]) -> None:
        if not self.up.is_set():
            self.refused += 1
            raise StoreUnavailable("store down and spool full")
        self.store.write(readings)


def stored(store: SqliteStore) -> int:
    return len(store.query(TelemetryQuery("lakeside", "b1-elev-1", "floor", 0, now_ms() + 600_000)))


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqliteStore, DeadLetterStore]]:
    store = SqliteStore(tmp_path / "telemetry.db", synchronous="NORMAL")
    letters = DeadLetterStore(tmp_path / "dl.db", synchronous="NORMAL")
    yield store, letters
    store.close()
    letters.close()


def test_batches_behind_a_refusing_sink_are_judged_and_acknowledged_once_stored(
    mosquitto: MosquittoBroker, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    store, letters = stores
    sink = Blocked(store)
    judged: list[Reading] = []
    settings = MqttSettings(url=mosquitto.url, client_id="fw-judge-first", batch_size=1, batch_ms=1)
    gateway = Gateway(settings, SITE, sink, letters, on_batch=judged.extend, start_timeout_s=10)
    gateway.start()
    device = Device(mosquitto, v5=True)
    try:
        device.send(numbered(30))
        wait_until(lambda: len(judged) == 30, 10, "all 30 judged while the sink refuses")
        assert sink.refused > 0 and stored(store) == 0  # nothing stored, so nothing acknowledged ...
        assert gateway.queue_depth() >= 29  # ... the judged batches wait for the sink, in order
        sink.up.set()
        wait_until(lambda: stored(store) == 30, 15, "all 30 stored once the sink takes them")
        ts = [
            p.ts_ms
            for p in store.query(TelemetryQuery("lakeside", "b1-elev-1", "floor", 0, now_ms() + 600_000))
        ]
        assert ts == sorted(ts) and len(set(ts)) == 30
        assert len(judged) == 30  # judged once each: nothing was redelivered
    finally:
        device.close()
        gateway.stop()


@pytest.mark.parametrize(
    ("limit", "sizes", "fits"),
    [
        # an item always fits an empty hand-off, even one larger than the limit
        (5, [9], [True]),
        # up to the limit, in messages, not items
        (5, [2, 3], [True, True]),
        # one message over: waits (here: gives up at once)
        (5, [2, 3, 1], [True, True, False]),
    ],
)
def test_the_hand_off_is_bounded_in_messages(limit: int, sizes: list[int], fits: list[bool]) -> None:
    handoff: Handoff[int] = Handoff(limit)
    give_up = threading.Event()
    give_up.set()
    assert [handoff.put(i, size, give_up) for i, size in enumerate(sizes)] == fits
    handoff.close()
    taken = []
    while (item := handoff.get(threading.Event())) is not None:
        taken.append(item)
    assert taken == [i for i, fit in enumerate(fits) if fit]  # in order, and closed once empty
