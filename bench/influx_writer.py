"""The InfluxDB writer against posting pre-built line protocol, both into a real VictoriaMetrics.

Run: .venv/bin/python -m bench.influx_writer [--readings 500000]

- writer: ``InfluxStore.write`` — readings in, line protocol built by ingest.lineproto, posted through
  influxdb-client's write service in bodies of 5,000 lines (gzip level 1 on, and off);
- reference: the same line-protocol bodies, built before the clock starts, posted with one ``httpx.Client``
  to ``/api/v2/write?precision=ms`` (uncompressed): the server's own limit on this machine.
Each run writes its own time range, so the server does equal work. Goal (issue 3): writer ≥ 0.7 × reference.
"""

from __future__ import annotations

import argparse
import shutil
import socket
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
    bodies = list(LineEncoder(SITE).bodies(data, BODY_LINES))
    with httpx.Client(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post(
                "/api/v2/write", params={"org": "o", "bucket": "b", "precision": "ms"}, content=body
            )
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    return len(data) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=500_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fw-bench-vm-"))
    server, url = start_victoria(workdir)
    day = 24 * 3600 * 1000
    base = int(time.time() * 1000) - 20 * day
    try:
        run_reference(url, readings(50_000, base - day))  # warm-up: series created, caches hot
        ref = run_reference(url, readings(args.readings, base))
        plain = run_writer(url, readings(args.readings, base + 2 * day), gzip=False)
        gz = run_writer(url, readings(args.readings, base + 4 * day), gzip=True)
        ref2 = run_reference(url, readings(args.readings, base + 6 * day))
    finally:
        server.terminate()
        server.wait(20)
        shutil.rmtree(workdir, ignore_errors=True)
    reference = (ref + ref2) / 2
    print("| figure | readings/s | reference (pre-built bodies, one httpx client) | ratio | goal |")
    print("|---|---|---|---|---|")
    print(
        f"| InfluxStore.write, gzip off | {plain:,.0f} | {reference:,.0f} | {plain / reference:.2f} | ≥ 0.7 |"
    )
    print(
        f"| InfluxStore.write, gzip on (default, level 1) | {gz:,.0f} | {reference:,.0f} | {gz / reference:.2f} | ≥ 0.7 |"
    )


if __name__ == "__main__":
    main()
