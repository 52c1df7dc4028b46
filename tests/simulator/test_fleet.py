"""The fleet on a real Mosquitto: devices connected once for a script of moments, a heartbeat between them,
a clock jump with every device speaking right after it, and ``offline`` only at the end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from facwatch.errors import ConfigError
from facwatch.model import AssetKind, Site
from gateway import codec, topics
from simulator.errors import BrokerUnreachable
from simulator.fleet import Fleet
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until

from .helpers import MIDNIGHT, one_asset_site, scenario
from .test_publisher import Recorder

pytestmark = pytest.mark.integration


@pytest.fixture
def wire(mosquitto: Any) -> Iterator[Recorder]:
    rec = Recorder(mosquitto.host, mosquitto.port)
    yield rec
    rec.close()


DAY_MS = 86_400_000


def _site() -> Site:
    return one_asset_site(AssetKind.PUMP, "pump", pressure_bar=6.0, flow_m3h=30.0, current_a=22.0)


def test_moments_days_apart_on_one_connection(mosquitto: Any, wire: Recorder) -> None:
    site = _site()
    status = topics.status(site.id, "pump", "pump")
    telemetry = topics.telemetry(site.id, "pump", "pump")
    fleet = Fleet(site, mosquitto.url, run_id="t", heartbeat_s=0.2)
    fleet.open()
    try:
        first = fleet.play(scenario(), start_ms=MIDNIGHT, duration_s=3, speed=10)
        # Between moments the device stays on the network and keeps saying so.
        wait_until(lambda: fleet.beats >= 3, 10, "three heartbeats")
        jumped: list[int] = []
        fleet.jump(lambda: jumped.append(fleet.beats))
        assert jumped and fleet.beats == jumped[0] + 1  # every device spoke right after the step
        later = fleet.play(scenario(), start_ms=MIDNIGHT + 5 * DAY_MS, duration_s=3, speed=10)
    finally:
        fleet.close()
    wait_until(lambda: wire.messages[status][-1:] == [b"offline"], 10, "offline at the end")
    said = wire.messages[status]
    assert b"offline" not in said[:-1] and said.count(b"online") >= 5  # connect, beats, the jump's
    # Each moment's readings carry its own event time, five days apart, one a simulated second.
    wait_until(lambda: len(wire.messages[telemetry]) >= 6, 10, "six readings")
    stamps = [s.ts_ms for p in wire.messages[telemetry] for s in codec.decode_json(p)]
    assert stamps == [MIDNIGHT + k * 1000 for k in range(3)] + [
        MIDNIGHT + 5 * DAY_MS + k * 1000 for k in range(3)
    ]
    assert (first.telemetry, later.telemetry) == (3, 3) and later.start_ms - first.start_ms == 5 * DAY_MS


def test_a_moment_stops_when_told_and_no_heartbeat_interleaves(mosquitto: Any, wire: Recorder) -> None:
    site = _site()
    fleet = Fleet(site, mosquitto.url, run_id="s", heartbeat_s=0.05)
    fleet.open()
    stop = threading.Event()
    try:
        beats: list[int] = []
        thread = threading.Thread(
            target=lambda: fleet.play(scenario(("pump", "trip", 1, None)), start_ms=MIDNIGHT, stop=stop)
        )
        thread.start()
        wait_until(lambda: len(wire.messages[topics.telemetry(site.id, "pump", "pump")]) >= 2, 10, "2 s")
        beats.append(fleet.beats)
        wait_until(lambda: len(wire.messages[topics.telemetry(site.id, "pump", "pump")]) >= 3, 10, "3 s")
        beats.append(fleet.beats)
        stop.set()
        thread.join(5)
        assert not thread.is_alive()
        assert beats[0] == beats[1]  # while a moment plays its readings are the device's voice
        wait_until(lambda: fleet.beats > beats[1], 10, "heartbeats again once the moment is over")
    finally:
        fleet.close()


def test_an_unreachable_broker_and_bad_settings_are_refused() -> None:
    site = _site()
    with pytest.raises(ConfigError):
        Fleet(site, "mqtt://127.0.0.1:1", heartbeat_s=0)
    fleet = Fleet(site, f"mqtt://127.0.0.1:{free_port()}")
    with pytest.raises(BrokerUnreachable):
        fleet.open(connect_timeout_s=0.5)
    with pytest.raises(RuntimeError):
        fleet.play(scenario(), start_ms=MIDNIGHT, duration_s=1)
