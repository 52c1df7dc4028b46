"""What the maintenance clock and the window check cost the engine (SQLite state database, event time).

- a clock tick with a plan on every asset of the demo site (each tick past a minute judges every plan) against
  the same tick with no plans (the reference, same run);
- opening an alert with windows in the database (each open looks up the asset's windows) against none.

Run: ``PYTHONPATH=. .venv/bin/python -m bench.maintenance_tick [--ticks N] [--windows N]``
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.engine.events import EventBus
from alerts.engine.maintenance_db import MaintenanceBook
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from facwatch.config import SlaSettings, load_site
from facwatch.model import Finding, Level, Maintenance, MaintenancePlan, MaintenanceWindow, Site, ms_from_utc
from facwatch.state import migrate, open_engine

T0 = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def _service(folder: Path, site: Site) -> AlertService:
    engine = open_engine(f"sqlite:///{folder / 'state.db'}")
    migrate(engine)
    return AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site))


def ticks(site: Site, n: int) -> float:
    """Milliseconds per tick, a minute of event time apart (every tick runs the maintenance clock)."""
    with tempfile.TemporaryDirectory() as tmp:
        service = _service(Path(tmp), site)
        service.tick(T0)
        began = time.perf_counter()
        for i in range(1, n + 1):
            service.tick(T0 + timedelta(minutes=i))
        return (time.perf_counter() - began) * 1000 / n


def opens(site: Site, windows: int, n: int) -> float:
    """Milliseconds per alert opened (and resolved-free: each on its own kind), ``windows`` in the database."""
    with tempfile.TemporaryDirectory() as tmp:
        service = _service(Path(tmp), site)
        book = MaintenanceBook(service.engine, site)
        for i in range(windows):
            start = T0 + timedelta(days=1 + i % 300)
            book.add_window(
                MaintenanceWindow(
                    "", site.assets[i % len(site.assets)].id, start, start + timedelta(hours=2)
                ),
                "bench",
                T0,
            )
        began = time.perf_counter()
        for i in range(n):
            at = T0 + timedelta(seconds=i)
            f = Finding(
                site.id,
                site.assets[i % len(site.assets)].id,
                f"bench.k{i}",
                ms_from_utc(at),
                True,
                Level.BLUE,
                "bench",
            )
            service.observe_findings([f], at)
        return (time.perf_counter() - began) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--opens", type=int, default=200)
    parser.add_argument("--windows", type=int, default=1000)
    args = parser.parse_args()
    site = load_site("demo", variables={"data_dir": "/nonexistent"})
    plans = tuple(MaintenancePlan(a.id, 15.0, last_visit=T0) for a in site.assets)
    planned = dataclasses.replace(site, maintenance=Maintenance(plans=plans))
    print(
        f"tick, {len(plans)} plans:      {ticks(planned, args.ticks):7.2f} ms   (no plans: {ticks(site, args.ticks):.2f} ms)"
    )
    print(
        f"alert open, {args.windows} windows: {opens(site, args.windows, args.opens):7.2f} ms   (no windows: {opens(site, 0, args.opens):.2f} ms)"
    )


if __name__ == "__main__":
    main()
