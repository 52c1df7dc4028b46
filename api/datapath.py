"""The data path's figures, shared between processes through the state database.

The process that runs the gateway ``report``s its figures every few seconds (one row per site, replaced);
any API process answers ``GET /api/v1/health/datapath`` from that row, with its age. An API process on its
own therefore shows the gateway's real figures, or says plainly that it has none (``reported_at: null``)
or that they are old (``stale: true``): never zeros that look healthy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from prometheus_client import REGISTRY
from sqlalchemy import Column, DateTime, Engine, String, Table, Text, delete, insert, select

from api.db import metadata

STALE_S = 30.0
"""Figures older than this are marked stale (the gateway's process is gone or cannot write)."""

datapath_reports = Table(
    "datapath_reports",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("reported_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Figures:
    readings_total: float
    readings_per_s: float | None
    dead_letters: float
    spool_readings: float
    queue_depth: float


def _sum(name: str, site: str | None = None) -> float:
    """The sum of every sample of one metric of this process (all label sets; with ``site``, those of that
    site and those without a site label); 0 when it has none."""
    total = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and (site is None or sample.labels.get("site", site) == site):
                total += sample.value
    return total


def measure(previous: tuple[datetime, float] | None, now: datetime, site: str | None = None) -> Figures:
    """This process's figures (of one site's gateway, or of all); the readings rate since ``previous`` (time,
    readings total)."""
    stored = _sum("facwatch_gateway_readings_stored_total", site)
    rate = None
    if previous is not None and now > previous[0]:
        rate = max(0.0, (stored - previous[1]) / (now - previous[0]).total_seconds())
    return Figures(
        readings_total=stored,
        readings_per_s=rate,
        dead_letters=_sum("facwatch_gateway_dead_letters_total", site),
        spool_readings=_sum("facwatch_spool_readings", site),
        queue_depth=_sum("facwatch_gateway_queue_depth", site),
    )


def report(engine: Engine, site: str, figures: Figures, now: datetime) -> None:
    body = orjson.dumps(figures).decode()
    with engine.begin() as conn:
        conn.execute(delete(datapath_reports).where(datapath_reports.c.site == site))
        conn.execute(insert(datapath_reports).values(site=site, reported_at=now, body=body))


def latest(engine: Engine, site: str, now: datetime) -> dict[str, Any]:
    """What the health route answers: the figures, when they were reported, and whether that is too long ago."""
    with engine.connect() as conn:
        row = conn.execute(select(datapath_reports).where(datapath_reports.c.site == site)).first()
    if row is None:
        return {"site": site, "reported_at": None, "age_s": None, "stale": True, "figures": None}
    reported_at: datetime = row.reported_at
    if reported_at.tzinfo is None:
        reported_at = reported_at.replace(tzinfo=now.tzinfo)
    age = max(0.0, (now - reported_at).total_seconds())
    return {
        "site": site,
        "reported_at": reported_at,
        "age_s": round(age, 1),
        "stale": age > STALE_S,
        "figures": orjson.loads(row.body),
    }
