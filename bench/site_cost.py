"""Memory and CPU per site at the demo site's rate, to back the sizing model (docs/scaling.md).

For each count of sites (1, 5, 10, 20; ``--quick``: 1 and 2, short windows, for the smoke test):

- a folder of that many copies of the demo compound (9 assets: 4 elevators, 3 pumps, 2 power panels), each
  under its own site id and so its own topics ``fw/<id>/...`` and its own persistent MQTT session;
- one ``facwatch run --only gateway,alerts`` process (this checkout's code, SQLite state and telemetry, as on one
  machine) serving them all, against a real Mosquitto on a free loopback port;
- the simulator publishing every site at the demo rate (each device once a second, the ``quiet`` scenario:
  nothing breaks, so what is measured is the steady cost of watching), one publisher process for all;
- after a warm-up, the facwatch process's RSS (mean over the window, sampled every second) and its CPU (user +
  system time over the window, as % of one core) from /proc, over a steady window (60 s by default);
- the readings it stored per second in the window (from its telemetry file), beside what the simulator sent,
  so a count the process could not keep up with shows.

The 1-site process is the reference: per-site marginal memory and CPU = (figure at N − figure at 1) / (N − 1).

Run: .venv/bin/python -m bench.site_cost [--counts 1,5,10,20] [--window 60] [--warmup 60] [--quick] [--json F]
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from tests.fixtures.facwatch_process import CHECKOUT, FacwatchProcess
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.servers import find_server, stop_process
from tests.fixtures.waiting import wait_until
from tests.multisite.sites import write_site

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") / 1024


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of a process from /proc: its CPU seconds so far, its resident memory and threads."""

    cpu_s: float
    rss_mib: float
    threads: int


@dataclass(frozen=True, slots=True)
class Figure:
    """What one count of sites cost over the steady window."""

    sites: int
    rss_mib: float
    cpu_pct: float
    threads: int
    stored_per_s: float
    sites_stored: int
    checkpoint_kib: float
    """The mean size of a site's detector checkpoint (one row per site, rewritten every 10 s)."""
    window_s: float
    load1: float


def sample(pid: int) -> Sample:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(stat[11]), int(stat[12])  # fields 14 and 15 of proc(5), counted after the name
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return Sample((utime + stime) * TICK_S, rss_pages * PAGE_KIB / 1024, int(stat[17]))


def stored_since(data: Path, start_ms: int, end_ms: int) -> dict[str, int]:
    """Readings per site stored with a time in [start_ms, end_ms), read from the process's telemetry files."""
    counts: dict[str, int] = {}
    for path in sorted(data.glob("telemetry*.db")):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            rows = conn.execute(
                "SELECT s.site, COUNT(*) FROM points p JOIN series s ON s.id = p.series_id"
                " WHERE p.ts_ms >= ? AND p.ts_ms < ? GROUP BY s.site",
                (start_ms, end_ms),
            )
            for site, count in rows:
                counts[str(site)] = counts.get(str(site), 0) + int(count)
    return counts


def checkpoint_kib(data: Path) -> float:
    """The mean size of the sites' checkpoint rows in the process's state database (SQLite here)."""
    with sqlite3.connect(f"file:{data / 'state.db'}?mode=ro", uri=True, timeout=30) as conn:
        (mean,) = conn.execute("SELECT AVG(LENGTH(data)) FROM detector_checkpoints").fetchone()
    return float(mean or 0.0) / 1024


# --- the publisher: every site of a folder at the demo rate, until SIGTERM ---------------------------------


