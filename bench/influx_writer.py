"""The InfluxDB writer against posting the same pre-built line protocol, into a real InfluxDB 1.6 and VictoriaMetrics.

Run: .venv/bin/python -m bench.influx_writer [--readings 500000] [--rounds 3] [--server influxdb|victoria|both]

- writer: ``InfluxStore.write`` — readings in (writes of 25,000 readings, one large gateway batch), line
  protocol built by ingest.lineproto, cut into a few bodies and posted to ``/write`` with two requests in
  flight (gzip level 1 on, and off);
- reference: the same line protocol as bodies of 5,000 lines, built before the clock starts, posted one after
  the other with one ``httpx.Client`` to ``/write?precision=ms`` (uncompressed): what the server takes from
  a client that only posts;
- the builder alone (ingest.lineproto, no I/O), for scale.
Each run writes its own time range, so the server does equal work. The machine is shared and noisy, so the
rounds alternate reference and writers and the table gives medians, with every round's ratio beside them.
Goal (issue 18): writer ≥ 0.7 × reference (it was 0.40 with one write waiting for the server at a time).
The servers are the tests' own fixtures (tests/fixtures/influx.py, tests/fixtures/victoria.py).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from facwatch.config import load_site
from facwatch.model import Reading
from ingest.influx_store import InfluxStore
from ingest.lineproto import LineEncoder
from tests.fixtures.influx import Influx
from tests.fixtures.victoria import Victoria

SITE = load_site("demo", {"data_dir": "unused"})
CHANNELS = ("floor", "speed_mps", "motor_current_a", "vibration_rms_g", "load_kg")
ELEVATORS = [a.id for a in SITE.assets if str(a.kind) == "elevator"]
BODY_LINES = 5_000


DB = "bench"


@contextmanager
def server(name: str) -> Iterator[str]:
    """A fresh server on a free loopback port with its data in a temp dir; yields its URL."""
    workdir = Path(tempfile.mkdtemp(prefix=f"fw-bench-{name}-"))
    proc: Influx | Victoria
    if name == "influxdb":
        proc = Influx(binary=shutil.which("influxd") or "/usr/bin/influxd", workdir=workdir)
    else:
        proc = Victoria(
            binary=shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics", workdir=workdir
        )
    proc.start()
    try:
        httpx.post(f"{proc.url}/query", params={"q": f'CREATE DATABASE "{DB}"'}, timeout=10)
        yield proc.url
    finally:
        proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def readings(n: int, base_ts: int) -> list[Reading]:
    """``n`` readings: five channels per elevator and timestamp, like a real device's messages."""
    out: list[Reading] = []
    i = 0
    while len(out) < n:
        asset = ELEVATORS[i % len(ELEVATORS)]
        ts = base_ts + i
        out.extend(Reading(SITE.id, asset, ch, ts, float(i % 97) + k / 10) for k, ch in enumerate(CHANNELS))
        i += 1
    return out[:n]


def chunks(items: list[Reading], size: int) -> list[list[Reading]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_writer(url: str, data: list[Reading], gzip: bool) -> float:
    store = InfluxStore(SITE, url=url, database=DB, gzip=gzip, batch_lines=BODY_LINES)
    started = time.perf_counter()
    for batch in chunks(data, BODY_LINES * len(CHANNELS)):
        store.write(batch)
    elapsed = time.perf_counter() - started
    store.close()
    return len(data) / elapsed


def run_reference(url: str, data: list[Reading]) -> float:
    bodies = [body for body, _ in LineEncoder(SITE).bodies(data, BODY_LINES)]
    with httpx.Client(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/write", params={"db": DB, "precision": "ms"}, content=body)
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    return len(data) / elapsed


def run_builder(data: list[Reading]) -> float:
    encoder = LineEncoder(SITE)
    started = time.perf_counter()
    for batch in chunks(data, BODY_LINES * len(CHANNELS)):
        for _ in encoder.bodies(batch, BODY_LINES):
            pass
    return len(data) / (time.perf_counter() - started)


def measure(url: str, size: int, rounds: int) -> dict[str, list[float]]:
    day = 24 * 3600 * 1000
    base = int(time.time() * 1000) - (3 * rounds + 2) * day
    figures: dict[str, list[float]] = {"ref": [], "plain": [], "gzip": [], "builder": []}
    run_reference(url, readings(50_000, base - day))  # warm-up: series created, caches hot
    runs: dict[str, Callable[[list[Reading]], float]] = {
        "ref": lambda data: run_reference(url, data),
        "plain": lambda data: run_writer(url, data, gzip=False),
        "gzip": lambda data: run_writer(url, data, gzip=True),
    }
    for _ in range(rounds):
        for name, run in runs.items():
            data = readings(size, base)
            base += day
            figures[name].append(run(data))
        figures["builder"].append(run_builder(data))
    return figures


def table(server_name: str, figures: dict[str, list[float]], size: int, rounds: int) -> None:
    ref = statistics.median(figures["ref"])
    print(f"\n{server_name}: {rounds} rounds of {size:,} readings, medians")
    print(
        "| figure | readings/s | reference (same bodies pre-built, posted one by one) | ratio of medians"
        " | median of the rounds' ratios (each round) | goal |"
    )
    print("|---|---|---|---|---|---|")
    for name, label in (("plain", "gzip off"), ("gzip", "gzip on (level 1)")):
        rate = statistics.median(figures[name])
        ratios = [w / r for w, r in zip(figures[name], figures["ref"], strict=True)]
        each = ", ".join(f"{x:.2f}" for x in ratios)
        print(
            f"| InfluxStore.write, {label} | {rate:,.0f} | {ref:,.0f} | {rate / ref:.2f}"
            f" | {statistics.median(ratios):.2f} ({each}) | ≥ 0.7 |"
        )
    print(f"| builder alone (no I/O) | {statistics.median(figures['builder']):,.0f} | | | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--readings", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", choices=("influxdb", "victoria", "both"), default="both")
    args = parser.parse_args()
    names = ("influxdb", "victoria") if args.server == "both" else (args.server,)
    for name in names:
        with server(name) as url:
            figures = measure(url, args.readings, args.rounds)
        table(
            {"influxdb": "InfluxDB 1.6", "victoria": "VictoriaMetrics"}[name],
            figures,
            args.readings,
            args.rounds,
        )


if __name__ == "__main__":
    main()
