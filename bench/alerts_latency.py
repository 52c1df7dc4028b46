"""Alert engine latency and throughput: the demo site's readings through ``AlertService.observe``.

Readings: an hour of the demo compound from the simulator (every asset at 1 Hz, the ``incidents`` scenario:
an entrapment, a pipe burst and a power outage, so alerts, tickets, clocks and outbox rows are written
along the way), fed the way the gateway hands them over: batches of stored readings.

- latency, live: one batch per simulated second (what 9 assets at 1 Hz give), each timed from the call
  to ``observe`` (the batch is stored) to its return (rules run, alert transaction committed, events
  published): p50 / p99 / max;
- latency, at the gateway's full rate: batches of ``--batch`` readings (the gateway's ``batch_size``),
  back to back, timed the same way;
- throughput: readings/s sustained over the whole hour fed as fast as the engine takes them.

References from the same run: the rules alone on the same batches (the detectors' share; a second
``Rules`` takes its turn after the engine on every batch, so that both run under the same load), and an
empty transaction on the same state database (the commit floor).

Goal (issue 6): p99 ≤ 50 ms from a batch being stored to its alerts being committed.

The first ``--warmup`` batches of each run are left out of the percentiles (SQLAlchemy compiles and caches
each statement the first time it runs: a one-off at process start), and their maximum printed apart.

Run: .venv/bin/python -m bench.alerts_latency [--minutes 60] [--batch 1000] [--warmup 10] [--state-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from alerts.detection.rules import Rules
from alerts.engine.events import EventBus
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from facwatch.config import SlaSettings, load_site
from facwatch.model import Reading, Site, ms_from_utc
from facwatch.state import migrate, open_engine
from simulator.engine import Simulation
from simulator.scenario import load_scenario

START = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)  # 08:00 on the site: the morning peak


def simulate(site: Site, seconds: int) -> list[list[Reading]]:
    """One batch per simulated second: every channel of every asset that reported."""
    sim = Simulation(site, load_scenario("incidents"), seed=1, start_ms=ms_from_utc(START))
    out: list[list[Reading]] = []
    for _ in range(seconds):
        batch = [
            Reading(site.id, t.asset.id, channel, t.ts_ms, float(value))
            for t in sim.step()
            if t.wire != "offline"
            for channel, value in t.values.items()
        ]
        out.append(batch)
    return out


def rebatch(seconds: Sequence[list[Reading]], size: int) -> list[list[Reading]]:
    flat = [r for batch in seconds for r in batch]
    return [flat[i : i + size] for i in range(0, len(flat), size)]


def service(url: str, site: Site) -> AlertService:
    engine = open_engine(url)
    migrate(engine)
    return AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site))


def timed(svc: AlertService, batches: Sequence[list[Reading]]) -> tuple[list[float], float]:
    """Per-batch latency (ms) and the total wall time (s) of feeding ``batches`` back to back."""
    lat: list[float] = []
    started = time.perf_counter()
    for batch in batches:
        t = time.perf_counter()
        svc.observe(batch)
        lat.append((time.perf_counter() - t) * 1000)
    return lat, time.perf_counter() - started


def interleaved(
    svc: AlertService, rules: Rules, batches: Sequence[list[Reading]]
) -> tuple[list[float], list[float]]:
    """Per-batch latency (ms) of the engine and of the rules alone, taking turns batch by batch: on a
    shared machine both then run under the same load, and their ratio means something."""
    engine_lat: list[float] = []
    rule_lat: list[float] = []
    for batch in batches:
        t = time.perf_counter()
        svc.observe(batch)
        engine_lat.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        rules.observe(batch)
        rule_lat.append((time.perf_counter() - t) * 1000)
    return engine_lat, rule_lat


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def fmt(values: Sequence[float]) -> str:
    return f"{statistics.median(values):6.2f} / {pct(values, 99):6.2f} / {max(values):7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=10, help="batches left out of the percentiles")
    parser.add_argument("--state-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    site = load_site("demo", variables={"data_dir": "/nonexistent"})
    t = time.perf_counter()
    seconds = simulate(site, args.minutes * 60)
    readings = sum(len(b) for b in seconds)
    print(
        f"simulated {args.minutes} min of the demo site: {readings} readings in {time.perf_counter() - t:.1f} s"
    )
    big = rebatch(seconds, args.batch)
    with tempfile.TemporaryDirectory() as tmp:

        def url(name: str) -> str:
            return args.state_url or f"sqlite:///{Path(tmp) / name}"

        live_all, _ = timed(service(url("live.db"), site), seconds)
        full = service(url("full.db"), site)
        full_all, rule_lat = interleaved(full, Rules(site), big)
        full_s = sum(full_all) / 1000
        # The first batches of a process compile SQLAlchemy's statements (a one-off at start): apart.
        live_lat, full_lat = live_all[args.warmup :], full_all[args.warmup :]
        with full.engine.connect() as conn:
            alerts = conn.execute(text("SELECT count(*) FROM alerts")).scalar_one()
            outbox = conn.execute(text("SELECT count(*) FROM notifications")).scalar_one()
        empty: list[float] = []
        for _ in range(500):
            t = time.perf_counter()
            with full.engine.begin() as conn:
                conn.execute(text("SELECT 1"))
            empty.append((time.perf_counter() - t) * 1000)
    print(f"alerts opened: {alerts}, outbox rows: {outbox} (the scenario's incidents and their escalations)")
    print()
    print("                                           p50 / p99 / max")
    print(f"engine, live (1 batch/s, {len(seconds[0]):4d} readings)  : {fmt(live_lat)}")
    print(f"engine, full rate ({args.batch} readings/batch) : {fmt(full_lat)}")
    print(f"reference: rules alone, same batches      : {fmt(rule_lat)}")
    print(f"reference: empty transaction (commit floor): {fmt(empty)}")
    warm = max(live_all[: args.warmup] + full_all[: args.warmup])
    print(
        f"(the first {args.warmup} batches of each run, compiling statements, are left out: max {warm:.1f} ms)"
    )
    print()
    rate = readings / full_s
    print(
        f"engine throughput: {rate:,.0f} readings/s sustained ({readings / len(seconds):.0f}/s is the demo site live)"
    )
    print(f"reference: rules alone {readings / (sum(rule_lat) / 1000):,.0f} readings/s")
    verdict = "met" if pct(full_lat, 99) <= 50 and pct(live_lat, 99) <= 50 else "NOT met"
    print(f"goal p99 <= 50 ms: {verdict}")


if __name__ == "__main__":
    main()
