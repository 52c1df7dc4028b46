"""The API under load on loopback: list routes with 10,000 tickets in SQLite, and 200 open event streams.

Run: .venv/bin/python -m bench.api_load [--tickets 10000] [--clients 50] [--seconds 8] [--streams 200]

- The state database (SQLite, migrated) is seeded with ``--tickets`` tickets, each with its alert and an
  opening timeline entry, through the alert engine's own tables (``alerts.db``); 2 % of the alerts fire.
- The API (``api.main.create_app`` over the real ``AlertService``) runs under uvicorn in its own process,
  so the load generator does not share its interpreter.
- ``--clients`` concurrent clients (httpx, asyncio) call one route for ``--seconds``: first each client every
  ``--pace`` seconds (boards and ticket systems polling: 50 clients x 2/s = 100 req/s), then back to back
  (saturation, where latency is mostly queueing: clients / throughput). p50/p99/max per route, beside
  ``/healthz`` under the same load (the reference: the floor of uvicorn + FastAPI on this machine), and the
  mean time the app itself spent per request (its own ``/metrics`` histogram) to tell work from queueing.
- ``--streams`` clients hold ``/api/v1/events`` open; the server publishes an alert five times; the delay from
  publish to each client's receipt (max and p99 over all clients and rounds).

Goals (issue 8): alerts and tickets lists p99 < 50 ms at 50 clients; every stream gets a new alert within 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, insert

from alerts import db as adb

ROUTES = {
    "alerts (firing first, limit 100)": "/api/v1/alerts",
    "tickets (newest first, limit 100)": "/api/v1/tickets",
    "tickets, state=open, limit 50": "/api/v1/tickets?state=open&limit=50",
    "reference: /healthz": "/healthz",
}
ROUNDS = 5


def seed(engine: Engine, site: Any, n: int, now: datetime) -> None:
    """``n`` tickets over the last year, one alert each; firing and open for the newest 2 %."""
    assets = list(site.assets)
    levels = ["red", "orange", "yellow", "blue"]
    tickets, alerts, links, events = [], [], [], []
    for i in range(1, n + 1):
        asset = assets[i % len(assets)]
        opened = now - timedelta(minutes=(n - i) * 50)
        live = i > n * 0.98
        level = levels[i % 4]
        kind = f"{asset.kind.value}.bench{i}" if live else f"{asset.kind.value}.bench"
        alerts.append(
            {
                "id": i, "site": site.id, "asset": asset.id, "building": asset.building, "kind": kind,
                "level": level, "state": "firing" if live else "resolved", "summary": f"bench alert {i}",
                "opened_at": opened, "updated_at": opened, "resolved_at": None if live else opened,
                "count": 1,
            }
        )  # fmt: skip
        tickets.append(
            {
                "id": i, "site": site.id, "asset": asset.id, "building": asset.building, "kind": kind,
                "level": level, "state": "open" if live else "closed", "title": f"bench ticket {i}",
                "created_at": opened, "updated_at": opened, "ack_due": opened + timedelta(minutes=1),
                "on_site_due": opened + timedelta(minutes=3), "fixed_due": None, "escalation_step": 0,
            }
        )  # fmt: skip
        links.append({"ticket_id": i, "alert_id": i})
        events.append({"ticket_id": i, "ts": opened, "action": "open", "actor": "facwatch", "note": ""})
    with engine.begin() as conn:
        conn.execute(insert(adb.alerts), alerts)
        conn.execute(insert(adb.tickets), tickets)
        conn.execute(insert(adb.ticket_alerts), links)
        conn.execute(insert(adb.ticket_events), events)


def server(data_dir: str, n: int, pipe: Connection) -> None:
    """The API process: seed, serve, then publish alerts on the parent's command."""
    from alerts.events import EventBus
    from alerts.service import AlertService
    from api.auth import TokenStore
    from api.deps import ApiServices
    from api.main import create_app
    from api.server import serve
    from facwatch.clock import WallClock
    from facwatch.config import SlaSettings, load_site
    from facwatch.state import migrate, open_engine
    from ingest.deadletters import DeadLetterStore
    from ingest.sqlite_store import SqliteStore

    site = load_site("demo", variables={"data_dir": data_dir})
    engine = open_engine(f"sqlite:///{data_dir}/state.db")
    migrate(engine)
    seed(engine, site, n, datetime.now(UTC))
    bus = EventBus()
    tokens = TokenStore(engine)
    services = ApiServices(
        site=site,
        alerts=AlertService(engine, site, SlaSettings(), bus),
        telemetry=SqliteStore(Path(data_dir) / "telemetry.db"),
        dead_letters=DeadLetterStore(Path(data_dir) / "deadletters.db"),
        tokens=tokens,
        bus=bus,
        clock=WallClock(),
    )
    handle = serve(create_app(services, webhooks_worker=False), "127.0.0.1", 0)
    pipe.send((handle.url, tokens.create("bench", ["admin"])))
    while True:
        command = pipe.recv()
        if command == "stop":
            break
        bus.publish("alert", {"id": f"bench-{command}", "sent": time.time()}, datetime.now(UTC))
    bus.close()
    handle.stop()


