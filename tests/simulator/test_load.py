"""Load mode against a real Mosquitto: what the report says was sent is exactly what a subscriber receives."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.model import STANDARD_CHANNELS, AssetKind
from gateway import codec, topics
from simulator.errors import BrokerUnreachable, LoadError
from simulator.load import asset_id, load_site, run_load
from tests.fixtures.servers import free_port


class SeqCounter:
    """Subscribes to the load site's telemetry and keeps every (asset → seqs) it sees."""

    def __init__(self, host: str, port: int, site_id: str) -> None:
        self.seqs: dict[str, list[int]] = defaultdict(list)
        self.messages = 0
        self.bad = 0
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"seq-{site_id}"
        )
        self.client.on_connect = lambda c, *_: c.subscribe(f"fw/{site_id}/#", qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert ready.wait(10)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parsed = topics.parse(msg.topic)
        with self._lock:
            self.messages += 1
            try:
                samples = codec.decode_json(bytes(msg.payload))
            except codec.DecodeError:
                self.bad += 1
                return
            for sample in samples:
                assert sample.seq is not None
                assert set(sample.values) == set(STANDARD_CHANNELS[AssetKind(parsed.kind)])
                self.seqs[parsed.asset].append(sample.seq)

    def total(self) -> int:
        with self._lock:
            return sum(len(v) for v in self.seqs.values())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("processes", "batch", "qos"),
    [(2, 5, 1), (1, 1, 0)],  # several processes with array payloads at QoS 1; one plain process at QoS 0
)
def test_the_report_matches_what_a_subscriber_receives(
    mosquitto: Any, processes: int, batch: int, qos: int
) -> None:
    site_id = f"load{processes}{batch}{qos}"
    counter = SeqCounter(mosquitto.host, mosquitto.port, site_id)
    try:
        report = run_load(
            mosquitto.url,
            assets=60,
            rate=5.0,
            processes=processes,
            batch=batch,
            qos=qos,
            duration_s=2.0,
            site_id=site_id,
        )
        deadline = time.monotonic() + 20
        while counter.total() < report.readings and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        counter.close()
    assert report.readings == 60 * 5 * 2 and report.messages == report.readings // batch
    assert report.unacked == 0 and counter.bad == 0
    assert counter.total() == report.readings
    assert set(report.per_asset) == {asset_id(i) for i in range(60)} == set(counter.seqs)
    for asset, (first, last) in report.per_asset.items():
        assert sorted(counter.seqs[asset]) == list(range(first, last + 1)), asset
    assert report.as_dict()["per_asset"]["load-00000"] == [0, 9]


def test_the_load_site_has_the_runs_assets() -> None:
    site = load_site("load", 5)
    assert [a.id for a in site.assets] == [asset_id(i) for i in range(5)]
    assert [str(a.kind) for a in site.assets[:3]] == ["elevator", "pump", "power"]


def test_bad_arguments_and_no_broker_are_clear_errors() -> None:
    with pytest.raises(LoadError, match="qos=2"):
        run_load("mqtt://127.0.0.1:1", assets=1, rate=1, qos=2, duration_s=1)
    with pytest.raises(BrokerUnreachable, match="no connection"):
        run_load(f"mqtt://127.0.0.1:{free_port()}", assets=3, rate=1, duration_s=1)
