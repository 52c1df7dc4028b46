"""A leased site's gateway acknowledges only while the site is held here (issue 14: a worker resumed after a
pause past its lease must not swallow the site's messages). Real Mosquitto; the lease is a fake predicate."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from facwatch.config import MqttSettings
from facwatch.model import Reading, TelemetryQuery
from gateway import codec
from gateway.subscriber import Gateway
from ingest.deadletters import DeadLetterStore
from ingest.sqlite_store import SqliteStore
from tests.fixtures.mqtt import Broker
from tests.fixtures.waiting import wait_until
from tests.gateway.test_subscriber import SITE, Device, now_ms, numbered

pytestmark = pytest.mark.integration


class Held:
    """The fake lease: held until ``lose``."""

    def __init__(self) -> None:
        self._lost = threading.Event()

    def __call__(self) -> bool:
        return not self._lost.is_set()

    def lose(self) -> None:
        self._lost.set()


class LosingSink:
    """Stores like the real sink, and loses the lease during the first write (after judging, before the ack)."""

    def __init__(self, store: SqliteStore, held: Held) -> None:
        self._store, self._held = store, held

    def write(self, readings: Sequence[Reading]) -> None:
        self._store.write(readings)
        self._held.lose()


@pytest.fixture
def two_stores(tmp_path: Path) -> Iterator[tuple[SqliteStore, SqliteStore, DeadLetterStore]]:
    a = SqliteStore(tmp_path / "a.db", synchronous="NORMAL")
    b = SqliteStore(tmp_path / "b.db", synchronous="NORMAL")
    letters = DeadLetterStore(tmp_path / "letters.db", synchronous="NORMAL")
    yield a, b, letters
    a.close()
    b.close()
    letters.close()


def floors(store: SqliteStore, since_ms: int = 0) -> int:
    return len(store.query(TelemetryQuery("lakeside", "b1-elev-1", "floor", since_ms, now_ms() + 600_000)))


def gateway(broker: Broker, sink: object, letters: DeadLetterStore, holds: Held | None = None) -> Gateway:
    settings = MqttSettings(url=broker.url, client_id=f"fw-held-{broker.port}")
    g = Gateway(settings, SITE, sink, letters, start_timeout_s=10, holds=holds)  # type: ignore[arg-type]
    g.start()
    return g


def test_messages_judged_after_the_lease_is_lost_are_not_acked_and_go_to_the_next_owner(
    mosquitto: Broker, two_stores: tuple[SqliteStore, SqliteStore, DeadLetterStore]
) -> None:
    store_a, store_b, letters = two_stores
    held = Held()
    judged_by_a: list[Reading] = []
    old = gateway(mosquitto, LosingSink(store_a, held), letters, held)
    old._on_batch = judged_by_a.extend  # what the old owner judged (its commit would be refused by the fence)
    device = Device(mosquitto, v5=True)
    new: Gateway | None = None
    try:
        device.send(numbered(30))
        wait_until(lambda: not held() and not old.connected, 10, "the old owner lets the session go")
        assert judged_by_a  # it had received and judged readings, and acknowledged none of them
        new = gateway(mosquitto, store_b, letters)  # the next owner: the broker redelivers all of them
        wait_until(lambda: floors(store_b) == 30, 15, "every reading at the new owner")
        assert not old.connected  # and the old one did not come back for the session
    finally:
        device.close()
        old.stop()
        if new is not None:
            new.stop()


def test_a_resumed_gateway_that_no_longer_holds_the_site_does_not_reconnect(
    mosquitto: Broker, two_stores: tuple[SqliteStore, SqliteStore, DeadLetterStore]
) -> None:
    store_a, store_b, letters = two_stores
    held = Held()
    old = gateway(mosquitto, store_a, letters, held)
    device = Device(mosquitto, v5=True)
    new: Gateway | None = None
    try:
        device.send(numbered(5))
        wait_until(lambda: floors(store_a) == 5, 10, "the owner's readings")
        held.lose()  # as after a pause past the lease: the process does not hold the site any more
        new = gateway(mosquitto, store_b, letters)  # takes the session over: the old connection is closed
        wait_until(lambda: not old.connected, 10, "the old owner's connection closed by the takeover")
        later = numbered(40, start=5)
        device.send(later)
        first = codec.decode_json(later[0][1])[0].ts_ms
        # (it may also get some of the first five: the old owner's last ack came after the lease was lost)
        wait_until(lambda: floors(store_b, first) == 40, 15, "every later reading at the new owner")
        wait_until(lambda: old._connector.declined >= 1, 10, "the old owner's reconnect declined")
        assert new.connected and not old.connected  # no reconnect, no session taken back
        assert new._connector.generation == 1  # the new owner's connection was never taken over
        assert floors(store_a, first) == 0
    finally:
        device.close()
        old.stop()
        if new is not None:
            new.stop()