def _server_time(url: str, path: str) -> tuple[float, float]:
    """(sum of seconds, count) of the app's own latency histogram for this route."""
    route = path.split("?", 1)[0].removeprefix("/api/v1")  # the app labels routes below its prefix
    text = httpx.get(f"{url}/metrics", timeout=30).text
    total = count = 0.0
    for line in text.splitlines():
        if f'route="{route}"' not in line:
            continue
        if line.startswith("facwatch_api_request_seconds_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith("facwatch_api_request_seconds_count"):
            count = float(line.rsplit(" ", 1)[1])
    return total, count


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(
    url: str, token: str, path: str, clients: int, seconds: float, pace_s: float = 0.0
) -> list[float]:
    """Latencies of ``clients`` concurrent clients calling ``path``: each calls every ``pace_s`` (a screen
    or a ticket system polling), or back to back when ``pace_s`` is 0 (saturation: latency = queueing)."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as client:
        end = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            nonlocal errors
            due = time.perf_counter() + pace_s * n / clients  # spread the clients over one period
            while time.perf_counter() < end:
                if pace_s:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    due += pace_s
                started = time.perf_counter()
                try:
                    response = await client.get(path)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

        await asyncio.gather(*(worker(n) for n in range(clients)))
    if errors:
        print(f"  ! {errors} requests to {path} failed (connection errors or non-200)")
    return latencies


async def streams(url: str, token: str, count: int, pipe: Connection) -> list[float]:
    limits = httpx.Limits(max_connections=count + 5)
    delays: list[float] = []
    ready = 0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def listen() -> None:
            nonlocal ready
            params = {"access_token": token}
            async with client.stream("GET", "/api/v1/events", params=params) as response:
                seen = 0
                async for line in response.aiter_lines():
                    if line.startswith(": connected"):
                        ready += 1
                    if line.startswith("data: ") and '"bench-' in line:
                        sent = float(line.split('"sent":', 1)[1].rstrip("}"))
                        delays.append(time.time() - sent)
                        seen += 1
                        if seen == ROUNDS:
                            return

        tasks = [asyncio.create_task(listen()) for _ in range(count)]
        deadline = time.monotonic() + 60
        while ready < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if ready < count:
            raise SystemExit(f"only {ready} of {count} streams connected")
        for i in range(ROUNDS):
            pipe.send(i)
            await asyncio.sleep(1.0)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--pace", type=float, default=0.5, help="seconds between one client's calls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        parent, child = mp.Pipe()
        proc = mp.get_context("spawn").Process(target=server, args=(tmp, args.tickets, child), daemon=True)
        proc.start()
        if not parent.poll(120):
            raise SystemExit("the API process did not start")
        url, token = parent.recv()
        print(
            f"{args.tickets} tickets in SQLite, {args.clients} concurrent clients, {args.seconds:.0f} s per row"
        )
        print(
            f"{'route':34} {'load':>24} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'server ms':>9}"
        )
        for name, path in ROUTES.items():
            asyncio.run(load(url, token, path, args.clients, 1.0))  # warm up
            for pace, label in (
                (args.pace, f"each every {args.pace:g} s"),
                (0.0, "back to back (saturated)"),
            ):
                before = _server_time(url, path)
                latencies = asyncio.run(load(url, token, path, args.clients, args.seconds, pace))
                after = _server_time(url, path)
                server_ms = 1000 * (after[0] - before[0]) / max(1, after[1] - before[1])
                ms = [x * 1000 for x in latencies]
                print(
                    f"{name:34} {label:>24} {len(ms) / args.seconds:6.0f} {statistics.median(ms):7.1f} "
                    f"{_pct(ms, 0.99):7.1f} {max(ms):7.1f} {server_ms:9.1f}"
                )
        print("server ms: mean time in the app (request in to headers out), from its own /metrics histogram")
        print("goal: alerts and tickets p99 < 50 ms")
        delays = asyncio.run(streams(url, token, args.streams, parent))
        ms = [d * 1000 for d in delays]
        print(
            f"{args.streams} SSE streams x {ROUNDS} alerts: {len(ms)} receipts, publish->client p50 "
            f"{statistics.median(ms):.1f} ms, p99 {_pct(ms, 0.99):.1f} ms, max {max(ms):.1f} ms (goal: max < 1000 ms)"
        )
        if len(ms) != args.streams * ROUNDS:
            print(f"MISSING: {args.streams * ROUNDS - len(ms)} receipts")
        parent.send("stop")
        proc.join(15)


if __name__ == "__main__":
    main()
