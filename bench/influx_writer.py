"""The InfluxDB writer against posting pre-built line protocol, both into a real VictoriaMetrics.

Run: .venv/bin/python -m bench.influx_writer [--readings 500000] [--rounds 3]

- writer: ``InfluxStore.write`` — readings in (writes of 25,000 readings), line protocol built by
  ingest.lineproto, posted through influxdb-client's write service in bodies of 5,000 lines (gzip level 1
  on, and off);
- reference: the same line-protocol bodies, built before the clock starts, posted with one ``httpx.Client``
  to ``/api/v2/write?precision=ms`` (uncompressed): the server's own limit on this machine;
- the builder alone (ingest.lineproto, no I/O), for scale.
Each run writes its own time range, so the server does equal work. The machine is shared and noisy, so the
rounds alternate reference and writers and the table gives medians, with every round's ratio beside them.
Goal (issue 3): writer ≥ 0.7 × reference.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from facwatch.config import load_site
from facwatch.model import Reading
from ingest.influx_store import InfluxStore
from ingest.lineproto import LineEncoder

SITE = load_site("demo", {"data_dir": "unused"})
CHANNELS = ("floor", "speed_mps", "motor_current_a", "vibration_rms_g", "load_kg")
ELEVATORS = [a.id for a in SITE.assets if str(a.kind) == "elevator"]
BODY_LINES = 5_000


def start_victoria(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics",
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={workdir}",
            "-retentionPeriod=100y",
            "-loggerLevel=ERROR",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("victoria-metrics did not start")


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
    store = InfluxStore(SITE, url=url, token="t", org="o", bucket="b", gzip=gzip, batch_lines=BODY_LINES)
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
            response = client.post(
                "/api/v2/write", params={"org": "o", "bucket": "b", "precision": "ms"}, content=body
            )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fw-bench-vm-"))
    server, url = start_victoria(workdir)
    day = 24 * 3600 * 1000
    base = int(time.time() * 1000) - (3 * args.rounds + 2) * day
    figures: dict[str, list[float]] = {"ref": [], "plain": [], "gzip": [], "builder": []}
    try:
        run_reference(url, readings(50_000, base - day))  # warm-up: series created, caches hot
        for _ in range(args.rounds):
            for name in ("ref", "plain", "gzip"):
                data = readings(args.readings, base)
                base += day
                if name == "ref":
                    figures[name].append(run_reference(url, data))
                else:
                    figures[name].append(run_writer(url, data, gzip=name == "gzip"))
            figures["builder"].append(run_builder(data))
    finally:
        server.terminate()
        server.wait(20)
        shutil.rmtree(workdir, ignore_errors=True)
    ref = statistics.median(figures["ref"])
    print(f"{args.rounds} rounds of {args.readings:,} readings, medians; ratios of each round in brackets")
    print("| figure | readings/s | reference (pre-built bodies, one httpx client) | ratio | goal |")
    print("|---|---|---|---|---|")
    for name, label in (("plain", "gzip off"), ("gzip", "gzip on (default, level 1)")):
        rate = statistics.median(figures[name])
        rounds = ", ".join(f"{w / r:.2f}" for w, r in zip(figures[name], figures["ref"], strict=True))
        ratio = f"{rate / ref:.2f} ({rounds})"
        print(f"| InfluxStore.write, {label} | {rate:,.0f} | {ref:,.0f} | {ratio} | ≥ 0.7 |")
    print(f"| builder alone (no I/O) | {statistics.median(figures['builder']):,.0f} | | | |")


if __name__ == "__main__":
    main()
