"""How long one compound-quarter's publication takes to render, beside reading the same tickets alone.

    .venv/bin/python -m bench.report_render [--tickets 1500] [--repeat 3] [--state-url URL]

A quarter of the demo compound with ``--tickets`` tickets (and as many in the quarter before, for the
comparison) is written straight into a fresh state database (SQLite by default). Figures, each the median
of ``--repeat`` runs:
1. reading the two quarters' tickets alone (``report_reads.read_repairs``): the peer figure;
2. the quarterly figures (the tickets, the SLA figures of both quarters);
3. the whole report in one language: figures, page with its PNG charts, and the PDF (what the API's page
   and ``facwatch report`` do), in Chinese (CJK font) and in English.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, insert

from alerts.engine.db import tickets
from alerts.engine.periods import parse_period, previous
from alerts.engine.report_figures import QuarterlyFigures
from alerts.engine.report_reads import read_quarterly, read_repairs
from alerts.notify.reports import documents
from alerts.notify.reports.charts import cjk_family
from facwatch.config import SlaSettings, load_site
from facwatch.model import Level, Site
from facwatch.state import migrate, open_engine

QUARTER = "2026-Q3"
LEVELS = (Level.RED, Level.ORANGE, Level.ORANGE, Level.YELLOW, Level.YELLOW, Level.BLUE)


def fill(engine: Engine, site: Site, count: int, seed: int = 7) -> None:
    """``count`` tickets in the quarter and as many in the one before: answered, reached, fixed, costed."""
    rng = random.Random(seed)
    period = parse_period(QUARTER, site.timezone)
    rows = []
    for span in (period, previous(period, site.timezone)):
        seconds = (span.end - span.start).total_seconds()
        for _ in range(count):
            asset = rng.choice(site.assets)
            created = span.start + timedelta(seconds=rng.uniform(0, seconds - 86400))
            ack = created + timedelta(seconds=rng.uniform(20, 3600))
            fixed = ack + timedelta(seconds=rng.uniform(600, 40 * 3600))
            rows.append(
                {
                    "site": site.id, "asset": asset.id, "building": asset.building,
                    "kind": f"{asset.kind.value}.fault", "level": rng.choice(LEVELS).value, "state": "closed",
                    "title": f"{asset.name}: fault", "created_at": created, "updated_at": fixed,
                    "acknowledged_at": ack, "on_site_at": ack + timedelta(seconds=rng.uniform(60, 1800)),
                    "resolved_at": fixed, "closed_at": fixed, "escalation_step": 0,
                    "cost": round(rng.uniform(0, 3000), 2) if rng.random() < 0.7 else None,
                }
            )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(tickets), rows)


def median_s(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1500, help="tickets per quarter (default 1500)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--state-url", default=None, help="an empty database (default: SQLite in a temp dir)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fw-report-bench-"))
    engine = open_engine(args.state_url or f"sqlite:///{tmp / 'state.db'}")
    migrate(engine)
    site = load_site("demo", variables={"data_dir": str(tmp)})
    fill(engine, site, args.tickets)
    period = parse_period(QUARTER, site.timezone)
    before = previous(period, site.timezone)
    sla = SlaSettings()

    def read_alone() -> None:
        with engine.connect() as conn:
            read_repairs(conn, site, period.start, period.end)
            read_repairs(conn, site, before.start, before.end)

    def figures() -> QuarterlyFigures:
        with engine.connect() as conn:
            return read_quarterly(conn, site, period, sla)

    def whole(lang: str) -> Callable[[], object]:
        def run() -> object:
            found = figures()
            doc = documents.document(found, site, lang)
            images = documents.chart_images(found, site, lang)
            documents.html_page(doc, images, site)
            return documents.pdf(found, site, lang)

        return run

    whole("en")()  # warm: fonts found, matplotlib's caches filled
    print(
        f"one compound-quarter: {args.tickets} tickets (+{args.tickets} in the quarter before), {engine.dialect.name}"
    )
    print(f"  read the tickets alone (peer)     {median_s(read_alone, args.repeat) * 1000:8.1f} ms")
    print(f"  quarterly figures                 {median_s(figures, args.repeat) * 1000:8.1f} ms")
    print(
        f"  whole report, zh ({cjk_family() or 'no CJK font'})  {median_s(whole('zh'), args.repeat) * 1000:8.1f} ms"
    )
    print(f"  whole report, en                  {median_s(whole('en'), args.repeat) * 1000:8.1f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
