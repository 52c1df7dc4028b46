"""A scripted month of one compound in event time, on a real state database (SQLite and PostgreSQL) and
a real HTTP receiver behind apprise: a maintenance window on an elevator, a missed visit, an expiring
inspection certificate, and what the owners and the engineers are told about each."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from alerts.engine.events import EventBus
from alerts.engine.maintenance import CERTIFICATE, OVERDUE
from alerts.engine.maintenance_db import MaintenanceBook
from alerts.engine.ports import ActionRequest, AlertQuery
from alerts.engine.service import AlertService
from alerts.notify.outbox import Dispatcher, OutboxNotifier
from facwatch.config import SlaSettings
from facwatch.model import (
    Alert,
    Finding,
    Level,
    Maintenance,
    MaintenancePlan,
    MaintenanceWindow,
    Site,
    TicketAction,
    ms_from_utc,
)
from tests.alerts.helpers import DATABASES, MOVING, STUCK, T0, demo_site, frame, state_engine
from tests.fixtures.receivers import HttpReceiver

ELEVATOR, OTHER = "b1-elev-1", "b1-elev-2"
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
START = T0 + 3 * DAY  # 2025-03-04 16:00 in Shanghai
WINDOW = MaintenanceWindow("", ELEVATOR, START, START + 2 * HOUR, None, "半月保养 half-monthly maintenance")


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def compound(receiver: HttpReceiver) -> Site:
    site = demo_site(receiver)
    plans = (
        MaintenancePlan(ELEVATOR, 15.0, last_visit=T0 - 10 * DAY),  # due on day 5
        MaintenancePlan(
            OTHER, 45.0, certificate="TSX-0113", certificate_expires=T0 + 40 * DAY, last_visit=T0
        ),
    )
    return dataclasses.replace(site, maintenance=Maintenance(plans=plans))


class Month:
    def __init__(self, engine: Engine, site: Site, receiver: HttpReceiver) -> None:
        self.engine, self.site, self.receiver = engine, site, receiver
        sla = SlaSettings(escalation_repeat_s=30 * 86400)  # one reminder, not one an hour
        self.service = AlertService(engine, site, sla, EventBus(), OutboxNotifier(site))
        self.dispatcher = Dispatcher(engine, site=site)
        self.book = MaintenanceBook(engine, site)

    def step(self, at: datetime) -> None:
        self.service.tick(at)
        self.dispatcher.deliver_pending(at, wait_s=5)

    def finding(self, at: datetime, kind: str, level: Level, **detail: float) -> None:
        f = Finding(self.site.id, ELEVATOR, kind, ms_from_utc(at), True, level, f"{kind} test", detail=detail)
        self.service.observe_findings([f], at)

    def trapped(self, at: datetime) -> None:
        ms = ms_from_utc(at)
        for i in range(3):
            self.service.observe(frame(MOVING, ms + i * 1000), at + timedelta(seconds=i))
        for i in range(3, 10):
            self.service.observe(frame(STUCK, ms + i * 1000), at + timedelta(seconds=i))

    def alerts(self, kind: str, asset: str = ELEVATOR) -> list[Alert]:
        return [
            a for a in self.service.list_alerts(AlertQuery(asset=asset, limit=500)).items if a.kind == kind
        ]

    def told(self, path: str, words: str) -> list[Any]:
        with self.receiver.lock:
            posts = list(zip(self.receiver.paths, self.receiver.received, strict=True))
        return [
            body for p, body in posts if p.endswith(path) and words in f"{body['title']} {body['message']}"
        ]

    def wait_told(self, path: str, words: str) -> list[Any]:
        from tests.fixtures.waiting import wait_until

        wait_until(lambda: self.told(path, words), 10, f"{path} told {words!r}")
        return self.told(path, words)

    def act(self, alert: Alert, action: TicketAction, at: datetime, **kw: Any) -> None:
        assert alert.ticket_id is not None
        self.service.act(alert.ticket_id, ActionRequest(action=action, actor="eng-wang", **kw), at)


TICK = 6 * HOUR


def run(month: Month, until: datetime, script: dict[datetime, Callable[[], None]]) -> None:
    """Clock ticks every ``TICK`` from T0 to ``until``, with the script's steps at their own times."""
    times = sorted({*(T0 + k * TICK for k in range(int((until - T0) / TICK) + 1)), *script})
    for at in times:
        if at in script:
            script[at]()
        month.step(at)


