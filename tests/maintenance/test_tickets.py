"""Tickets and the people around them, on a real state database and a real HTTP receiver: arrival evidence on
an entrapment (code only; code plus the car's rescue movement, before or after the check-in) in the ticket and
the SLA report; a ticket dispatched to a maintenance company; a night YELLOW planned for 08:00 while a night
RED goes out at once."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from alerts.engine.db import notifications
from alerts.engine.events import EventBus
from alerts.engine.ports import ActionRequest, AlertQuery
from alerts.engine.service import AlertService
from alerts.notify.outbox import Dispatcher, OutboxNotifier
from facwatch.config import SlaSettings
from facwatch.model import (
    Alert,
    Company,
    Finding,
    Level,
    Maintenance,
    Person,
    Site,
    Ticket,
    TicketAction,
    ms_from_utc,
)
from tests.alerts.helpers import DATABASES, MOVING, STUCK, demo_site, frame, state_engine
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until

DAY_T = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NIGHT_T = datetime(2025, 3, 1, 18, 0, tzinfo=UTC)  # 02:00 in Shanghai
RESCUE = {**STUCK, "inspection_mode": 1, "speed_mps": 0.3, "running": 1}
"""The technician moves the car to a landing under inspection (rescue) control."""


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def compound(receiver: HttpReceiver) -> Site:
    contact = Person("sh-lift-duty", "值班 duty desk", "company", (f"{receiver.url}lift",), "zh")
    company = Company("sh-lift", "上海电梯维保 Shanghai Lift Service", (contact,))
    return dataclasses.replace(demo_site(receiver), maintenance=Maintenance(companies=(company,)))


class Desk:
    def __init__(self, engine: Engine, site: Site, receiver: HttpReceiver) -> None:
        self.site, self.engine, self.receiver = site, engine, receiver
        self.service = AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site))
        self.dispatcher = Dispatcher(engine, site=site)

    def feed(self, asset: str, values: dict[str, float], at: datetime, seconds: int) -> None:
        for i in range(seconds):
            when = at + timedelta(seconds=i)
            self.service.observe(frame(values, ms_from_utc(when), asset), when)

    def trapped(self, asset: str, at: datetime) -> Alert:
        self.feed(asset, MOVING, at, 3)
        self.feed(asset, STUCK, at + timedelta(seconds=3), 8)
        (alert,) = [
            a
            for a in self.service.list_alerts(AlertQuery(asset=asset)).items
            if a.kind == "elevator.entrapment"
        ]
        return alert

    def act(self, ticket: str | None, action: TicketAction, at: datetime, **kw: Any) -> Ticket:
        assert ticket is not None
        return self.service.act(ticket, ActionRequest(action=action, actor="eng-wang", **kw), at)

    def posts(self, path: str) -> list[Any]:
        with self.receiver.lock:
            return [
                b
                for p, b in zip(self.receiver.paths, self.receiver.received, strict=True)
                if p.endswith(path)
            ]


def test_arrival_evidence_in_the_ticket_and_the_sla_report(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    desk = Desk(engine, compound(http_receiver), http_receiver)
    code = {a.id: a.checkin_code for a in desk.site.assets}
    # 1. Code only: the engineer types the posted code, the car never moves under rescue control.
    one = desk.trapped("b1-elev-1", DAY_T)
    t1 = desk.act(
        one.ticket_id, TicketAction.CHECK_IN, DAY_T + timedelta(minutes=2), checkin_code=code["b1-elev-1"]
    )
    assert t1.arrival == "code"
    assert any("code only" in e.note for e in t1.timeline if e.action == "check_in")
    # 2. The car moved under rescue control, then the code: corroborated at once.
    two = desk.trapped("b2-elev-1", DAY_T)
    desk.feed("b2-elev-1", RESCUE, DAY_T + timedelta(minutes=2), 5)
    t2 = desk.act(
        two.ticket_id, TicketAction.CHECK_IN, DAY_T + timedelta(minutes=3), checkin_code=code["b2-elev-1"]
    )
    assert t2.arrival == "corroborated"
    assert any("moved under inspection or rescue control" in e.note for e in t2.timeline)
    # 3. The code first, then the car's rescue movement: corroborated when the sensors show it.
    three = desk.trapped("b2-elev-2", DAY_T)
    t3 = desk.act(
        three.ticket_id, TicketAction.CHECK_IN, DAY_T + timedelta(minutes=1), checkin_code=code["b2-elev-2"]
    )
    assert t3.arrival == "code"
    desk.feed("b2-elev-2", RESCUE, DAY_T + timedelta(minutes=4), 5)
    desk.service.tick(DAY_T + timedelta(minutes=5))
    t3 = desk.service.get_ticket(t3.id)
    assert t3.arrival == "corroborated"
    assert [e.action for e in t3.timeline][-1] == "arrival_corroborated"
    # The SLA report counts the on-site times with and without corroboration apart.
    (red,) = [
        r
        for r in desk.service.sla_report(site=None, since=DAY_T, until=DAY_T + timedelta(hours=1))
        if r.level is Level.RED and r.company is None
    ]
    assert (red.arrived, red.arrived_corroborated) == (3, 2)
    assert red.arrive_code_only_p50_s == pytest.approx(120 - 7, abs=2)  # onset + 4 s hold, check-in at 2 min
    assert red.arrive_corroborated_p50_s == pytest.approx(((60 - 7) + (180 - 7)) / 2, abs=2)
    desk.dispatcher.close()


def test_a_ticket_dispatched_to_the_maintenance_company(engine: Engine, http_receiver: HttpReceiver) -> None:
    desk = Desk(engine, compound(http_receiver), http_receiver)
    alert = desk.trapped("b1-elev-1", DAY_T)
    ticket = desk.act(
        alert.ticket_id, TicketAction.DISPATCH, DAY_T + timedelta(seconds=30), assignee="sh-lift"
    )
    assert (ticket.company, ticket.assignee) == ("sh-lift", "sh-lift")
    desk.dispatcher.deliver_pending(DAY_T + timedelta(minutes=1))
    wait_until(lambda: desk.posts("lift"), 10, "the company's duty desk told")
    (told,) = desk.posts("lift")
    assert ticket.id in told["title"] + told["message"]
    code = desk.site.asset("b1-elev-1")
    assert code is not None
    desk.act(ticket.id, TicketAction.CHECK_IN, DAY_T + timedelta(minutes=2), checkin_code=code.checkin_code)
    rows = desk.service.sla_report(site=None, since=DAY_T, until=DAY_T + timedelta(hours=1))
    (mine,) = [r for r in rows if r.company == "sh-lift"]
    assert (mine.level, mine.tickets, mine.arrived) == (Level.RED, 1, 1)
    desk.dispatcher.close()


def test_night_yellow_waits_for_day_hours_and_a_night_red_does_not(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    desk = Desk(engine, compound(http_receiver), http_receiver)
    wear = Finding(
        desk.site.id,
        "b1-pump-1",
        "pump.wear_predicted",
        ms_from_utc(NIGHT_T),
        True,
        Level.YELLOW,
        "bearing wear",
    )
    desk.service.observe_findings([wear], NIGHT_T)
    red = desk.trapped("b1-elev-1", NIGHT_T + timedelta(minutes=1))
    (yellow,) = [a for a in desk.service.list_alerts(AlertQuery(asset="b1-pump-1")).items]
    planned = desk.service.get_ticket(yellow.ticket_id or "")
    eight = datetime(2025, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert planned.planned_at == eight
    assert planned.deadlines.acknowledge == eight + timedelta(hours=1)  # its clocks start at 08:00
    urgent = desk.service.get_ticket(red.ticket_id or "")
    assert urgent.planned_at is None
    # At night the RED goes out at once; the YELLOW's message waits for 08:00 (and the day person).
    desk.dispatcher.deliver_pending(NIGHT_T + timedelta(minutes=2))
    wait_until(
        lambda: any("T-000002" in b["title"] for b in desk.posts("engineer")), 10, "the night RED sent"
    )
    with engine.connect() as conn:
        held = conn.execute(
            select(notifications.c.status, notifications.c.release_at).where(notifications.c.ticket_id == 1)
        ).all()
    assert held and all(status == "held" for status, _ in held)
    desk.dispatcher.deliver_pending(eight + timedelta(seconds=30))
    wait_until(
        lambda: any("T-000001" in b["title"] for b in desk.posts("engineer")), 10, "the YELLOW sent at 08:00"
    )
    desk.dispatcher.close()


def test_an_alert_joining_a_ticket_with_the_engineer_on_site_says_so(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    """An overdue visit found while the car's entrapment ticket is open joins that ticket: its message to the
    engineer says someone is on site, not the entrapment's deadlines of an hour ago, nor to check in."""
    desk = Desk(engine, compound(http_receiver), http_receiver)
    red = desk.trapped("b1-elev-1", DAY_T)
    code = desk.site.asset("b1-elev-1").checkin_code
    desk.act(red.ticket_id, TicketAction.CHECK_IN, DAY_T + timedelta(minutes=2), checkin_code=code)
    later = DAY_T + timedelta(hours=1)
    overdue = Finding(
        desk.site.id,
        "b1-elev-1",
        "maintenance.overdue",
        ms_from_utc(later),
        True,
        Level.YELLOW,
        "visit overdue",
    )
    desk.service.observe_findings([overdue], later)
    (joined,) = [
        a for a in desk.service.list_alerts(AlertQuery(asset="b1-elev-1")).items if a.level is Level.YELLOW
    ]
    assert joined.ticket_id == red.ticket_id
    # One round that goes on until every due send answered (two in flight per target): on a loaded machine
    # the default one-second round can end before the YELLOW's turn.
    desk.dispatcher.deliver_pending(later + timedelta(minutes=5), wait_s=10)

    def told() -> list[Any]:
        return [b for b in desk.posts("engineer") if b["title"].startswith("[YELLOW]")]

    wait_until(told, 10, "the engineer told of the overdue visit")
    (message,) = told()
    assert "工程师已于 10:02" in message["message"], message["message"]
    assert "前确认" not in message["message"]
    # ... and asks for no acknowledgement and no check-in: the engineer on site handles it.
    step = f"工单 {red.ticket_id}：已在现场的工程师一并处理此告警，无需再次签到。"
    assert step in message["message"].splitlines(), message["message"]
    assert "先确认" not in message["message"] and "到场后用" not in message["message"]
    desk.dispatcher.close()


