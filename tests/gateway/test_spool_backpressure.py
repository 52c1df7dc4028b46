"""The gateway in front of the spool, on a real Mosquitto: the store down, the spool full, nothing lost.

While the store is down the gateway keeps acknowledging (the spool holds the batches); once the spool is at
its bound the gateway stops acknowledging and the broker keeps the rest; when the store is back, everything
lands, in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from facwatch.config import MqttSettings, load_site
from facwatch.model import Finding, Reading
from gateway import codec, topics
from gateway.subscriber import Gateway
from ingest.deadletters import DeadLetterStore
from ingest.errors import StoreUnavailable
from ingest.spool import FINDING_KIND, Spool, SpoolingSink, encode
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.waiting import wait_until
from tests.gateway.test_subscriber import Device

pytestmark = pytest.mark.integration

SITE = load_site("demo", {"data_dir": "unused"})
ELEV = topics.telemetry(SITE.id, "elevator", "b1-elev-1")


class Store:
    def __init__(self) -> None:
        self.up = threading.Event()
        self.taken: list[Reading] = []

    def write(self, readings: Sequence[Reading]) -> None:
        if not self.up.is_set():
            raise StoreUnavailable("down for the test")
        self.taken.extend(readings)


def test_a_full_spool_stops_the_acks_and_nothing_is_lost(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    store = Store()
    t0 = int(time.time() * 1000)
    one = len(encode([Reading(SITE.id, "b1-elev-1", "floor", t0, 1.0, 1)]))
    spool = Spool(tmp_path / "spool.db", max_bytes=one * 40)  # about 40 one-reading batches
    findings: list[Finding] = []
    sink = SpoolingSink(store, spool, site=SITE.id, on_finding=findings.append, retry_max_s=0.1)
    sink.start()
    letters = DeadLetterStore(tmp_path / "dl.db")
    settings = MqttSettings(url=mosquitto.url, client_id="fw-spool-test", batch_size=1, batch_ms=1)
    gateway = Gateway(settings, SITE, sink, letters, start_timeout_s=10)
    gateway.start()
    device = Device(mosquitto, v5=True)
    try:
        messages = [(ELEV, codec.encode(t0 + i, {"floor": i % 20}, seq=i)) for i in range(100)]
        device.send(messages)  # the broker has them all
        wait_until(lambda: spool.bytes > spool.max_bytes - 2 * one)  # the spool fills up ...
        spooled = spool.readings
        time.sleep(1.0)
        assert spool.readings - spooled <= 1  # ... and stays at its bound (one more may still fit) ...
        assert spool.readings < 100  # ... the gateway waits, unacknowledged, and the broker holds the rest
        assert [f.kind for f in findings] == [FINDING_KIND]
        store.up.set()
        wait_until(lambda: len(store.taken) == 100 and spool.batches == 0)
        assert [r.ts_ms for r in store.taken] == [t0 + i for i in range(100)]  # in order, each once
        assert [f.active for f in findings] == [True, False]
    finally:
        device.close()
        gateway.stop()
        sink.stop()
        spool.close()
        letters.close()
