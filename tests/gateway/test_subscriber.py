"""The gateway against real brokers (Mosquitto and the embedded amqtt): nothing lost, nothing doubled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.config import MqttSettings, load_site
from facwatch.errors import StartupError
from facwatch.model import Point, Reading, Site, TelemetryQuery
from gateway import codec, topics
from gateway.subscriber import Gateway
from ingest.deadletters import DeadLetterStore
from ingest.sqlite_store import SqliteStore
from tests.fixtures.mqtt import AmqttBroker, Broker
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration

SITE: Site = load_site("demo", {"data_dir": "unused"})
ELEV = topics.telemetry("lakeside", "elevator", "b1-elev-1")


def now_ms() -> int:
    return int(time.time() * 1000)


def floors(store: SqliteStore) -> list[Point]:
    """Every stored reading of the elevator's floor channel."""
    return store.query(TelemetryQuery("lakeside", "b1-elev-1", "floor", 0, now_ms() + 600_000))


class Device:
    """A publisher like a device: QoS 1, waits until the broker has each message."""

    def __init__(self, broker: Broker, v5: bool) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
        self.client.max_inflight_messages_set(1000)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, messages: Sequence[tuple[str, bytes]], retain: bool = False) -> None:
        infos = [self.client.publish(t, p, qos=1, retain=retain) for t, p in messages]
        for info in infos:
            info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(params=["mosquitto", "amqtt_broker"])
def broker(request: pytest.FixtureRequest) -> Broker:
    b: Broker = request.getfixturevalue(request.param)
    return b


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqliteStore, DeadLetterStore]]:
    store = SqliteStore(tmp_path / "telemetry.db", synchronous="NORMAL")
    letters = DeadLetterStore(tmp_path / "telemetry.db", synchronous="NORMAL")
    yield store, letters
    store.close()
    letters.close()


def make_gateway(broker: Broker, store: object, letters: object, **overrides: object) -> Gateway:
    # amqtt speaks 3.1.1 only; saying so saves the 2 s MQTT 5 probe (tested on its own below).
    url = broker.url + ("?protocol=3.1.1" if isinstance(broker, AmqttBroker) else "")
    settings = MqttSettings(url=url, client_id=f"fw-test-{broker.port}", **overrides)
    gateway = Gateway(settings, SITE, store, letters, start_timeout_s=10)  # type: ignore[arg-type]
    gateway.start()
    return gateway


def numbered(n: int, start: int = 0) -> list[tuple[str, bytes]]:
    t0 = now_ms()
    return [(ELEV, codec.encode(t0 + i, {"floor": i % 20}, seq=i)) for i in range(start, start + n)]


