"""Failover of real workers: how long a killed ``facwatch run --only worker`` leaves its sites unowned and
unserved, beside the lease time.

Three worker processes share 12 tiny sites (one elevator each, published twice a second) on a real
PostgreSQL, Mosquitto and InfluxDB started here (the servers of tests/fixtures). Each round the worker
holding the most sites is killed; measured from the kill:

- **leased**: every one of its sites has a live lease of another worker (``site_leases``, read every 20 ms);
- **running**: every one of them has been started by its new owner (its log's ``site.started``: checkpoint
  restored, the store's history replayed, the site's MQTT session taken over).

A fresh worker replaces the victim and the shares settle (4, 4, 4) before the next kill. The SIGTERM rounds
come first (a clean stop: each site released as soon as it has stopped, the sites stopped in parallel), with
how long the victim took to exit and each of its sites' stop phases (``site.stopped``); the SIGKILL rounds
after (the leases run out).

Run: .venv/bin/python -m bench.worker_failover [--kills 10] [--term-kills 3] [--lease 15]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from facwatch.state import open_engine
from tests.cluster.workers import Proc, Publisher, owners, start_all, write_sites
from tests.fixtures.influx import Influx
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres_stoppable import StoppablePostgres
from tests.fixtures.servers import find_server
from tests.fixtures.waiting import wait_until

STOPS: list[dict[str, Any]] = []
"""The ``site.stopped`` lines of the SIGTERMed workers (each stop phase's milliseconds)."""


class Workers:
    def __init__(self, root: Path, sites_dir: Path, broker: str, state: str, influx: str, lease_s: float):
        self.root, self.sites_dir, self.lease_s = root, sites_dir, lease_s
        self.broker, self.state, self.influx = broker, state, influx
        self.live: dict[str, Proc] = {}
        self.serial = 0

    def make(self) -> Proc:
        self.serial += 1
        name = f"w{self.serial}"
        proc = Proc(
            self.root / name,
            parts="worker",
            name=name,
            sites_dir=self.sites_dir,
            broker_url=self.broker,
            state_url=self.state,
            influx_url=self.influx,
            lease_s=self.lease_s,
        )
        self.live[name] = proc
        return proc

    def settled(self, engine: Engine) -> bool:
        counts = Counter(owners(engine).values())
        if set(counts) != set(self.live) or sorted(counts.values()) != [4, 4, 4]:
            return False
        return sorted(len(p.running_sites()) for p in self.live.values()) == [4, 4, 4]

    def close(self) -> None:
        for proc in self.live.values():
            proc.stop_within(20)


def kill_one(engine: Engine, workers: Workers, sig: signal.Signals) -> tuple[float, float]:
    """Kill the worker holding the most sites: (seconds until its sites are leased, until they run)."""
    try:
        wait_until(lambda: workers.settled(engine), 180, "4, 4 and 4 running before a kill")
    except AssertionError:
        running = {p.name: sorted(p.running_sites()) for p in workers.live.values()}
        print(
            f"  not settled: leases {owners(engine)}, running {running}, logs in {workers.root}", flush=True
        )
        raise
    held = owners(engine)
    victim_name = Counter(held.values()).most_common(1)[0][0]
    sites = {s for s, o in held.items() if o == victim_name}
    victim = workers.live.pop(victim_name)
    survivors = list(workers.live.values())
    before = {p.name: p.count('"site.started"') for p in survivors}
    logged = len(victim.records())  # its site.stopped lines after the signal are the stop's
    killed = time.monotonic()
    assert victim.proc is not None
    victim.proc.send_signal(sig)

    def leased() -> bool:
        now = owners(engine)
        return all(now.get(s) not in (None, victim_name) for s in sites)

    def running() -> bool:
        started = sum(p.count('"site.started"') - before[p.name] for p in survivors)
        return started >= len(sites)

    wait_until(leased, workers.lease_s * 4, f"{victim_name}'s sites leased again")
    leased_s = time.monotonic() - killed
    wait_until(running, workers.lease_s * 4, f"{victim_name}'s sites running again")
    running_s = time.monotonic() - killed
    victim.proc.wait(30)
    exited_s = time.monotonic() - killed if sig is signal.SIGTERM else 0.0
    phases = [r for r in victim.records()[logged:] if r.get("event") == "site.stopped" and "ms" in r]
    STOPS.extend(phases)
    detail = ""
    if sig is signal.SIGTERM:
        detail = f", exited in {exited_s:.2f} s" + "".join(
            f"; {r['site']} stopped in {r['total_ms']} ms {r['ms']}" for r in phases
        )
    print(
        f"  {sig.name}: {victim_name}'s {len(sites)} sites leased in {leased_s:.2f} s, "
        f"running in {running_s:.2f} s{detail}",
        flush=True,
    )
    return leased_s, running_s


def failover(engine: Engine, workers: Workers, sig: signal.Signals, kills: int) -> list[tuple[float, float]]:
    times: list[tuple[float, float]] = []
    for _ in range(kills):
        times.append(kill_one(engine, workers, sig))
        workers.make().start(timeout=180)
    return times


def run(root: Path, lease_s: float, kills: int, term_kills: int) -> None:
    pg = StoppablePostgres()
    broker = MosquittoBroker(binary=find_server("mosquitto", "/usr/sbin/mosquitto"), workdir=root / "mqtt")
    (root / "mqtt").mkdir()
    (root / "influx").mkdir()
    influx = Influx(binary=find_server("influxd", "/usr/bin/influxd"), workdir=root / "influx")
    publisher = None
    workers = None
    try:
        pg.start()
        pg.create_database()
        broker.start()
        influx.start()
        influx.query("CREATE DATABASE facwatch")
        sites = write_sites(root / "sites", 12, "json://127.0.0.1:9/")
        workers = Workers(root, root / "sites", broker.url, pg.url, influx.url, lease_s)
        publisher = Publisher(broker.port, sites)
        start_all([workers.make() for _ in range(3)])
        engine = open_engine(pg.url)
        clean = failover(engine, workers, signal.SIGTERM, term_kills)  # first: the figure this bench is for
        crash = failover(engine, workers, signal.SIGKILL, kills)
        engine.dispose()
    finally:
        if publisher is not None:
            publisher.close()
        if workers is not None:
            workers.close()
        influx.stop()
        broker.stop()
        pg.close()
    print(f"\nworker failover, 3 workers x 12 sites, lease {lease_s:g} s (renewed every {lease_s / 3:g} s)")
    for label, times in (("SIGKILL (crash)", crash), ("SIGTERM (release)", clean)):
        if not times:
            continue
        leased = [t[0] for t in times]
        running = [t[1] for t in times]
        print(
            f"  {label:18} n={len(times):2}  leased p50 {statistics.median(leased):6.2f} s max "
            f"{max(leased):6.2f} s   running p50 {statistics.median(running):6.2f} s max {max(running):6.2f} s"
            f"   (lease {lease_s:g} s)"
        )
    if STOPS:
        names = list(dict.fromkeys(k for r in STOPS for k in r["ms"]))
        medians = ", ".join(f"{n} {statistics.median(r['ms'].get(n, 0) for r in STOPS):.0f}" for n in names)
        totals = [r["total_ms"] for r in STOPS]
        print(
            f"  a site's stop on SIGTERM (n={len(STOPS)}): p50 {statistics.median(totals):.0f} ms, "
            f"max {max(totals)} ms; p50 per phase (ms): {medians}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs")
    parser.add_argument("--term-kills", type=int, default=3, help="SIGTERMs (the peer figure)")
    parser.add_argument("--lease", type=float, default=15.0, help="lease seconds")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="facwatch-worker-failover-"))
    run(tmp, args.lease, args.kills, args.term_kills)
    shutil.rmtree(tmp, ignore_errors=True)  # kept when the run fails: the workers' logs are there


if __name__ == "__main__":
    main()
