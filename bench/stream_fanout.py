"""The event stream across processes: 200 SSE clients of a ``facwatch run --only api`` process get an alert
that another process committed to the event log (SQLite, one state database), beside the in-process figure.

Run: .venv/bin/python -m bench.stream_fanout [--streams 200] [--rounds 5]

- Split: this process plays the engine's part: it appends an ``alert`` event to the log in its own
  transaction (``alerts.engine.eventlog.append``, as the alert engine does) and the API process, a separate
  ``facwatch run --only api``, finds it with its ``LogTailer`` and fans it out to every stream. Timed from
  just before the commit (the time is in the event) to each client's receipt.
- Reference, same run: ``bench.api_load``'s server publishes on its own bus in the API's process.
- Bounded: ``--rounds`` events, one a second, each waited for at most 30 s; loopback only.
Goal (issue 13): every client gets the new alert within 1 s (max).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from api.auth import TokenStore
from bench.api_load import server as in_process_server
from bench.streams import fan_out
from facwatch.state import migrate, open_engine
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until

WORKTREE = Path(__file__).resolve().parents[1]
ADMIN = "bench-stream-admin-token-0123456789"


class ApiProcess:
    """``facwatch run --only api`` of this checkout on the SQLite state database in ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.state_url = f"sqlite:///{workdir / 'state.db'}"
        self.config = workdir / "facwatch.toml"
        self.config.write_text(
            f'data_dir = "{workdir / "data"}"\nsite = "demo"\nlog_format = "json"\nlog_level = "warning"\n'
            f'[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n'
            f'[state]\nurl = "{self.state_url}"\n'
            f'[api]\nport = {self.port}\nadmin_token = "{ADMIN}"\nwebhook_allow_http = true\n'
            'webhook_allow_hosts = ["127.0.0.1"]\n',
            encoding="utf-8",
        )
        engine = open_engine(self.state_url)
        migrate(engine)
        TokenStore(engine).register("bench-admin", ["admin"], ADMIN)
        engine.dispose()
        self.log = workdir / "facwatch.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKTREE), *sys.path])}
        cmd = [sys.executable, "-m", "facwatch.cli", "run", "--config", str(self.config), "--only", "api"]
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, env=env)
        wait_until(self._up, 60, "the API process")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise SystemExit(self.log.read_text(encoding="utf-8", errors="replace")[-3000:])
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(label: str, ms: list[float], expected: int) -> str:
    missing = expected - len(ms)
    return (
        f"{label:44} {len(ms):5d} receipts{f' ({missing} MISSING)' if missing else ''}: p50 "
        f"{statistics.median(ms):6.1f} ms, p99 {pct(ms, 0.99):6.1f} ms, max {max(ms):6.1f} ms"
    )


def split(tmp: Path, streams: int, rounds: int) -> list[float]:
    from alerts.engine.eventlog import append

    api = ApiProcess(tmp / "split")
    engine = open_engine(api.state_url)

    def publish(i: int) -> None:
        with engine.begin() as conn:
            append(conn, "alert", "demo", {"id": f"bench-{i}", "sent": time.time()}, datetime.now(UTC))

    try:
        return asyncio.run(fan_out(api.url, ADMIN, streams, rounds, publish))
    finally:
        api.stop()
        engine.dispose()


def in_process(tmp: Path, streams: int, rounds: int) -> list[float]:
    (tmp / "one").mkdir()
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=in_process_server, args=(str(tmp / "one"), 1, child))
    proc.start()
    try:
        if not parent.poll(120):
            raise SystemExit("the in-process API did not start")
        url, token = parent.recv()
        return asyncio.run(fan_out(url, token, streams, rounds, parent.send))
    finally:
        parent.send("stop")
        proc.join(15)
        if proc.is_alive():
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{args.streams} SSE streams x {args.rounds} alerts, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    expected = args.streams * args.rounds
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        ms = [d * 1000 for d in split(tmp, args.streams, args.rounds)]
        print(summary("split: commit in another process -> client", ms, expected))
        ref = [d * 1000 for d in in_process(tmp, args.streams, args.rounds)]
        print(summary("reference: bus publish in the API -> client", ref, expected))
    print("goal: max < 1000 ms for the split processes")


if __name__ == "__main__":
    main()