def test_a_month_of_maintenance(engine: Engine, http_receiver: HttpReceiver) -> None:
    month = Month(engine, compound(http_receiver), http_receiver)
    planned = month.book.add_window(WINDOW, "eng-wang", T0)
    assert planned.ref == "W-000001"
    run(
        month,
        T0 + 30 * DAY,
        {
            START + 30 * MINUTE: lambda: month.finding(
                START + 30 * MINUTE, "elevator.door_fault", Level.ORANGE
            ),
            START + 40 * MINUTE: lambda: month.finding(
                START + 40 * MINUTE, "elevator.stopped_outside_door_zone", Level.ORANGE, inspection_mode=1.0
            ),
            START + 50 * MINUTE: lambda: month.trapped(START + 50 * MINUTE),
            T0 + 12 * DAY: lambda: month.book.add_visit(
                asset=ELEVATOR, who="李师傅 Li", company=None, at=T0 + 12 * DAY, what="半月保养",
                photos=["https://photos.example/1.jpg"], actor="eng-wang", now=T0 + 12 * DAY,
            ),
            T0 + 26 * DAY: lambda: month.book.add_visit(
                asset=ELEVATOR, who="李师傅 Li", company=None, at=T0 + 26 * DAY, what="半月保养",
                photos=[], actor="eng-wang", now=T0 + 26 * DAY,
            ),
        },
    )  # fmt: skip

    # The owners of building 1 were told the day before, and when it was over (Chinese, the group's language).
    (before,) = month.wait_told("owners-b1", "计划维保")
    assert "03月04日 16:00" in before["message"] and "18:00" in before["message"]
    (after,) = month.wait_told("owners-b1", "维保已完成")
    assert "半月保养" in after["message"]

    # During the window: the door fault is recorded "during maintenance", without a ticket, and nobody heard.
    (door,) = month.alerts("elevator.door_fault")
    assert door.suppressed_by is not None and door.suppressed_by.startswith("during maintenance W-000001")
    assert door.ticket_id is None
    # The car on inspection during the window is the technician's doing: no alert at all.
    assert month.alerts("elevator.stopped_outside_door_zone") == []
    # The RED entrapment during the window is notified as always, with the window on its timeline.
    (red,) = month.alerts("elevator.entrapment")
    assert red.level is Level.RED and red.suppressed_by is None and red.ticket_id is not None
    ticket = month.service.get_ticket(red.ticket_id)
    noted = [e for e in ticket.timeline if e.action == "during_maintenance"]
    assert noted and "W-000001" in noted[0].note
    assert month.wait_told("engineer", "困人")
    assert month.told("engineer", "门故障") == []  # sent in order: the RED after it arrived, this never did

    # The missed visit: a YELLOW on day 5, closed by the visit of day 12; due again on day 27, closed on day 26.
    (overdue,) = month.alerts(OVERDUE)
    assert overdue.level is Level.YELLOW
    assert overdue.opened_at == T0 + 5 * DAY
    assert overdue.state.value == "resolved" and overdue.resolved_at is not None
    assert T0 + 12 * DAY < overdue.resolved_at <= T0 + 12 * DAY + TICK
    # The certificate expiring within 30 days: a YELLOW on day 10 that stays open.
    (cert,) = month.alerts(CERTIFICATE, OTHER)
    assert cert.level is Level.YELLOW and cert.opened_at == T0 + 10 * DAY and cert.state.value == "firing"
    assert "TSX-0113" in cert.summary
    assert month.wait_told("engineer", "检验合格证即将到期")
    month.dispatcher.close()
