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

from facwatch.model import STANDARD_CHANNELS, AssetKind
from gateway import codec, topics
from simulator.engine import Simulation
from simulator.errors import BrokerUnreachable
from simulator.publisher import MALFORMED, parse_broker_url, run_publisher
from tests.fixtures.servers import free_port

from .helpers import MIDNIGHT, demo_site, one_asset_site, scenario

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


def test_device_faults_on_the_wire_agree_with_the_labels(mosquitto: Any, recorder: Recorder) -> None:
    """A device that drops off fires its last will and leaves a gap exactly where its label says; a
    malformed burst sends junk beside the good readings; a skewed clock shifts the timestamps."""
    site = one_asset_site(AssetKind.PUMP, "pump", pressure_bar=6.0, flow_m3h=30.0)
    faults = scenario(
        ("pump", "device_offline", 3, 4), ("pump", "malformed_burst", 9, 1), ("pump", "clock_skew", 11, 1)
    )
    report = run_publisher(site, faults, mosquitto.url, speed=4.0, duration_s=14, seed=3, start_ms=MIDNIGHT)
    assert (report.telemetry, report.malformed, report.dropped) == (10, len(MALFORMED), 1)
    status = topics.status(site.id, "pump", "pump")
    _wait_for(lambda: len(recorder.messages[status]) >= 4)
    assert recorder.messages[status] == [b"online", b"offline", b"online", b"offline"]
    topic = topics.telemetry(site.id, "pump", "pump")
    _wait_for(lambda: len(recorder.messages[topic]) >= 10 + len(MALFORMED))
    good, junk = [], 0
    for payload in recorder.messages[topic]:
        try:
            good.extend(codec.decode_json(payload))
        except codec.DecodeError:
            junk += 1
    assert junk >= 4  # some junk is valid JSON with bad values: the validator's job, not the codec's
    channels = set(STANDARD_CHANNELS[AssetKind.PUMP])
    stamps = sorted(s.ts_ms for s in good if set(s.values) == channels)
    assert sorted(s.seq or 0 for s in good if set(s.values) == channels) == list(range(10)), "seq has no gaps"
    labels = {x.fault: x for x in Simulation(site, faults, start_ms=MIDNIGHT).labels()}
    gap = labels["device_offline"]
    assert gap.end_ms is not None
    expected = [
        MIDNIGHT + 1000 * k for k in range(14) if not gap.onset_ms <= MIDNIGHT + 1000 * k < gap.end_ms
    ]
    expected[expected.index(MIDNIGHT + 11_000)] += 7_200_000  # the skewed reading
    assert stamps == sorted(expected)
