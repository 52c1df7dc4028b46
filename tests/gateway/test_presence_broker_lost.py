"""A lost broker is one data-path alert, not one offline alert per device (real Mosquitto, whole system).

Nine devices say ``online`` every 0.25 s (expected interval 2 s: stale after 6 s of silence). Mosquitto is
stopped for longer than both the grace (3 s) and the staleness limit, then started again: exactly one alert,
``datapath.broker_lost``, opens and clears; no device is reported offline, during the outage or after.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts.engine.ports import AlertQuery
from facwatch.config import load_site
from facwatch.model import DATAPATH_ASSET, AlertState, Site
from gateway import topics
from gateway.presence import BROKER_LOST
from tests.api.test_health_parts import running_system
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration

INTERVAL_S = 2.0
GRACE_S = 3.0


def quick_site(tmp_path: Path) -> Site:
    site = load_site("demo", {"data_dir": str(tmp_path)})
    assets = tuple(dataclasses.replace(a, interval_s=INTERVAL_S) for a in site.assets)
    return dataclasses.replace(site, assets=assets)


class Devices:
    """Every asset of the site says ``online`` every 0.25 s while connected; reconnects within about 1 s."""

    def __init__(self, site: Site, server: MosquittoBroker) -> None:
        self.site = site
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fw-devices")
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect_async(server.host, server.port, keepalive=5)
        self.client.loop_start()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.25):
            for asset in self.site.assets:
                self.client.publish(topics.status(self.site.id, asset.kind, asset.id), b"online", qos=0)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def devices_site(tmp_path: Path) -> Site:
    return quick_site(tmp_path)


def test_a_lost_broker_is_one_datapath_alert_and_no_device_goes_offline(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    devices_site: Site,
) -> None:
    site = devices_site
    devices = Devices(site, mosquitto)
    system = running_system(
        tmp_path, mosquitto.url, site=site, mqtt={"broker_lost_s": GRACE_S}, sla={"resolve_hold_s": 1}
    )
    gateway = system.gateway
    assert gateway is not None

    def every_device_online() -> bool:
        return all(p.online for p in gateway.presence().values())

    def alerts() -> list[tuple[str, str, AlertState]]:
        page = system.alerts.list_alerts(AlertQuery(site=site.id, limit=100))
        return sorted((a.asset, a.kind, a.state) for a in page.items)

    try:
        wait_until(every_device_online, 20, "every device heard from")
        mosquitto.stop()
        stopped = time.monotonic()
        wait_until(
            lambda: alerts() == [(DATAPATH_ASSET, BROKER_LOST, AlertState.FIRING)],
            20,
            "the broker-lost alert",
        )
        opened_after = time.monotonic() - stopped
        # Deaf for longer than any device's staleness limit (3 × 2 s) before the broker comes back.
        time.sleep(max(0.0, 3 * INTERVAL_S + 1 - (time.monotonic() - stopped)))
        mosquitto.start()  # same port: gateway and devices reconnect
        wait_until(
            lambda: alerts() == [(DATAPATH_ASSET, BROKER_LOST, AlertState.RESOLVED)], 60, "the alert cleared"
        )
        # The gateway judged presence after the reconnection and found every device there.
        wait_until(every_device_online, 20, "every device online after the reconnection")
        assert alerts() == [
            (DATAPATH_ASSET, BROKER_LOST, AlertState.RESOLVED)
        ]  # one alert, nothing per device
        assert GRACE_S <= opened_after < GRACE_S + 5
    finally:
        devices.close()
        system.stop()