def test_owners_hear_of_a_rescue_under_way_when_an_entrapment_joins_a_ticket_with_the_engineer_on_site(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    """The engineer is at the car for a door fault when someone is trapped in it: the entrapment joins that
    ticket, and its owners hear that the rescue engineer is there, not that one is being arranged."""
    desk = Desk(engine, compound(http_receiver), http_receiver)
    fault = Finding(
        desk.site.id, "b1-elev-1", "elevator.door_fault", ms_from_utc(DAY_T), True, Level.ORANGE, "door fault"
    )
    desk.service.observe_findings([fault], DAY_T)
    (orange,) = desk.service.list_alerts(AlertQuery(asset="b1-elev-1")).items
    code = desk.site.asset("b1-elev-1").checkin_code
    desk.act(orange.ticket_id, TicketAction.CHECK_IN, DAY_T + timedelta(minutes=5), checkin_code=code)
    red = desk.trapped("b1-elev-1", DAY_T + timedelta(minutes=10))
    assert red.ticket_id == orange.ticket_id
    desk.dispatcher.deliver_pending(DAY_T + timedelta(minutes=11), wait_s=10)

    def told() -> list[str]:
        return [b["message"] for b in desk.posts("owners-b1") if "被困" in b["message"]]

    wait_until(told, 10, "the owners told of the entrapment")
    (message,) = told()
    assert "救援工程师已到达" in message, message
    assert "正在安排" not in message and "正在紧急安排救援" not in message, message
    desk.dispatcher.close()
