"""How long the monthly list's trip count takes: an elevator's ``running`` flag at 1 Hz for ``--days`` days
in a SQLite telemetry store, counted by ``report_reads.trips`` (the flag's maximum per 5 s, a day at a time), beside the hours
run (``hours_run``: hourly means, the store aggregates) over the same points.

    .venv/bin/python -m bench.report_trips [--days 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.engine.report_reads import hours_run, trips
from facwatch.model import Reading, ms_from_utc
from ingest.sqlite_store import SqliteStore

START = datetime(2026, 8, 1, tzinfo=UTC)
TRIP_S, DWELL_S = 20, 40
"""A trip every minute: 20 s running, 40 s at a landing."""


def fill(store: SqliteStore, days: int) -> int:
    start_ms = ms_from_utc(START)
    for day in range(days):
        batch = [
            Reading("demo", "b1-elev-1", "running", start_ms + (day * 86400 + s) * 1000,
                    1.0 if s % (TRIP_S + DWELL_S) < TRIP_S else 0.0)
            for s in range(86400)
        ]  # fmt: skip
        store.write(batch)
    return days * 86400 // (TRIP_S + DWELL_S) - 1  # the first was under way when the month began


def median_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "telemetry.db")
        expected = fill(store, args.days)
        until = START + timedelta(days=args.days)
        counted = trips(store, "demo", "b1-elev-1", START, until)
        assert counted == expected, (counted, expected)
        t = median_ms(lambda: trips(store, "demo", "b1-elev-1", START, until), args.repeat)
        h = median_ms(lambda: hours_run(store, "demo", "b1-elev-1", START, until), args.repeat)
        store.close()
    print(f"{args.days} days at 1 Hz ({args.days * 86400:,} points), {expected:,} trips")
    print(f"trips (max per 5 s, a day at a time): {t:,.1f} ms")
    print(f"hours run (hourly means), the peer:  {h:,.1f} ms")


if __name__ == "__main__":
    main()