def test_every_reading_lands_exactly_once_and_bad_ones_become_dead_letters(
    broker: Broker, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    store, letters = stores
    gateway = make_gateway(broker, store, letters)
    device = Device(broker, v5=gateway.protocol == "5")
    try:
        good = numbered(300)
        bad = [
            (ELEV, b"{not json"),
            ("fw/lakeside/elevator/nobody/telemetry", codec.encode(now_ms(), {"floor": 1})),
            (ELEV, codec.encode(now_ms(), {"speed_mps": 99.0})),
        ]
        mixed = good[:100] + bad[:1] + good[100:200] + bad[1:] + good[200:]
        device.send(mixed)
        wait_until(lambda: len(letters.list(10).items) == 3 and len(floors(store)) == 300)
        ts_sent = sorted(codec.decode_json(p)[0].ts_ms for _, p in good)
        ts_stored = [p.ts_ms for p in floors(store)]
        assert ts_stored == ts_sent
        assert letters.counts() == {"malformed": 1, "unknown_asset": 1, "out_of_range": 1}
        assert gateway.presence()["b1-elev-1"].online
    finally:
        device.close()
        gateway.stop()
    assert gateway.protocol is None


def test_slow_sink_applies_back_pressure_without_loss(
    broker: Broker, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    store, letters = stores

    class SlowSink:
        def __init__(self) -> None:
            self.max_depth = 0

        def write(self, readings: Sequence[Reading]) -> None:
            self.max_depth = max(self.max_depth, gateway.queue_depth())
            time.sleep(0.02)
            store.write(readings)

    sink = SlowSink()
    gateway = make_gateway(broker, sink, letters, queue_size=5, batch_size=3, batch_ms=5)
    device = Device(broker, v5=gateway.protocol == "5")
    try:
        device.send(numbered(150))
        wait_until(lambda: len(floors(store)) == 150, 30)
    finally:
        device.close()
        gateway.stop()
    # bounded: queue_size messages before the judge, and as many judged ones waiting for the sink
    assert 0 < sink.max_depth <= 2 * 5


def test_failing_sink_is_retried_and_nothing_is_lost(
    mosquitto: Broker, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    store, letters = stores
    calls = {"n": 0}

    class FlakySink:
        def write(self, readings: Sequence[Reading]) -> None:
            calls["n"] += 1
            if calls["n"] <= 3:
                raise OSError("disk unavailable")
            store.write(readings)

    gateway = make_gateway(mosquitto, FlakySink(), letters)
    device = Device(mosquitto, v5=True)
    try:
        device.send(numbered(20))
        wait_until(lambda: len(floors(store)) == 20)
    finally:
        device.close()
        gateway.stop()
    assert calls["n"] > 3


def test_restart_with_persistent_session_gets_what_was_published_while_down(
    mosquitto: Broker, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    store, letters = stores
    gateway = make_gateway(mosquitto, store, letters)
    device = Device(mosquitto, v5=True)
    try:
        device.send(numbered(10))
        wait_until(lambda: len(floors(store)) == 10)
        gateway.stop()
        device.send(numbered(40, start=10))  # the gateway is down: the broker keeps these for its session
        gateway = make_gateway(mosquitto, store, letters)
        wait_until(lambda: len(floors(store)) == 50)
    finally:
        device.close()
        gateway.stop()


def test_on_batch_sees_readings_and_its_errors_do_not_stop_the_worker(
    amqtt_broker: Broker, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    store, letters = stores
    seen: list[Reading] = []
    lock = threading.Lock()

    def on_batch(readings: Sequence[Reading]) -> None:
        with lock:
            seen.extend(readings)
        raise RuntimeError("alert engine bug")

    settings = MqttSettings(url=amqtt_broker.url + "?protocol=3.1.1", client_id="fw-on-batch")
    gateway = Gateway(settings, SITE, store, letters, on_batch=on_batch)
    gateway.start()
    device = Device(amqtt_broker, v5=False)
    try:
        device.send(numbered(5))
        time.sleep(0.2)
        device.send(numbered(5, start=5))
        wait_until(lambda: len(seen) == 10)
    finally:
        device.close()
        gateway.stop()


def test_presence_follows_retained_status_and_gateway_publishes(
    mosquitto: Broker, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    store, letters = stores
    device = Device(mosquitto, v5=True)
    device.send([(topics.status("lakeside", "pump", "b1-pump-1"), b"offline")], retain=True)
    got: list[bytes] = []
    device.client.on_message = lambda c, u, m: got.append(bytes(m.payload))
    device.client.subscribe(topics.alerts("lakeside", "+"), qos=1)
    gateway = make_gateway(mosquitto, store, letters)
    try:
        wait_until(lambda: gateway.presence()["b1-pump-1"].reported == "offline")
        assert not gateway.presence()["b1-pump-1"].online
        gateway.publish(topics.alerts("lakeside", "b1-pump-1"), b'{"state": "firing"}')
        wait_until(lambda: got == [b'{"state": "firing"}'])
    finally:
        device.close()
        gateway.stop()


def test_unreachable_broker_fails_start_with_a_clear_error(
    stores: tuple[SqliteStore, DeadLetterStore],
) -> None:
    from tests.fixtures.servers import free_port

    store, letters = stores
    settings = MqttSettings(url=f"mqtt://127.0.0.1:{free_port()}", client_id="fw-nobody")
    gateway = Gateway(settings, SITE, store, letters, start_timeout_s=1.5)
    with pytest.raises(StartupError, match="no answer"):
        gateway.start()


def test_amqtt_falls_back_to_mqtt_311(
    amqtt_broker: Broker, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    store, letters = stores
    settings = MqttSettings(url=amqtt_broker.url, client_id="fw-fallback")  # protocol=auto
    gateway = Gateway(settings, SITE, store, letters, start_timeout_s=10)
    gateway.start()
    try:
        assert gateway.protocol == "3.1.1"
    finally:
        gateway.stop()


def test_mosquitto_speaks_mqtt_5(mosquitto: Broker, stores: tuple[SqliteStore, DeadLetterStore]) -> None:
    store, letters = stores
    gateway = make_gateway(mosquitto, store, letters)
    try:
        assert gateway.protocol == "5"
    finally:
        gateway.stop()
