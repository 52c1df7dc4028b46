"""The maintenance tables (migration 0013) and the book that writes and reads them.

``maintenance_windows``: planned windows entered through the API (the site file's own windows live in
``Site.maintenance.windows`` and are never copied here); a deleted window keeps its row (``deleted_at``).
``maintenance_visits``: each recorded visit: who, which company, when, what was done, photo references.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from alerts.engine.db import new_pk, parse_ref, utc, utc_now
from alerts.engine.errors import NotFound
from facwatch.model import MaintenanceWindow, Site

metadata = MetaData()
TS = DateTime(timezone=True)
MAX_WINDOW = timedelta(days=31)
HORIZON = timedelta(days=366)
"""The API's windows are planned work: at most a month long, starting within a year of now."""

maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("asset", String(64), nullable=False),
    Column("start_at", TS, nullable=False),
    Column("end_at", TS, nullable=False),
    Column("company", String(64), nullable=True),
    Column("what", Text, nullable=False, server_default=""),
    Column("created_by", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("deleted_at", TS, nullable=True),
)

maintenance_visits = Table(
    "maintenance_visits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("asset", String(64), nullable=False),
    Column("building", String(64), nullable=False),
    Column("company", String(64), nullable=True),
    Column("who", String(200), nullable=False),
    Column("at", TS, nullable=False),
    Column("what", Text, nullable=False),
    Column("photos", Text, nullable=False, server_default="[]"),
    Column("created_by", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("kind", String(20), nullable=False, server_default="maintenance"),
)
VISIT_KINDS = ("maintenance", "inspection")


@dataclass(frozen=True, slots=True)
class Visit:
    """A recorded maintenance visit (``V-000001``): it closes its asset's plan clock."""

    ref: str
    site: str
    asset: str
    building: str
    company: str | None
    who: str
    at: datetime
    what: str
    photos: tuple[str, ...] = ()
    kind: str = "maintenance"
    """``maintenance`` (a visit of the plan) or ``inspection`` (the yearly inspection, 检验)."""


def window_ref(pk: int) -> str:
    return f"W-{pk:06d}"


def visit_ref(pk: int) -> str:
    return f"V-{pk:06d}"


def _window(row: Any) -> MaintenanceWindow:
    start, end = utc(row.start_at), utc(row.end_at)
    assert start is not None and end is not None
    return MaintenanceWindow(window_ref(row.id), row.asset, start, end, row.company, row.what)


def _visit(row: Any) -> Visit:
    at = utc(row.at)
    assert at is not None
    photos = tuple(str(p) for p in json.loads(row.photos or "[]"))
    return Visit(
        visit_ref(row.id),
        row.site,
        row.asset,
        row.building,
        row.company,
        row.who,
        at,
        row.what,
        photos,
        row.kind,
    )


def stored_windows(
    conn: Connection,
    site: str,
    *,
    asset: str | None = None,
    at: datetime | None = None,
    ending_after: datetime | None = None,
) -> list[MaintenanceWindow]:
    """The API's windows of ``site`` that are not deleted (of ``asset``; covering ``at``; ending after
    ``ending_after``), by start."""
    w = maintenance_windows
    q = select(w).where(w.c.site == site, w.c.deleted_at.is_(None))
    if ending_after is not None:
        q = q.where(w.c.end_at > ending_after)
    if asset is not None:
        q = q.where(w.c.asset == asset)
    if at is not None:
        q = q.where(w.c.start_at <= at, w.c.end_at > at)
    return [_window(r) for r in conn.execute(q.order_by(w.c.start_at, w.c.id))]


def windows_by_ref(
    conn: Connection, site: str, refs: Sequence[str]
) -> dict[str, tuple[MaintenanceWindow, datetime | None]]:
    """The API's windows named in ``refs``, cancelled ones included: each with when it was cancelled."""
    pks = [pk for ref in refs if (pk := parse_ref(ref, "W")) is not None]
    if not pks:
        return {}
    w = maintenance_windows
    rows = conn.execute(select(w).where(w.c.site == site, w.c.id.in_(pks)))
    return {window_ref(r.id): (_window(r), utc(r.deleted_at)) for r in rows}


def stored_visits(
    conn: Connection,
    site: str,
    since: datetime,
    until: datetime,
    building: str | None = None,
    asset: str | None = None,
) -> list[Visit]:
    v = maintenance_visits
    q = select(v).where(v.c.site == site, v.c.at >= utc_now(since), v.c.at < utc_now(until))
    if building is not None:
        q = q.where(v.c.building == building)
    if asset is not None:
        q = q.where(v.c.asset == asset)
    return [_visit(r) for r in conn.execute(q.order_by(v.c.at, v.c.id))]


def last_visits(conn: Connection, site: str) -> dict[str, datetime]:
    """The newest recorded visit per asset of ``site``."""
    v = maintenance_visits
    rows = conn.execute(select(v.c.asset, func.max(v.c.at)).where(v.c.site == site).group_by(v.c.asset))
    return {str(asset): at for asset, when in rows if (at := utc(when)) is not None}


class MaintenanceBook:
    """Windows and visits of one site, written and read through the API (each call one transaction)."""

    def __init__(self, engine: Engine, site: Site) -> None:
        self.engine = engine
        self.site = site

    def _check(self, asset: str, company: str | None) -> str:
        found = self.site.asset(asset)
        if found is None:
            raise ValueError(f"unknown asset {asset!r}")
        if company is not None and self.site.maintenance.company(company) is None:
            raise ValueError(f"unknown company {company!r}")
        return found.building

    def add_window(self, window: MaintenanceWindow, actor: str, now: datetime) -> MaintenanceWindow:
        self._check(window.asset, window.company)
        if window.end <= window.start:
            raise ValueError("a window must end after it starts")
        if window.end - window.start > MAX_WINDOW:
            raise ValueError(f"a window lasts at most {MAX_WINDOW.days} days")
        if abs(utc_now(window.start) - utc_now(now)) > HORIZON:
            raise ValueError(f"a window starts within {HORIZON.days} days of now")
        with self.engine.begin() as conn:
            pk = new_pk(
                conn.execute(
                    insert(maintenance_windows).values(
                        site=self.site.id,
                        asset=window.asset,
                        start_at=utc_now(window.start),
                        end_at=utc_now(window.end),
                        company=window.company,
                        what=window.what,
                        created_by=actor,
                        created_at=utc_now(now),
                    )
                )
            )
            return _window(
                conn.execute(select(maintenance_windows).where(maintenance_windows.c.id == pk)).one()
            )

    def windows(self, asset: str | None = None) -> list[MaintenanceWindow]:
        """The site file's windows and the API's, by start."""
        with self.engine.connect() as conn:
            stored = stored_windows(conn, self.site.id, asset=asset)
        own = [w for w in self.site.maintenance.windows if asset is None or w.asset == asset]
        return sorted([*own, *stored], key=lambda w: (w.start, w.ref))

    def delete_window(self, ref: str, now: datetime) -> None:
        pk = parse_ref(ref, "W")
        if pk is None:
            raise NotFound(f"no window {ref} (the site file's windows are changed in the site file)")
        w = maintenance_windows
        with self.engine.begin() as conn:
            done = conn.execute(
                update(w)
                .where(w.c.id == pk, w.c.site == self.site.id, w.c.deleted_at.is_(None))
                .values(deleted_at=utc_now(now))
            )
            if done.rowcount == 0:
                raise NotFound(f"no window {ref}")

    def move_window(self, ref: str, start: datetime, end: datetime, now: datetime) -> MaintenanceWindow:
        """Move one of the API's windows (owners told of it hear of the move: ``MaintenanceClock``)."""
        pk = parse_ref(ref, "W")
        if pk is None:
            raise NotFound(f"no window {ref} (the site file's windows are changed in the site file)")
        if end <= start:
            raise ValueError("a window must end after it starts")
        if end - start > MAX_WINDOW:
            raise ValueError(f"a window lasts at most {MAX_WINDOW.days} days")
        if abs(utc_now(start) - utc_now(now)) > HORIZON:
            raise ValueError(f"a window starts within {HORIZON.days} days of now")
        w = maintenance_windows
        with self.engine.begin() as conn:
            done = conn.execute(
                update(w)
                .where(w.c.id == pk, w.c.site == self.site.id, w.c.deleted_at.is_(None))
                .values(start_at=utc_now(start), end_at=utc_now(end))
            )
            if done.rowcount == 0:
                raise NotFound(f"no window {ref}")
            return _window(conn.execute(select(w).where(w.c.id == pk)).one())

    def add_visit(
        self,
        *,
        asset: str,
        who: str,
        company: str | None,
        at: datetime,
        what: str,
        photos: Sequence[str],
        actor: str,
        now: datetime,
        kind: str = "maintenance",
    ) -> Visit:
        building = self._check(asset, company)
        if kind not in VISIT_KINDS:
            raise ValueError(f"a visit's kind is one of {', '.join(VISIT_KINDS)}, got {kind!r}")
        if utc_now(at) > utc_now(now) + timedelta(minutes=10):
            raise ValueError("a visit is recorded once it has happened (its time is in the future)")
        with self.engine.begin() as conn:
            pk = new_pk(
                conn.execute(
                    insert(maintenance_visits).values(
                        site=self.site.id,
                        asset=asset,
                        building=building,
                        company=company,
                        who=who,
                        at=utc_now(at),
                        what=what,
                        photos=json.dumps(list(photos), ensure_ascii=False),
                        created_by=actor,
                        created_at=utc_now(now),
                        kind=kind,
                    )
                )
            )
            return _visit(conn.execute(select(maintenance_visits).where(maintenance_visits.c.id == pk)).one())

    def visits(self, since: datetime, until: datetime, asset: str | None = None) -> list[Visit]:
        with self.engine.connect() as conn:
            return stored_visits(conn, self.site.id, since, until, asset=asset)
