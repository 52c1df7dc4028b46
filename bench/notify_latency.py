"""Notification latency: from a RED finding observed by the alert engine to the message received by a local
HTTP server (apprise ``json://``) and a local SMTP server (aiosmtpd, apprise ``mailto://``), with the default
settings, and once more with a hanging target (takes the request, never answers) beside the HTTP one.

Each of N alerts is a RED finding on an asset of its own (so each opens its own ticket); the next alert
starts when the previous message has arrived, so the figure is the latency of one alert, not of a queue.
The path measured: ``AlertService.observe_findings`` (rules, alert, ticket, SLA clocks and the outbox row in
one transaction) → ``Dispatcher.deliver_pending`` (claim, the isolated send, receipt) → the receiver. The
dispatcher runs in its own loop every ``--tick`` seconds (default the application's 0.5 s) with the default
``[notify]`` settings: RED has no group window (``group_wait_red_s = 0``), sends have a 10 s deadline and two
slots per target. With a hanging target the engineer has two channels, the healthy one and the hanging one;
RED goes to both at once, and the healthy one's arrival is timed.

Reference, from the same run and the same receivers: a bare ``apprise.Apprise().notify()`` of the same
title and body, timed from the call to the receipt.

Run: .venv/bin/python -m bench.notify_latency [--alerts 200] [--tick 0.5] [--group-wait S]
"""

from __future__ import annotations

import argparse
import dataclasses
import email
import email.policy
import json
import logging
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import apprise

from alerts.engine.events import EventBus
from alerts.engine.service import AlertService
from alerts.notify.outbox import Dispatcher, OutboxNotifier
from facwatch.config import NotifySettings, SlaSettings, load_site
from facwatch.logs import configure
from facwatch.model import Finding, Level, Site, ms_from_utc
from facwatch.state import migrate, open_engine
from tests.fixtures.receivers import stuck_receiver


class Arrivals:
    """Arrival times (perf_counter) of messages whose title contains a marker."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.seen: dict[str, float] = {}
        self.body = ""
        """The body of a message facwatch sent, for the reference to send the same."""

    def arrived(self, text: str, body: str = "") -> None:
        now = time.perf_counter()
        with self.cond:
            self.body = self.body or body
            for word in text.split():
                if word.startswith("M#"):
                    self.seen.setdefault(word.strip('[]()：:,"'), now)
            self.cond.notify_all()

    def wait(self, marker: str, timeout: float = 30.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: marker in self.seen, timeout):
                raise TimeoutError(f"{marker} did not arrive within {timeout} s")
            return self.seen[marker]


@contextmanager
def http_server(arrivals: Arrivals) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                message = json.loads(raw)
                arrivals.arrived(str(message.get("title", "")), str(message.get("message", "")))
            except ValueError:
                arrivals.arrived(raw.decode("utf-8", "replace"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_server(arrivals: Arrivals) -> Iterator[str]:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            arrivals.arrived(str(message.get("Subject", "")))
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"mailto://127.0.0.1:{port}?mode=insecure&from=facwatch@example.com&to=duty@example.com&smtp=127.0.0.1"
    finally:
        controller.stop()


def bench_site(urls: tuple[str, ...], n: int) -> Site:
    """The demo compound with N elevators in building 1 and one engineer reached at ``urls`` only."""
    site = load_site("demo", variables={"data_dir": "/nonexistent"})
    template = site.assets[0]
    assets = tuple(dataclasses.replace(template, id=f"bench-{i}", name=f"M#{i} elevator") for i in range(n))
    people = tuple(dataclasses.replace(p, notify=urls) for p in site.people)
    return dataclasses.replace(site, assets=assets, people=people, owners=())


def facwatch_latencies(
    urls: tuple[str, ...], arrivals: Arrivals, n: int, tick: float, settings: NotifySettings
) -> list[float]:
    site = bench_site(urls, n)
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{Path(tmp) / 'state.db'}")
        migrate(engine)
        notifier = OutboxNotifier(site, settings=settings)
        service = AlertService(engine, site, SlaSettings(), EventBus(), notifier=notifier)
        dispatcher = Dispatcher(engine, site=site, settings=settings)
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(tick):
                dispatcher.deliver_pending(datetime.now(UTC))

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        out = []
        try:
            for i in range(n):
                now = datetime.now(UTC)
                finding = Finding(site.id, f"bench-{i}", "elevator.entrapment", ms_from_utc(now), True, Level.RED,
                                  f"M#{i} trapped")  # fmt: skip
                start = time.perf_counter()
                service.observe_findings([finding])
                out.append(arrivals.wait(f"M#{i}") - start)
        finally:
            stop.set()
            thread.join(timeout=30)
            dispatcher.close(wait_s=0)
            engine.dispose()
    return out


def apprise_latencies(url: str, arrivals: Arrivals, n: int) -> list[float]:
    body = arrivals.body or "reference"
    out = []
    for i in range(n):
        marker = f"M#ref{i}"
        start = time.perf_counter()
        client = apprise.Apprise()
        client.add(url)
        client.notify(title=f"[RED] T-000001 {marker} elevator", body=body)
        out.append(arrivals.wait(marker) - start)
    return out


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {p[49]:7.1f} ms   p99 {p[98]:7.1f} ms   max {ms[-1]:7.1f} ms   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--tick", type=float, default=0.5, help="dispatcher loop interval, s (app: 0.5)")
    parser.add_argument("--group-wait", type=float, default=None, help="RED group window, s (default: 0)")
    args = parser.parse_args()
    configure("console", "error")
    logging.getLogger("apprise").setLevel(logging.CRITICAL)
    settings = NotifySettings()
    if args.group_wait is not None:
        settings = NotifySettings(group_wait_red_s=args.group_wait)
    print(
        f"notification latency, {args.alerts} RED alerts each, tick {args.tick} s, RED group window "
        f"{settings.group_wait_red_s:g} s, send deadline {settings.timeout_s:g} s, {settings.per_target} per target"
    )
    cases: list[tuple[str, Callable[[Arrivals], Any], bool]] = [
        ("HTTP json://", http_server, False),
        ("HTTP + hanging", http_server, True),
        ("SMTP mailto://", smtp_server, False),
    ]
    for name, start_server, hanging in cases:
        arrivals = Arrivals()
        with start_server(arrivals) as url, stuck_receiver(None, max_s=30) as stuck:
            urls = (url, stuck.url) if hanging else (url,)
            ours = facwatch_latencies(urls, arrivals, args.alerts, args.tick, settings)
            ref = apprise_latencies(url, arrivals, args.alerts)
            extra = f"   (hanging target took {len(stuck.requests)} requests)" if hanging else ""
        print(f"{name:15s} facwatch finding → receipt:  {summary(ours)}{extra}")
        print(f"{'':15s} bare apprise notify → receipt: {summary(ref)}")


if __name__ == "__main__":
    main()
