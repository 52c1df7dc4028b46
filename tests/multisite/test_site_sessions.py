"""Each site is consumed through its own persistent MQTT session (real Mosquitto): while one site's runtime is
stopped the broker keeps that site's messages, and they arrive when it starts again; the other site runs on.
With ``session_expiry_s = 0`` the broker keeps nothing for a stopped site (both values of the option)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.app import System, build
from facwatch.config import load_settings, load_site
from facwatch.model import TelemetryQuery
from gateway import codec, topics
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.waiting import wait_until
from tests.multisite.sites import ELEVATOR, write_site
from tests.reliability.eventlog_harness import MOVING


class Device:
    """Publishes readings of one site's elevator at QoS 1 and waits until the broker has each."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="session-devices")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, site: str, ts_ms: int) -> None:
        payload = codec.encode(ts_ms, dict(MOVING))
        info = self.client.publish(topics.telemetry(site, "elevator", ELEVATOR), payload, qos=1)
        info.wait_for_publish(5)
        assert info.is_published()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def device(mosquitto: MosquittoBroker) -> Iterator[Device]:
    device = Device(mosquitto.port)
    yield device
    device.close()


def _system(tmp_path: Path, broker_url: str, expiry_s: int) -> System:
    folder = tmp_path / "sites"
    folder.mkdir()
    sites = [load_site(write_site(folder, sid)) for sid in ("a", "b")]
    mqtt_settings = {"url": broker_url, "client_id": "fw-sessions", "session_expiry_s": expiry_s}
    settings = load_settings(data_dir=tmp_path / "data", mqtt=mqtt_settings)
    return build(settings, sites, parts=["gateway", "alerts"])


def _stored(system: System, site: str, start_ms: int, end_ms: int) -> set[int]:
    points = system.runtimes[site].store.query(TelemetryQuery(site, ELEVATOR, "speed_mps", start_ms, end_ms))
    return {p.ts_ms for p in points}


@pytest.mark.parametrize("expiry_s", [3600, 0])
def test_a_stopped_sites_messages_wait_in_its_session(
    mosquitto: MosquittoBroker, device: Device, tmp_path: Path, expiry_s: int
) -> None:
    system = _system(tmp_path, mosquitto.url, expiry_s)
    system.start()
    try:
        site_a, site_b = system.runtimes["a"], system.runtimes["b"]
        assert site_a.gateway is not None and site_a.gateway.client_id == "fw-sessions-a"
        assert site_b.gateway is not None and site_b.gateway.client_id == "fw-sessions-b"
        # each site's findings wait in its own queue file
        assert (site_a.intake_path.name, site_b.intake_path.name) == ("findings-a.db", "findings-b.db")
        t0 = int(time.time() * 1000) - 60_000
        device.send("a", t0)
        wait_until(lambda: _stored(system, "a", t0, t0 + 1) == {t0}, 20, "site A's first reading stored")

        site_a.stop()  # as a worker that loses the site's lease: the broker keeps the session
        assert not site_a.running and site_a.gateway is None
        meanwhile = [t0 + 100 * (i + 1) for i in range(20)]
        for ts in meanwhile:
            device.send("a", ts)
        device.send("b", t0)
        wait_until(lambda: _stored(system, "b", t0, t0 + 1) == {t0}, 20, "site B runs on")

        site_a.start()  # as the site's next owner
        marker = t0 + 10_000
        device.send("a", marker)
        wait_until(
            lambda: marker in _stored(system, "a", t0, marker + 1), 30, "site A's reading after the start"
        )
        kept = _stored(system, "a", t0 + 1, marker)
        if expiry_s:
            wait_until(
                lambda: _stored(system, "a", t0 + 1, marker) == set(meanwhile), 30, "what the broker kept"
            )
        else:
            assert kept == set(), "a session that expires at once keeps nothing for a stopped site"
        assert site_a.intake is not None and site_a.running
    finally:
        system.stop()
