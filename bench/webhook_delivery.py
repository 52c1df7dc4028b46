"""Webhook delivery: 1,000 alert events to 3 receivers, one of which takes the request and never answers; the
healthy receivers' delay, beside the same run without the hanging receiver.

Run: .venv/bin/python -m bench.webhook_delivery [--events 1000] [--rate 100]

- A ``facwatch run --only api`` process (SQLite state) runs the webhook worker, fed by the durable event log.
- This process plays the engine's part: it appends ``--events`` alert events to the log, ``--rate`` a second,
  one transaction each (``alerts.engine.eventlog.append``), the time of the append inside the event.
- Receivers on loopback, each its own port (so its own host slots): two answer 204 at once; the third reads
  the request and never answers (the worker gives each attempt up after its 10 s deadline and retries).
- Timed from the append to the healthy receiver's arrival. Bounded: each run waits at most ``--wait`` s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

from alerts.engine.eventlog import append
from bench.stream_fanout import ADMIN, ApiProcess, pct
from facwatch.state import open_engine
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until


class Receiver:
    """A loopback receiver of POSTs: answers 204 and notes each delay, or (``hang``) never answers."""

    def __init__(self, hang: bool = False) -> None:
        self.delays: list[float] = []
        self.taken = 0
        self.slow: list[float] = []
        self.release = threading.Event()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/hooks"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.time()
                receiver.taken += 1
                if hang:
                    receiver.release.wait(120)
                    return
                delay = arrived - float(orjson.loads(body)["data"]["sent"])
                receiver.delays.append(delay)
                if delay > 1.0:
                    receiver.slow.append(arrived)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def run(workdir: Path, events: int, rate: float, hanging: bool, wait_s: float) -> list[list[float]]:
    """The healthy receivers' delays (s), one list each."""
    api = ApiProcess(workdir)
    receivers = [Receiver(), Receiver()] + ([Receiver(hang=True)] if hanging else [])
    engine = open_engine(api.state_url)
    try:
        for receiver in receivers:
            answer = httpx.post(
                f"{api.url}/api/v1/webhooks",
                json={"url": receiver.url, "events": ["alert"]},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            assert answer.status_code == 201, answer.text
        started, first = time.monotonic(), time.time()
        for i in range(events):
            with engine.begin() as conn:
                append(conn, "alert", "demo", {"id": f"bench-{i}", "sent": time.time()}, datetime.now(UTC))
            pause = started + (i + 1) / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        healthy = receivers[:2]
        try:
            wait_until(lambda: all(len(r.delays) >= events for r in healthy), wait_s, "every delivery")
        except AssertionError as exc:
            print(f"  incomplete: {exc}")
        if hanging:
            print(f"  the hanging receiver took {receivers[2].taken} requests (never answered)")
        slow = [t - first for r in healthy for t in r.slow]
        if slow:
            print(
                f"  {len(slow)} deliveries over 1 s, arriving {min(slow):.1f}-{max(slow):.1f} s after the first append"
            )
        return [list(r.delays) for r in healthy]
    finally:
        for receiver in receivers:
            receiver.close()
        api.stop()
        engine.dispose()


def line(label: str, per_receiver: list[list[float]], events: int) -> str:
    ms = [d * 1000 for delays in per_receiver for d in delays]
    got = "/".join(str(len(d)) for d in per_receiver)
    return (
        f"{label:36} delivered {got} of {events} each: p50 {statistics.median(ms):7.1f} ms, "
        f"p99 {pct(ms, 0.99):7.1f} ms, max {max(ms):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="events appended per second")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds each run waits for its deliveries")
    args = parser.parse_args()
    print(
        f"{args.events} alert events at {args.rate:g}/s, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        hung = run(tmp / "hanging", args.events, args.rate, True, args.wait)
        print(line("2 healthy + 1 hanging receiver", hung, args.events))
        ref = run(tmp / "healthy", args.events, args.rate, False, args.wait)
        print(line("reference: 2 healthy receivers only", ref, args.events))


if __name__ == "__main__":
    main()
