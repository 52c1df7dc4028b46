"""Lease failover: how long a dead worker's sites stay unowned, beside the lease time.

Three keeper processes (``alerts.engine.leases_keeper.LeaseKeeper``) share 12 sites on a real PostgreSQL
(``--state-url``, or one started here from tests/fixtures/postgres_stoppable.py). Each round the keeper
holding the most sites is killed, and the time from the kill until every one of its sites has a live lease
of another keeper (read from ``site_leases`` every 20 ms) is the takeover time; a fresh keeper replaces it
and the shares settle (4, 4, 4) before the next kill.

- SIGKILL (a crash): the sites wait for their leases to run out; the live keepers plan a round for that
  moment: expected between lease − lease/3 and the lease.
- SIGTERM (a clean stop, the peer figure): the keeper releases its leases and announces it (NOTIFY), so the
  others take them at once.

Run: .venv/bin/python -m bench.lease_failover [--kills 10] [--lease 15] [--state-url URL]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine, text

from alerts.engine.leases import LeaseStore
from alerts.engine.leases_keeper import LeaseKeeper
from facwatch.state import open_engine
from tests.fixtures.waiting import wait_until

SITES = tuple(f"site-{i:02d}" for i in range(12))
ROOT = Path(__file__).resolve().parents[1]


def keeper_main(url: str, name: str, lease_s: float) -> None:
    """A keeper process: holds its share until SIGTERM (release) or SIGKILL."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    keeper = LeaseKeeper(
        LeaseStore(open_engine(url), lease_s=lease_s),
        SITES,
        on_won=lambda site, epoch: None,
        on_lost=lambda site: None,
        me=name,
    )
    keeper.start()
    stop.wait()
    keeper.stop()


def owners(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT site, owner FROM site_leases WHERE expires_at > clock_timestamp()"))
        return {str(r.site): str(r.owner) for r in rows}


class Cluster:
    def __init__(self, url: str, lease_s: float) -> None:
        self.url, self.lease_s = url, lease_s
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.serial = 0

    def spawn(self) -> str:
        self.serial += 1
        name = f"keeper-{self.serial}"
        argv = [sys.executable, "-m", "bench.lease_failover", "--keeper", name, "--state-url", self.url]
        argv += ["--lease", str(self.lease_s)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.procs[name] = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return name

    def close(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait(10)


def settled(engine: Engine, cluster: Cluster) -> bool:
    counts = Counter(owners(engine).values())
    return set(counts) == set(cluster.procs) and sorted(counts.values()) == [4, 4, 4]


def failover(engine: Engine, cluster: Cluster, sig: signal.Signals, kills: int) -> list[float]:
    times: list[float] = []
    for _ in range(kills):
        wait_until(lambda: settled(engine, cluster), cluster.lease_s * 6, "4, 4 and 4 before a kill")
        held = owners(engine)
        victim = Counter(held.values()).most_common(1)[0][0]
        sites = {s for s, o in held.items() if o == victim}
        proc = cluster.procs.pop(victim)
        killed = time.monotonic()
        proc.send_signal(sig)

        def taken(victim: str = victim, sites: set[str] = sites) -> bool:
            now = owners(engine)
            return all(now.get(s) not in (None, victim) for s in sites)

        wait_until(taken, cluster.lease_s * 4, f"{victim}'s sites taken over")
        times.append(time.monotonic() - killed)
        proc.wait(30)
        cluster.spawn()
        print(f"  {sig.name}: {victim}'s {len(sites)} sites taken over in {times[-1]:.2f} s", flush=True)
    return times


def run(url: str, lease_s: float, kills: int, term_kills: int) -> None:
    engine = open_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM site_leases"))
        conn.execute(text("DELETE FROM workers"))
    cluster = Cluster(url, lease_s)
    try:
        for _ in range(3):
            cluster.spawn()
        crash = failover(engine, cluster, signal.SIGKILL, kills)
        clean = failover(engine, cluster, signal.SIGTERM, term_kills)
    finally:
        cluster.close()
        engine.dispose()
    print(f"\nlease failover, 3 keepers x 12 sites, lease {lease_s:g} s (renewed every {lease_s / 3:g} s)")
    for label, times in (("SIGKILL (crash)", crash), ("SIGTERM (release)", clean)):
        if times:
            print(
                f"  {label:18} n={len(times):2}  p50 {statistics.median(times):6.2f} s  "
                f"max {max(times):6.2f} s   (lease {lease_s:g} s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs")
    parser.add_argument("--term-kills", type=int, default=5, help="SIGTERMs (the peer figure)")
    parser.add_argument("--lease", type=float, default=15.0, help="lease seconds")
    parser.add_argument("--state-url", default=None, help="PostgreSQL; default: one started here")
    parser.add_argument("--keeper", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keeper:
        keeper_main(args.state_url, args.keeper, args.lease)
        return
    if args.state_url:
        run(args.state_url, args.lease, args.kills, args.term_kills)
        return
    from tests.fixtures.postgres_stoppable import StoppablePostgres

    server = StoppablePostgres()
    try:
        server.start()
        server.create_database()
        run(server.url, args.lease, args.kills, args.term_kills)
    finally:
        server.close()


if __name__ == "__main__":
    main()
