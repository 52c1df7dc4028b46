"""A store outage raises a data-path alert within 60 s, not at 80 % of the spool (real VictoriaMetrics).

The whole system writes an elevator's readings to VictoriaMetrics behind a large spool (1 GiB: it would
take hours to reach 80 %). VictoriaMetrics is stopped: with the default ``store_outage_s`` (30 s) the
``datapath.store_unreachable`` alert (ORANGE, on the data path) opens within 60 s; it clears once writes
succeed again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from alerts.engine.ports import AlertQuery
from facwatch.config import load_site
from facwatch.model import DATAPATH_ASSET, AlertState
from gateway import codec, topics
from ingest.outage import FINDING_KIND
from tests.api.test_health_parts import running_system
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.victoria import Victoria
from tests.fixtures.waiting import wait_until
from tests.gateway.test_subscriber import Device

pytestmark = pytest.mark.integration

SITE = load_site("demo", {"data_dir": "unused"})
ELEV = next(a for a in SITE.assets if a.kind == "elevator")


def test_a_store_outage_raises_the_datapath_alert_within_60_s(
    tmp_path: Path, mosquitto: MosquittoBroker, victoria: Victoria
) -> None:
    telemetry = {
        "backend": "influxdb",
        "influx_url": victoria.url,
        "influx_token": "t",
        "influx_org": "o",
        "influx_bucket": "b",
    }
    system = running_system(tmp_path, mosquitto.url, telemetry=telemetry, sla={"resolve_hold_s": 1})
    device = Device(mosquitto, v5=True)
    stop = threading.Event()

    def publish() -> None:  # an elevator at rest on floor 3, twice a second
        topic = topics.telemetry(SITE.id, "elevator", ELEV.id)
        while not stop.wait(0.5):
            device.client.publish(topic, codec.encode(int(time.time() * 1000), {"floor": 3}), qos=1)

    def datapath() -> list[tuple[str, AlertState, str]]:
        page = system.alerts.list_alerts(AlertQuery(asset=DATAPATH_ASSET, limit=100))
        return [(a.kind, a.state, a.level.value) for a in page.items]

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    try:
        landed = victoria.export_until(bool, f'{{asset="{ELEV.id}"}}')
        assert landed  # readings reach the store before it stops
        victoria.stop()
        stopped = time.monotonic()
        wait_until(lambda: datapath() == [(FINDING_KIND, AlertState.FIRING, "orange")], 70, "the store alert")
        opened_after = time.monotonic() - stopped
        assert opened_after <= 60, opened_after
        spool = system.telemetry.spooling
        assert spool is not None and spool.spool.bytes < 0.8 * spool.spool.max_bytes  # not the spool's alert
        victoria.start()
        wait_until(
            lambda: datapath() == [(FINDING_KIND, AlertState.RESOLVED, "orange")], 30, "the alert cleared"
        )
        print(f"\nstore_unreachable opened {opened_after:.1f} s after the store stopped (limit 60 s)")
    finally:
        stop.set()
        publisher.join(5)
        device.close()
        system.stop()
