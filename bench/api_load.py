"""The API under load on loopback: list routes with 10,000 tickets in SQLite, and 200 open event streams.

Run: .venv/bin/python -m bench.api_load [--tickets 10000] [--clients 50] [--seconds 8] [--streams 200]
                                         [--pace 0.5] [--client-procs 1]

- The state database (SQLite, migrated) is seeded with ``--tickets`` tickets, each with its alert and an
  opening timeline entry, through the alert engine's own tables (``alerts.engine.db``); 2 % of the alerts fire.
- The API (``api.main.create_app`` over the real ``AlertService``) runs under uvicorn in its own process.
- ``--clients`` concurrent clients call one route for ``--seconds``: first each client every ``--pace``
  seconds (boards and ticket systems polling: 50 clients x 2/s = 100 req/s), then back to back (saturation,
  where latency is mostly queueing: clients / throughput). p50/p99/max per route, beside ``/healthz`` under
  the same load (the reference: the floor of uvicorn + FastAPI on this machine), and the mean time the app
  itself spent per request (its own ``/metrics`` histogram) to tell work from queueing.
- The load generator runs in ``--client-procs`` processes of its own (neither the server's nor this one),
  one kept-alive connection per client, speaking bare HTTP/1.1 on asyncio streams: httpx cost about as much
  CPU per request as the API itself, so on a 2-core machine it was measuring its own queue. Each row prints
  the CPU the server and the load generators used (% of one core), to show which one is the bottleneck.
- ``--streams`` clients (httpx) hold ``/api/v1/events`` open; the server publishes an alert five times; the
  delay from publish to each client's receipt (max and p99 over all clients and rounds).

Goals (issue 8): alerts and tickets lists p99 < 50 ms at 50 clients; every stream gets a new alert within 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, insert

from alerts.engine import db as adb
from bench.streams import fan_out

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
    from alerts.engine.events import EventBus
    from alerts.engine.service import AlertService
    from alerts.notify.outbox import OutboxNotifier
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
        alerts=AlertService(engine, site, SlaSettings(), bus, OutboxNotifier(site)),
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


def page_costs(data_dir: str, rounds: int = 60) -> dict[str, tuple[float, float]]:
    """CPU ms (min, median) of one page of each list route as the route makes it (the service's query, the
    row mapping, the JSON body), in this process on the server's database: the app's own cost per request,
    without HTTP, queueing or the other processes on the machine (run while the server is idle)."""
    from alerts.engine.events import EventBus
    from alerts.engine.ports import AlertQuery, TicketQuery
    from alerts.engine.service import AlertService
    from alerts.notify.outbox import OutboxNotifier
    from api.schemas import alert_dict, page_response, ticket_dict
    from facwatch.config import SlaSettings, load_site
    from facwatch.model import TicketState
    from facwatch.state import open_engine

    site = load_site("demo", variables={"data_dir": data_dir})
    engine = open_engine(f"sqlite:///{data_dir}/state.db")
    service = AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site))

    def alerts_page() -> bytes:
        page = service.list_alerts(AlertQuery(limit=100))
        return bytes(page_response([alert_dict(a) for a in page.items], page.next).body)

    def tickets_page(state: TicketState | None, limit: int) -> bytes:
        page = service.list_tickets(TicketQuery(state=state, limit=limit))
        return bytes(page_response([ticket_dict(t) for t in page.items], page.next).body)

    pages: dict[str, Callable[[], bytes]] = {
        "alerts (firing first, limit 100)": alerts_page,
        "tickets (newest first, limit 100)": lambda: tickets_page(None, 100),
        "tickets, state=open, limit 50": lambda: tickets_page(TicketState.OPEN, 50),
    }
    costs = {}
    for name, make in pages.items():
        for _ in range(5):
            make()
        times = []
        for _ in range(rounds):
            started = time.process_time()
            make()
            times.append(1000 * (time.process_time() - started))
        costs[name] = (min(times), statistics.median(times))
    engine.dispose()
    return costs


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


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One GET on a kept-alive connection; the status. Bare HTTP/1.1: the load generator should cost the
    machine far less than the server it measures (httpx costs about as much per request as the API)."""
    writer.write(request)
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = -1
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length < 0:
        raise ConnectionError("a response without Content-Length")
    await reader.readexactly(length)
    return status


