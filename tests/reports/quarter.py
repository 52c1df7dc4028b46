"""A simulated quarter (2026 Q3) and a little of the one before, written through the alert engine in event
time: findings open alerts and tickets, engineers acknowledge, check in and resolve with a cost, a pump's
low discharge pressure comes back three times and the engine raises a YELLOW rectification order, which is
then fixed. Telemetry for August (hours run, the pump's pressure before and after the fix) goes into a real
SQLite telemetry store; maintenance visits are recorded in the maintenance book, as the API records them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from alerts.engine.events import EventBus
from alerts.engine.maintenance import service_visits
from alerts.engine.maintenance_db import MaintenanceBook
from alerts.engine.policy import RECURRENCE_SUFFIX
from alerts.engine.ports import ActionRequest, TicketQuery
from alerts.engine.service import AlertService
from facwatch.config import SlaSettings, load_site
from facwatch.model import Finding, Level, Reading, Site, Ticket, TicketAction, ms_from_utc
from ingest.sqlite_store import SqliteStore
from tests.alerts.helpers import RecordingNotifier

TZ = ZoneInfo("Asia/Shanghai")
SITE = "lakeside"
PUMP = "b1-pump-1"
LOW = "pump.discharge_pressure_bar.low"


def local(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


@dataclass(frozen=True)
class Incident:
    at: datetime
    asset: str
    kind: str
    level: Level
    ack_s: float
    on_site_s: float | None
    fix_s: float
    cost: float | None


INCIDENTS = (
    # the previous quarter (Q2)
    Incident(local(5, 10, 9), "b1-elev-1", "elevator.door_fault", Level.ORANGE, 120, 900, 3 * 3600, 300.0),
    Incident(local(6, 2, 14), "b2-pump-1", "pump.low_flow", Level.ORANGE, 200, 1500, 5 * 3600, 800.0),
    # this quarter (Q3)
    Incident(local(7, 3, 8), "b1-elev-1", "elevator.door_fault", Level.ORANGE, 60, 600, 2 * 3600, 200.0),
    Incident(local(7, 20, 16), "b2-panel", "power.voltage_sag", Level.YELLOW, 1800, None, 20 * 3600, None),
    Incident(local(8, 1, 9), PUMP, LOW, Level.ORANGE, 90, 1200, 4 * 3600, 100.0),
    Incident(local(8, 8, 9), PUMP, LOW, Level.ORANGE, 150, 1300, 6 * 3600, 100.0),
    Incident(local(8, 15, 9), PUMP, LOW, Level.ORANGE, 100, 1100, 3 * 3600, 100.0),
    Incident(local(9, 10, 7), "b2-elev-1", "elevator.entrapment", Level.RED, 30, 150, 3600, 0.0),
)
RECTIFIED_AT = local(8, 16, 10)
RECTIFICATION_COST = 1500.0
AUGUST = (local(8, 1, 0), local(9, 1, 0))
HOURS_PER_DAY = 16  # the b1 machines run 06:00-22:00 local time


VISITS = (
    ("b1-elev-1", local(8, 5), "maintenance", "Otis 王工", "lubricated the guide rails"),
    ("b1-elev-2", local(8, 6), "maintenance", "Otis 王工", "door operator adjusted"),
    ("b1-elev-1", local(8, 20), "maintenance", "Otis 王工", "brake checked"),
    ("b1-elev-1", local(8, 25), "inspection", "市特检院", "annual inspection passed"),
    ("b2-elev-1", local(8, 7), "maintenance", "Otis 李工", "routine"),
)
"""Recorded through the maintenance book, as ``POST /api/v1/maintenance/visits`` does."""
visits_of = service_visits
"""The reports' visit source: the maintenance visits recorded in the state database (their default)."""


