"""A site given up and taken on again in one process: how long its runtime takes to start, and how long the
messages the broker kept in the site's session take to arrive, beside the same number received live.

Run: .venv/bin/python -m bench.site_resume [--messages 2000] [--sites 2]

- A real Mosquitto on a free loopback port; one ``System`` serving ``--sites`` copies of the demo site
  (gateway and alerts, SQLite), each site on its own persistent session.
- Reference (live): ``--messages`` readings of site ``s0``'s elevator published at QoS 1 while its runtime
  runs; the time from the first publish to the last reading stored.
- Resume: site ``s0``'s runtime is stopped (``SiteRuntime.stop``, as a worker losing the site's lease), the same
  number of readings is published (the broker keeps them in the session), then ``SiteRuntime.start``: the time
  the start takes (queue, restore, connect, subscribe), and from its call to the last kept reading stored.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.app import System, build
from facwatch.config import load_settings, load_site
from facwatch.model import TelemetryQuery
from gateway import codec, topics
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.servers import find_server
from tests.fixtures.waiting import wait_until
from tests.multisite.sites import ELEVATOR, write_site
from tests.reliability.eventlog_harness import MOVING


def _publish(client: mqtt.Client, site: str, stamps: list[int]) -> None:
    infos = [
        client.publish(topics.telemetry(site, "elevator", ELEVATOR), codec.encode(ts, dict(MOVING)), qos=1)
        for ts in stamps
    ]
    for info in infos:
        info.wait_for_publish(30)


def _stored(system: System, start_ms: int, end_ms: int) -> int:
    return len(
        system.runtimes["s0"].store.query(TelemetryQuery("s0", ELEVATOR, "speed_mps", start_ms, end_ms))
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "mosquitto").mkdir()
        (root / "sites").mkdir()
        broker = MosquittoBroker(
            binary=find_server("mosquitto", "/usr/sbin/mosquitto"), workdir=root / "mosquitto"
        )
        broker.start()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-devices")
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        sites = [load_site(write_site(root / "sites", f"s{i}")) for i in range(args.sites)]
        settings = load_settings(data_dir=root / "data", mqtt={"url": broker.url, "client_id": "bench"})
        system = build(settings, sites, parts=["gateway", "alerts"])
        system.start()
        try:
            n = args.messages
            base = int(time.time() * 1000) - 3_600_000
            live = [base + 10 * i for i in range(n)]
            started = time.perf_counter()
            _publish(client, "s0", live)
            wait_until(lambda: _stored(system, live[0], live[-1] + 1) == n, 120, "live readings stored")
            live_s = time.perf_counter() - started

            runtime = system.runtimes["s0"]
            runtime.stop()
            kept = [base + 100_000 + 10 * i for i in range(n)]
            _publish(client, "s0", kept)
            started = time.perf_counter()
            runtime.start()
            start_s = time.perf_counter() - started
            wait_until(lambda: _stored(system, kept[0], kept[-1] + 1) == n, 120, "kept readings stored")
            resume_s = time.perf_counter() - started
        finally:
            system.stop()
            client.loop_stop()
            client.disconnect()
            broker.stop()
    print(f"{args.sites} sites in one process, {n} readings of one site (QoS 1, one reading a message)")
    print(f"  live (reference):   {live_s:6.2f} s  ({n / live_s:7.0f} readings/s)")
    print(f"  SiteRuntime.start:  {start_s:6.2f} s  (queue, restore, connect, subscribe)")
    print(f"  kept, after start:  {resume_s:6.2f} s  ({n / resume_s:7.0f} readings/s, start included)")


if __name__ == "__main__":
    main()
