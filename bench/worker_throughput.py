"""Readings/s of 1, 2 and 3 real workers (``facwatch run --only worker``) on this machine, with the CPU each
used: the efficiency of each added worker.

12 sites of 10 elevators each on a real PostgreSQL (state, leases), Mosquitto and InfluxDB (telemetry)
started here. A publisher in this process sends every site's elevators as fast as the broker takes them
(QoS 1, 20 readings of 9 channels a message); the workers judge and store what they get. After the shares
settle and a warm-up, the readings stored over a window are read from the workers' own figures (the
``datapath_reports`` each site's gateway writes every 5 s) and the CPU of each worker from ``/proc``
(psutil). The 1-worker run is the reference; efficiency = rate(n) / (n × rate(1)).

Run: .venv/bin/python -m bench.worker_throughput [--window 30] [--workers 1,2,3]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text

from facwatch.state import open_engine
from gateway import topics
from tests.cluster.workers import Proc, shares, start_all
from tests.fixtures.influx import Influx
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres_stoppable import StoppablePostgres
from tests.fixtures.servers import find_server
from tests.fixtures.waiting import wait_until
from tests.reliability.eventlog_harness import MOVING

SITES = 12
ELEVATORS = 10
RECORDS = 20
"""Records (timestamps) per message; each has the 9 elevator channels."""


def write_sites(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"t{i:02d}" for i in range(SITES)]
    for site in ids:
        assets = "".join(
            f'[[assets]]\nid = "e{k}"\nkind = "elevator"\nbuilding = "b1"\ncheckin_code = "QJ9N-39Y3"\n\n'
            for k in range(ELEVATORS)
        )
        (folder / f"{site}.toml").write_text(
            f'[site]\nid = "{site}"\nname = "{site}"\ntimezone = "Asia/Shanghai"\n\n[[buildings]]\nid = "b1"\n\n'
            f'{assets}[[people]]\nid = "eng"\nnotify = ["json://127.0.0.1:9/"]\n\n'
            '[escalation]\nchain = ["eng"]\n\n[[rota]]\nday = "eng"\nnight = "eng"\n',
            encoding="utf-8",
        )
    return ids


class Flood:
    """Publishes every site's elevators as fast as the broker acknowledges (up to 200 messages in flight)."""

    def __init__(self, port: int, sites: list[str]) -> None:
        self.sites = sites
        self.sent = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flood")
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(400)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Each asset's clock starts 5 minutes back and moves 1 ms per record, never past the wall clock.
        clocks = {(s, k): int(time.time() * 1000) - 300_000 for s in self.sites for k in range(ELEVATORS)}
        while not self._stop.is_set():
            for (site, k), ts in clocks.items():
                if self._stop.is_set():
                    return
                ts = max(ts, int(time.time() * 1000) - 300_000)
                body = [{"ts": ts + i, "values": MOVING} for i in range(RECORDS)]
                clocks[(site, k)] = ts + RECORDS
                info = self.client.publish(
                    topics.telemetry(site, "elevator", f"e{k}"), orjson.dumps(body), qos=1
                )
                if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                    time.sleep(0.005)
                else:
                    self.sent += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


def stored_total(engine: Engine) -> float:
    """Readings stored, over every site, by the figures each site's gateway reported last."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT body FROM datapath_reports")).all()
    return sum(float(orjson.loads(r.body)["readings_total"]) for r in rows)


def measure(
    root: Path, n: int, window_s: float, broker: str, port: int, influx: str
) -> tuple[float, list[float]]:
    """(readings/s stored by ``n`` workers, CPU seconds per second of each worker) over ``window_s``."""
    pg = StoppablePostgres()
    workers: list[Proc] = []
    flood = None
    try:
        pg.start()
        pg.create_database()
        engine = open_engine(pg.url)
        sites = write_sites(root / "sites")
        for i in range(n):
            workers.append(
                Proc(
                    root / f"n{n}-w{i}",
                    parts="worker",
                    name=f"n{n}-w{i}",
                    sites_dir=root / "sites",
                    broker_url=broker,
                    state_url=pg.url,
                    influx_url=influx,
                    lease_s=15,
                    client_id=f"fw-n{n}",  # fresh sessions and history: no backlog of the run before
                    influx_database=f"facwatch{n}",
                )
            )
        start_all(workers)
        share = -(-SITES // n)

        def settled() -> bool:
            held = shares(engine)
            running = {w.name: len(w.running_sites()) for w in workers}
            return sum(held.values()) == SITES and max(held.values()) <= share and running == held

        wait_until(settled, 180, "every site leased and running, each worker its fair share")
        flood = Flood(port, sites)
        time.sleep(10)  # warm-up: a benchmark, not a test (the figures are read after it)
        pids = [psutil.Process(w.proc.pid) for w in workers if w.proc is not None]
        lost0 = sum(w.count('"leases.lost"') for w in workers)
        cpu0 = [sum(p.cpu_times()[:2]) for p in pids]
        total0, t0 = stored_total(engine), time.monotonic()
        time.sleep(window_s)
        total1, t1 = stored_total(engine), time.monotonic()
        cpu1 = [sum(p.cpu_times()[:2]) for p in pids]
        rate = (total1 - total0) / (t1 - t0)
        cpu = [(b - a) / (t1 - t0) for a, b in zip(cpu0, cpu1, strict=True)]
        engine.dispose()
        print(f"  ({n} worker(s): {flood.sent} messages published)", flush=True)
        lost = sum(w.count('"leases.lost"') for w in workers) - lost0
        if lost:  # the figure is not steady: a site moved during the run
            print(f"  ({n} worker(s): {lost} leases lost during the run)", flush=True)
        return rate, cpu
    finally:
        if flood is not None:
            flood.close()
        for worker in workers:
            worker.stop_within(20)
        pg.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured per run")
    parser.add_argument("--workers", default="1,2,3", help="worker counts to run")
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="facwatch-worker-throughput-") as tmp:
        root = Path(tmp)
        (root / "mqtt").mkdir()
        (root / "influx").mkdir()
        broker = MosquittoBroker(
            binary=find_server("mosquitto", "/usr/sbin/mosquitto"), workdir=root / "mqtt"
        )
        influx = Influx(binary=find_server("influxd", "/usr/bin/influxd"), workdir=root / "influx")
        results: dict[int, tuple[float, list[float]]] = {}
        try:
            broker.start()
            influx.start()
            for n in counts:
                influx.query(f"CREATE DATABASE facwatch{n}")
                results[n] = measure(root / f"run{n}", n, args.window, broker.url, broker.port, influx.url)
                rate, cpu = results[n]
                print(
                    f"  {n} worker(s): {rate:9.0f} readings/s, CPU " + ", ".join(f"{c:.2f}" for c in cpu),
                    flush=True,
                )
        finally:
            influx.stop()
            broker.stop()
    print(f"\nworker throughput, {SITES} sites x {ELEVATORS} elevators, {psutil.cpu_count()} CPUs")
    reference = results.get(1, (0.0, []))[0]
    for n, (rate, cpu) in results.items():
        efficiency = rate / (n * reference) if reference else float("nan")
        print(
            f"  {n} worker(s): {rate:9.0f} readings/s   CPU {sum(cpu):.2f} cores ({', '.join(f'{c:.2f}' for c in cpu)})"
            f"   efficiency {efficiency:.2f}   (1 worker: {reference:.0f} readings/s)"
        )


if __name__ == "__main__":
    main()
