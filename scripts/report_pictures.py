#!/usr/bin/env python3
"""Draws the pictures of docs/reports.md from the tests' simulated quarter (tests/reports/quarter.py).

    PYTHONPATH=. .venv/bin/python scripts/report_pictures.py --out docs/img

Writes ``report-<kind>-page.png`` (the PDF's first page, through poppler's ``pdftoppm``) and
``report-<kind>-<chart>.png`` (the charts as the page shows them).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from alerts.notify.reports.service import Reports
from facwatch.state import migrate, open_engine
from tests.reports.quarter import local, play, visits_of

SHOWN = (
    ("monthly", "b1", "2026-08", "zh"),
    ("repair", "b1", None, "en"),
    ("quarterly", "b1", "2026-Q3", "zh"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fw-report-pictures-"))
    engine = open_engine(f"sqlite:///{tmp / 'state.db'}")
    migrate(engine)
    quarter = play(engine, tmp / "telemetry.db")
    reports = Reports(engine, quarter.site, sla=quarter.sla, telemetry=quarter.store, visits=visits_of)
    for kind, building, period, lang in SHOWN:
        subject = period or quarter.rectification.id
        written = reports.write(kind, building, subject, lang, tmp / kind, local(10, 5))
        for path in written:
            if path.suffix == ".png":
                chart = path.name.split(".")[-2]
                shutil.copy(path, args.out / f"report-{kind}-{chart}.png")
            if path.suffix == ".pdf":
                prefix = tmp / f"{kind}-page"
                subprocess.run(
                    ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(path), str(prefix)], check=True
                )
                page = next(tmp.glob(f"{kind}-page*.png"))
                shutil.copy(page, args.out / f"report-{kind}-page.png")
    quarter.store.close()
    engine.dispose()


if __name__ == "__main__":
    main()
