"""The simulator as devices on a real Mosquitto: telemetry at 1 Hz per asset, presence, alarm events."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.model import STANDARD_CHANNELS
from gateway import codec, topics
from simulator.errors import BrokerUnreachable
from simulator.publisher import parse_broker_url, run_publisher
from tests.fixtures.servers import free_port

from .helpers import MIDNIGHT, demo_site, scenario

pytestmark = pytest.mark.integration


class Recorder:
    """A paho subscriber on ``fw/#`` that keeps every message by topic."""

    def __init__(self, host: str, port: int) -> None:
        self.messages: dict[str, list[bytes]] = defaultdict(list)
        self.retained: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"rec-{port}")
        self.client.on_connect = lambda c, *_: c.subscribe("fw/#", qos=1)
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._ready.wait(10), "subscriber never subscribed"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages[msg.topic].append(bytes(msg.payload))
            if msg.retain:
                self.retained[msg.topic] = bytes(msg.payload)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def recorder(mosquitto: Any) -> Iterator[Recorder]:
    rec = Recorder(mosquitto.host, mosquitto.port)
    yield rec
    rec.close()


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_one_message_per_asset_per_simulated_second(mosquitto: Any, recorder: Recorder) -> None:
    site = demo_site()
    faults = scenario(("b1-elev-1", "entrapment", 2, None))
    began = time.monotonic()
    report = run_publisher(site, faults, mosquitto.url, speed=10.0, duration_s=30, seed=1, start_ms=MIDNIGHT)
    wall = time.monotonic() - began
    assert 2.5 <= wall < 8, f"30 simulated s at speed 10 took {wall:.1f} s"
    assert report.telemetry == 30 * len(site.assets) and report.seconds == 30
    for asset in site.assets:
        topic = topics.telemetry(site.id, asset.kind, asset.id)
        _wait_for(lambda t=topic: len(recorder.messages[t]) >= 30)
        samples = [s for p in recorder.messages[topic] for s in codec.decode_json(p)]
        assert [s.ts_ms for s in samples] == [MIDNIGHT + 1000 * k for k in range(30)], asset.id
        assert all(set(s.values) == set(STANDARD_CHANNELS[asset.kind]) for s in samples)
    # The trapped residents pressed the alarm about 20 s after the car stopped: one discrete event.
    events = recorder.messages[topics.event(site.id, "elevator", "b1-elev-1")]
    assert len(events) == 1 and report.events == 1
    assert b'"alarm_button"' in events[0]


def test_presence_is_retained_online_then_offline(mosquitto: Any, recorder: Recorder) -> None:
    site = demo_site()
    run_publisher(site, scenario(), mosquitto.url, speed=20.0, duration_s=4, seed=1)
    for asset in site.assets:
        status = topics.status(site.id, asset.kind, asset.id)
        _wait_for(lambda s=status: len(recorder.messages[s]) >= 2)
        assert recorder.messages[status] == [b"online", b"offline"], asset.id
    # A subscriber arriving later learns from the retained message that the devices are gone.
    late = Recorder(mosquitto.host, mosquitto.port)
    try:
        _wait_for(lambda: len(late.retained) >= len(site.assets))
        assert set(late.retained.values()) == {b"offline"}
    finally:
        late.close()


def test_runs_in_a_thread_until_stopped(mosquitto: Any, recorder: Recorder) -> None:
    """As the demo runs it: in a thread of the same process, real time, until told to stop."""
    site = demo_site()
    stop = threading.Event()
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.append(run_publisher(site, scenario(), mosquitto.url, seed=2, stop=stop)),
        daemon=True,
    )
    worker.start()
    time.sleep(2.5)
    stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    report = result[0]
    assert 2 <= report.seconds <= 4
    assert report.telemetry == report.seconds * len(site.assets)
    # Wall-clock timestamps by default: the readings are of now.
    first = codec.decode_json(recorder.messages[topics.telemetry(site.id, "pump", "b1-pump-1")][0])[0]
    assert abs(first.ts_ms - time.time() * 1000) < 10_000


def test_an_unreachable_broker_is_reported() -> None:
    with pytest.raises(BrokerUnreachable, match="no connection"):
        run_publisher(
            demo_site(), scenario(), f"mqtt://127.0.0.1:{free_port()}", duration_s=1, connect_timeout_s=1.0
        )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1884", ("127.0.0.1", 1884)),  # the usual form
        ("tcp://broker.local", ("broker.local", 1883)),  # default port
        ("localhost:1999", ("localhost", 1999)),  # no scheme
    ],
)
def test_broker_urls(url: str, expected: tuple[str, int]) -> None:
    assert parse_broker_url(url) == expected


def test_a_broker_url_of_another_scheme_is_refused() -> None:
    with pytest.raises(BrokerUnreachable, match="mqtt://host:port"):
        parse_broker_url("http://127.0.0.1:80")