def publish_main(folder: Path, broker: str) -> None:
    from facwatch.config import load_site
    from simulator.publisher import run_publisher
    from simulator.scenario import load_scenario

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scenario = load_scenario("quiet")
    sites = [load_site(str(path), {"data_dir": str(folder)}) for path in sorted(folder.glob("*.toml"))]
    threads = [
        threading.Thread(
            target=run_publisher, args=(site, scenario, broker), kwargs={"seed": i, "stop": stop}
        )
        for i, site in enumerate(sites)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Publisher:
    def __init__(self, folder: Path, broker: str, work: Path) -> None:
        argv = [sys.executable, "-m", "bench.site_cost", "--publish", str(folder), "--broker", broker]
        env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
        with (work / "publisher.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, cwd=CHECKOUT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        stop_process(self.proc, timeout=30)


# --- one count ---------------------------------------------------------------------------------------------


def measure(count: int, broker: MosquittoBroker, work: Path, warmup_s: float, window_s: float) -> Figure:
    sites, data = work / "sites", work / "data"
    sites.mkdir(parents=True)
    ids = [f"c{count:02d}-s{i:02d}" for i in range(count)]  # fresh ids: no session of another count
    for site_id in ids:
        write_site(sites, site_id)
    config = work / "facwatch.toml"
    config.write_text(
        f'data_dir = "{data}"\nsites_dir = "{sites}"\nlog_format = "json"\n'
        f'[mqtt]\nurl = "{broker.url}"\nclient_id = "cost"\n',
        encoding="utf-8",
    )
    process = FacwatchProcess(config, work / "facwatch.log", "gateway,alerts")
    began = time.monotonic()
    # The devices start with the process (both take seconds to start); what they send before the gateway's
    # sessions exist is not counted: only the steady window is.
    publisher = Publisher(sites, broker.url, work)
    try:
        process.start(timeout=120)
        assert process.proc is not None
        pid = process.proc.pid
        wait_until(lambda: len(stored_since(data, 0, 2**62)) == count, 60 + 3 * count, "every site stored")
        print(
            f"  {count} sites: every site stored {time.monotonic() - began:.1f} s after the start", flush=True
        )
        time.sleep(warmup_s)  # the process settles (detectors warm, queues drained); nothing is asserted
        start_ms, first = int(time.time() * 1000), sample(pid)
        t0 = time.monotonic()
        rss = [first.rss_mib]
        while time.monotonic() - t0 < window_s:
            time.sleep(1.0)
            rss.append(sample(pid).rss_mib)
        last, elapsed, end_ms = sample(pid), time.monotonic() - t0, int(time.time() * 1000)
        load1 = os.getloadavg()[0]
        # Readings dated in the window, counted once the process has had time to store the last of them.
        time.sleep(1.5)
        stored = stored_since(data, start_ms, end_ms)
        kib = checkpoint_kib(data)
    finally:
        publisher.stop()
        process.stop_within(10)
    return Figure(
        sites=count,
        rss_mib=sum(rss) / len(rss),
        cpu_pct=100.0 * (last.cpu_s - first.cpu_s) / elapsed,
        threads=last.threads,
        stored_per_s=sum(stored.values()) / ((end_ms - start_ms) / 1000),
        sites_stored=len(stored),
        checkpoint_kib=kib,
        window_s=elapsed,
        load1=load1,
    )


# --- the run -----------------------------------------------------------------------------------------------


def report(figures: list[Figure]) -> str:
    ref = figures[0]
    lines = [
        f"{'sites':>5} {'RSS MiB':>8} {'CPU %':>6} {'threads':>7} {'stored/s':>9} {'per site/s':>10}"
        f" {'MiB/site':>9} {'CPU %/site':>10} {'load1':>6}",
    ]
    for f in figures:
        if f.sites == ref.sites:
            marginal = f"{'(reference)':>20}"
        else:
            extra = f.sites - ref.sites
            mib, cpu = (f.rss_mib - ref.rss_mib) / extra, (f.cpu_pct - ref.cpu_pct) / extra
            marginal = f"{mib:9.1f} {cpu:10.2f}"
        lines.append(
            f"{f.sites:5d} {f.rss_mib:8.1f} {f.cpu_pct:6.1f} {f.threads:7d} {f.stored_per_s:9.0f}"
            f" {f.stored_per_s / f.sites:10.1f} {marginal} {f.load1:6.1f}"
        )
    lines.append(
        f"reference: 1 site = {ref.rss_mib:.1f} MiB, {ref.cpu_pct:.1f} % of a core, "
        f"{ref.stored_per_s:.0f} readings/s stored; marginal per added site beside it"
    )
    lines.append(f"checkpoint per site: {ref.checkpoint_kib:.1f} KiB (rewritten every 10 s)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--counts", default="1,5,10,20", help="site counts, comma-separated (first: reference)"
    )
    parser.add_argument("--window", type=float, default=60.0, help="steady window per count, seconds")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds after every site is stored")
    parser.add_argument(
        "--quick", action="store_true", help="1 and 2 sites side by side, 4 s windows (smoke test)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--publish", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--broker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish is not None:
        publish_main(args.publish, args.broker)
        return
    counts = [1, 2] if args.quick else [int(c) for c in args.counts.split(",")]
    warmup, window = (1.0, 4.0) if args.quick else (args.warmup, args.window)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "mosquitto").mkdir()
        broker = MosquittoBroker(
            binary=find_server("mosquitto", "/usr/sbin/mosquitto"), workdir=root / "mosquitto"
        )
        broker.start()
        try:

            def one(count: int) -> Figure:
                figure = measure(count, broker, root / f"n{count}", warmup, window)
                print(
                    f"{count} sites: {figure.rss_mib:.1f} MiB, {figure.cpu_pct:.1f} % CPU,"
                    f" {figure.stored_per_s:.0f} readings/s from {figure.sites_stored} sites",
                    flush=True,
                )
                return figure

            # --quick (a smoke test) measures its two counts side by side, to finish sooner on a busy
            # machine; a real run measures one count at a time, so that they do not share the cores.
            with ThreadPoolExecutor(len(counts) if args.quick else 1) as pool:
                figures = list(pool.map(one, counts))
        finally:
            broker.stop()
    print(
        f"\none `facwatch run --only gateway,alerts` (SQLite), demo site copies at the demo rate, {window:g} s windows"
    )
    print(report(figures))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps([asdict(f) for f in figures], option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