@dataclass
class Quarter:
    engine: Engine
    site: Site
    service: AlertService
    store: SqliteStore
    sla: SlaSettings
    data_dir: Path
    """Where the telemetry store is (and, on SQLite, the state database): a ``--data-dir``."""
    tickets: dict[str, Ticket] = field(default_factory=dict)
    """Every ticket, by id, as the engine answers it after the quarter."""

    @property
    def rectification(self) -> Ticket:
        return next(t for t in self.tickets.values() if t.kind.endswith(RECURRENCE_SUFFIX))


def _finding(i: Incident, at: datetime, active: bool) -> Finding:
    return Finding(SITE, i.asset, i.kind, ms_from_utc(at), active, i.level, f"{i.kind} on {i.asset}")


def play(engine: Engine, store_path: Path) -> Quarter:
    site = load_site("demo", variables={"data_dir": str(store_path.parent)})
    sla = SlaSettings()
    service = AlertService(engine, site, sla, EventBus(), RecordingNotifier(site, [], words=False))
    for i in INCIDENTS:
        service.observe_findings([_finding(i, i.at, True)])
        page = service.list_tickets(TicketQuery(asset=i.asset, limit=10)).items
        ticket = next(t for t in page if t.kind == i.kind)
        actor = "eng-wang"
        service.act(
            ticket.id, ActionRequest(TicketAction.ACKNOWLEDGE, actor), i.at + timedelta(seconds=i.ack_s)
        )
        if i.on_site_s is not None:
            asset = site.asset(i.asset)
            assert asset is not None
            request = ActionRequest(TicketAction.CHECK_IN, actor, checkin_code=asset.checkin_code)
            service.act(ticket.id, request, i.at + timedelta(seconds=i.on_site_s))
        fixed = i.at + timedelta(seconds=i.fix_s)
        service.observe_findings([_finding(i, fixed - timedelta(seconds=120), False)])
        service.tick(fixed - timedelta(seconds=30))
        done = ActionRequest(TicketAction.RESOLVE, actor, note="fixed", cost=i.cost)
        service.act(ticket.id, done, fixed)
    rectification = next(
        t
        for t in service.list_tickets(TicketQuery(asset=PUMP, limit=20)).items
        if t.kind.endswith(RECURRENCE_SUFFIX)
    )
    service.act(rectification.id, ActionRequest(TicketAction.ACKNOWLEDGE, "sup-li"), local(8, 15, 11))
    note = "found a worn impeller and a leaking check valve; replaced both"
    service.act(rectification.id, ActionRequest(TicketAction.COMMENT, "eng-chen", note=note), local(8, 16, 8))
    fix = ActionRequest(
        TicketAction.RESOLVE, "eng-chen", note="pressure back to rated", cost=RECTIFICATION_COST
    )
    service.act(rectification.id, fix, RECTIFIED_AT)

    book = MaintenanceBook(engine, site)
    for asset, at, kind, who, what in VISITS:
        book.add_visit(
            asset=asset,
            who=who,
            company=None,
            at=at,
            what=what,
            photos=[],
            actor="eng-wang",
            now=at,
            kind=kind,
        )

    store = SqliteStore(store_path)
    store.write(_telemetry())
    quarter = Quarter(engine, site, service, store, sla, store_path.parent)
    for t in service.list_tickets(TicketQuery(limit=100)).items:
        quarter.tickets[t.id] = t
    return quarter


def _telemetry() -> list[Reading]:
    out: list[Reading] = []
    start, end = AUGUST
    at = start
    while at < end:
        hour = at.astimezone(TZ).hour
        running = 1.0 if 6 <= hour < 6 + HOURS_PER_DAY else 0.0
        for asset in ("b1-elev-1", "b1-elev-2", PUMP):
            out.append(Reading(SITE, asset, "running", ms_from_utc(at), running))
        at += timedelta(minutes=15)
    at = local(7, 28, 0)
    while at < local(8, 24, 0):
        pressure = 3.4 if at < RECTIFIED_AT else 6.1
        out.append(Reading(SITE, PUMP, "discharge_pressure_bar", ms_from_utc(at), pressure))
        at += timedelta(hours=1)
    return out