async def load(
    url: str, token: str, path: str, clients: int, seconds: float, pace_s: float = 0.0, first: int = 0,
    period_clients: int = 0,
) -> list[float]:  # fmt: skip
    """Latencies of ``clients`` concurrent clients (one connection each) calling ``path``: each calls every
    ``pace_s`` (a screen or a ticket system polling), or back to back when ``pace_s`` is 0 (saturation:
    latency = queueing). ``first`` and ``period_clients`` spread the clients of all processes over a period."""
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds
    spread = period_clients or clients

    async def worker(n: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        due = time.perf_counter() + pace_s * n / spread  # spread the clients over one period
        try:
            while time.perf_counter() < end:
                if pace_s:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    due += pace_s
                started = time.perf_counter()
                try:
                    status = await _get(reader, writer, request)
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                    continue
                latencies.append(time.perf_counter() - started)
                errors += status != 200
        finally:
            writer.close()

    await asyncio.gather(*(worker(first + n) for n in range(clients)))
    if errors:
        print(f"  ! {errors} requests to {path} failed (connection errors or non-200)")
    return latencies


def _client_process(args: tuple[str, str, str, int, float, float, int, int]) -> tuple[list[float], float]:
    """One load-generator process: its clients' latencies and the CPU seconds it used."""
    before = time.process_time()
    latencies = asyncio.run(load(*args))
    return latencies, time.process_time() - before


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of a process so far, on Linux; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(
    pool: ProcessPoolExecutor, procs: int, url: str, token: str, path: str, clients: int, seconds: float,
    pace_s: float,
) -> tuple[list[float], float]:  # fmt: skip
    """``clients`` spread over ``procs`` load-generator processes; (latencies, client CPU seconds)."""
    shares = [clients // procs + (i < clients % procs) for i in range(procs)]
    starts = [sum(shares[:i]) for i in range(procs)]
    jobs = [
        pool.submit(_client_process, (url, token, path, share, seconds, pace_s, start, clients))
        for share, start in zip(shares, starts, strict=True)
        if share
    ]
    results = [job.result() for job in jobs]
    return [x for lat, _ in results for x in lat], sum(cpu for _, cpu in results)


async def streams(url: str, token: str, count: int, pipe: Connection) -> list[float]:
    """``count`` streams; an alert made in the server process each second, ``ROUNDS`` times."""
    return await fan_out(url, token, count, ROUNDS, pipe.send)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--pace", type=float, default=0.5, help="seconds between one client's calls")
    parser.add_argument(
        "--only", default="", help="run only the routes whose name contains this (and always the reference)"
    )
    parser.add_argument(
        "--client-procs", type=int, default=1, help="load-generator processes the clients are spread over"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        parent, child = mp.Pipe()
        proc = mp.get_context("spawn").Process(target=server, args=(tmp, args.tickets, child), daemon=True)
        proc.start()
        if not parent.poll(120):
            raise SystemExit("the API process did not start")
        url, token = parent.recv()
        print(
            f"{args.tickets} tickets in SQLite, {args.clients} concurrent clients in {args.client_procs} "
            f"load-generator process(es) apart from the server's, {args.seconds:.0f} s per row, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start"
        )
        print(
            f"{'route':34} {'load':>24} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'server ms':>9}"
            f" {'CPU ms':>7} {'server CPU':>10} {'client CPU':>10}"
        )
        with ProcessPoolExecutor(args.client_procs, mp_context=mp.get_context("spawn")) as pool:
            for name, path in ROUTES.items():
                if args.only not in name and not name.startswith("reference"):
                    continue
                run_load(pool, args.client_procs, url, token, path, args.clients, 1.0, 0.0)  # warm up
                for pace, label in (
                    (args.pace, f"each every {args.pace:g} s"),
                    (0.0, "back to back (saturated)"),
                ):
                    before = _server_time(url, path)
                    server_cpu = _cpu_s(proc.pid or 0)
                    started = time.perf_counter()
                    latencies, client_cpu = run_load(
                        pool, args.client_procs, url, token, path, args.clients, args.seconds, pace
                    )
                    wall = time.perf_counter() - started
                    server_cpu_after = _cpu_s(proc.pid or 0)
                    after = _server_time(url, path)
                    requests = max(1.0, after[1] - before[1])
                    server_ms = 1000 * (after[0] - before[0]) / requests
                    used = cpu_ms = "n/a"
                    if server_cpu is not None and server_cpu_after is not None:
                        used = f"{100 * (server_cpu_after - server_cpu) / wall:.0f} %"
                        cpu_ms = f"{1000 * (server_cpu_after - server_cpu) / requests:.1f}"
                    ms = [x * 1000 for x in latencies]
                    print(
                        f"{name:34} {label:>24} {len(ms) / args.seconds:6.0f} {statistics.median(ms):7.1f} "
                        f"{_pct(ms, 0.99):7.1f} {max(ms):7.1f} {server_ms:9.1f} {cpu_ms:>7} {used:>10} "
                        f"{f'{100 * client_cpu / wall:.0f} %':>10}"
                    )
        print("server ms: mean time in the app (request in to headers out), from its own /metrics histogram")
        print(
            "CPU ms: CPU time of the API process per request (all its threads; what the machine's load hides)"
        )
        print("server CPU, client CPU: CPU time of the API process and of all load generators / wall time")
        for name, (least, median) in page_costs(tmp).items():
            print(f"page cost, in process, no load: {name:34} CPU min {least:.2f} ms, median {median:.2f} ms")
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
