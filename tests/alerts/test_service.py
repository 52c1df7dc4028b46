"""The alert service on a real state database (SQLite and PostgreSQL): readings in; alerts, tickets,
SLA clocks, escalation and notifications out, delivered through apprise to a real HTTP receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.engine.errors import CheckInRefused, IllegalTransition, NotFound, TooManyCheckIns
from alerts.engine.ports import AlertQuery, TicketQuery
from facwatch.model import AlertState, Level, TicketAction, TicketState
from tests.alerts.helpers import DATABASES, HOLD, MOVING, STUCK, Harness, demo_site, state_engine
from tests.fixtures.receivers import HttpReceiver


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


@pytest.fixture
def h(engine: Engine, http_receiver: HttpReceiver) -> Harness:
    return Harness(engine, demo_site(http_receiver))


def test_entrapment_opens_one_red_alert_with_a_ticket_and_deadlines(h: Harness) -> None:
    h.feed(MOVING, -3, 3)
    h.feed(STUCK, 0, 30)  # 30 s stuck: the first readings open it, the rest repeat nothing
    page = h.service.list_alerts()
    assert len(page.items) == 1 and page.next is None
    alert = page.items[0]
    assert (alert.kind, alert.level, alert.state, alert.asset) == (
        "elevator.entrapment",
        Level.RED,
        AlertState.FIRING,
        "b1-elev-1",
    )
    assert alert.opened_at == h.at(HOLD)
    assert alert.ticket_id is not None and alert.id.startswith("A-")
    ticket = h.service.get_ticket(alert.ticket_id)
    assert ticket.state is TicketState.OPEN and ticket.level is Level.RED
    assert ticket.alert_ids == (alert.id,)
    assert ticket.deadlines.acknowledge == alert.opened_at + timedelta(seconds=60)
    assert ticket.deadlines.on_site == alert.opened_at + timedelta(seconds=180)
    assert ticket.deadlines.fixed is None
    assert [e.action for e in ticket.timeline] == ["opened"]
    assert len(h.service.list_tickets().items) == 1
    # The engineer on call and the building's owners are told; nobody else yet.
    assert h.notified() == [("engineer", "eng-wang"), ("owners", "1号楼业主群 Building 1 owners")]


def test_events_carry_the_api_shapes(h: Harness) -> None:
    h.feed(STUCK, 0, 6)
    alert_events = [e.data for e in h.events if e.type == "alert"]
    ticket_events = [e.data for e in h.events if e.type == "ticket"]
    assert len(alert_events) == 1 and len(ticket_events) == 1
    alert, ticket = alert_events[0], ticket_events[0]
    assert alert["level"] == "red" and alert["state"] == "firing" and alert["site"] == "lakeside"
    assert alert["opened_at"] == "2025-03-01T08:00:04Z" and alert["ticket_id"] == ticket["id"]
    assert ticket["alert_ids"] == [alert["id"]]
    assert ticket["deadlines"] == {
        "acknowledge": "2025-03-01T08:01:04Z",
        "on_site": "2025-03-01T08:03:04Z",
        "fixed": None,
    }


def test_a_recurrence_after_restart_counts_on_the_open_alert(h: Harness) -> None:
    h.feed(STUCK, 0, 10)
    h.restart()  # the rules' memory is gone; the database remembers
    h.feed(STUCK, 10, 10)
    (alert,) = h.service.list_alerts().items
    assert alert.count == 2
    assert len(h.service.list_tickets().items) == 1
    assert len(h.notified()) == 2  # no second round of messages


def test_clears_then_resolves_after_the_hold(h: Harness) -> None:
    h.feed(STUCK, 0, 10)
    h.feed(MOVING, 10, 30)
    (alert,) = h.service.list_alerts().items
    assert alert.state is AlertState.FIRING  # normal for 30 s of a 60 s hold
    h.service.tick(h.at(10 + 60))
    alert = h.service.get_alert(alert.id)
    assert alert.state is AlertState.RESOLVED and alert.resolved_at == h.at(70)
    assert alert.ticket_id is not None
    assert h.service.get_ticket(alert.ticket_id).timeline[-1].action == "alert_resolved"
    # It comes back: a new alert joins the still-open ticket.
    h.feed(STUCK, 100, 10)
    firing = h.service.list_alerts(AlertQuery(state=AlertState.FIRING)).items
    assert len(firing) == 1 and firing[0].ticket_id == alert.ticket_id
    assert len(h.service.get_ticket(alert.ticket_id).alert_ids) == 2


def test_on_site_clock_escalates_to_the_supervisor_once_per_interval(h: Harness) -> None:
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts().items
    assert alert.ticket_id
    h.act(alert.ticket_id, TicketAction.ACKNOWLEDGE, 20, actor="eng-wang")
    on_site = HOLD + 180
    h.service.tick(h.at(on_site - 1))
    # Opened (engineer, owners), then the owners hear that an engineer is on the way.
    assert h.notified()[2:] == [("owners", "1号楼业主群 Building 1 owners")]
    for s in (on_site, on_site + 1, on_site + 30, on_site + 59):  # ticking often fires once
        h.service.tick(h.at(s))
    assert h.notified()[3:] == [("supervisor", "sup-li")]
    ticket = h.service.get_ticket(alert.ticket_id)
    escalated = [e for e in ticket.timeline if e.action == "escalated"]
    assert len(escalated) == 1 and escalated[0].note.startswith("escalated: on-site clock ran out")
    h.service.tick(h.at(on_site + 60))  # the repeat goes up the chain
    assert h.notified()[3:] == [("supervisor", "sup-li"), ("manager", "mgr-zhao")]
    assert h.service.get_alert(alert.id).escalation_step == 2
    # A restart re-fires nothing already notified.
    h.restart()
    h.service.tick(h.at(on_site + 61))
    assert len(h.notified()) == 5


def test_nobody_acknowledging_escalates_the_acknowledge_clock(h: Harness) -> None:
    h.feed(STUCK, 0, 6)
    h.service.tick(h.at(HOLD + 60))
    assert h.notified()[2:] == [("supervisor", "sup-li")]
    (alert,) = h.service.list_alerts().items
    assert alert.ticket_id
    notes = [e.note for e in h.service.get_ticket(alert.ticket_id).timeline]
    assert any(n.startswith("escalated: acknowledge clock ran out") for n in notes)


def test_check_in_needs_the_posted_code_and_stops_the_clock(h: Harness) -> None:
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts().items
    tid = alert.ticket_id
    assert tid
    h.act(tid, TicketAction.DISPATCH, 10, actor="eng-wang", assignee="eng-wang")
    before = h.service.get_ticket(tid)
    with pytest.raises(CheckInRefused):
        h.act(tid, TicketAction.CHECK_IN, 100, actor="eng-wang", checkin_code="B1E1-0000")
    after = h.service.get_ticket(tid)  # refused: nothing changed but the timeline, which keeps the refusal
    assert (after.state, after.on_site_at, after.deadlines) == (
        before.state,
        before.on_site_at,
        before.deadlines,
    )
    refusal = after.timeline[-1]
    assert (refusal.action, refusal.actor, refusal.ts) == ("checkin_refused", "eng-wang", h.at(100))
    assert "B1E1-0000" not in refusal.note  # never the code typed
    ticket = h.act(tid, TicketAction.CHECK_IN, 120, actor="eng-wang", checkin_code="QJ9N-39Y3")
    assert ticket.state is TicketState.ON_SITE and ticket.on_site_at == h.at(120)
    assert ticket.timeline[-1].action == "check_in" and ticket.timeline[-1].actor == "eng-wang"
    for s in range(180, 600, 30):
        h.service.tick(h.at(s))
    assert (
        len(h.notified()) == 4
    )  # opened (engineer, owners), on the way and on site (owners); nobody escalated
    acked = h.service.get_alert(alert.id)
    assert acked.acknowledged_by == "eng-wang" and acked.acknowledged_at == h.at(10)


def test_the_check_in_lock_is_kept_in_the_state_database_for_every_process(h: Harness) -> None:
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts().items
    tid = alert.ticket_id
    assert tid
    for s in range(10, 60, 10):  # five wrong codes within a minute, from one process
        with pytest.raises(CheckInRefused):
            h.act(tid, TicketAction.CHECK_IN, s, actor="eng-wang", checkin_code=f"WRONG{s:04d}")
    h.restart()  # another API process, with nothing in memory: the same token still waits there
    with pytest.raises(TooManyCheckIns) as caught:
        h.act(tid, TicketAction.CHECK_IN, 60, actor="eng-wang", checkin_code="QJ9N-39Y3")
    assert caught.value.retry_after_s == 590  # ten minutes after the fifth wrong code
    ticket = h.act(tid, TicketAction.CHECK_IN, 50 + 600, actor="eng-wang", checkin_code="QJ9N-39Y3")
    assert ticket.state is TicketState.ON_SITE
    actions = [e.action for e in ticket.timeline]
    assert actions.count("checkin_refused") == 5 and actions.count("checkin_blocked") == 1


def test_illegal_actions_change_nothing(h: Harness) -> None:
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts().items
    assert alert.ticket_id
    before = h.service.get_ticket(alert.ticket_id)
    with pytest.raises(IllegalTransition, match="cannot close a ticket that is open"):
        h.act(alert.ticket_id, TicketAction.CLOSE, 30, actor="eng-wang")
    assert h.service.get_ticket(alert.ticket_id) == before
    with pytest.raises(NotFound):
        h.act("T-999999", TicketAction.ACKNOWLEDGE, 30, actor="eng-wang")
    with pytest.raises(NotFound):
        h.service.get_alert("nonsense")


def test_notifications_reach_the_right_audiences_through_apprise(
    h: Harness, http_receiver: HttpReceiver
) -> None:
    h.feed(STUCK, 0, 6)
    assert h.dispatcher.deliver_pending(h.at(6)) == 2
    posts = dict(zip(http_receiver.paths, http_receiver.wait_for(2), strict=True))
    assert set(posts) == {"/engineer", "/owners-b1"}
    owners, engineer = posts["/owners-b1"], posts["/engineer"]
    # Nobody has acknowledged yet: the owners are not told that an engineer is on the way.
    assert "1号楼1单元电梯暂停服务，物业已收到告警" in owners["message"]
    assert "Building 1 unit 1 elevator is out of service; the property desk has" in owners["message"]
    assert "on the way" not in owners["message"] and "在路上" not in owners["message"]
    assert "T-" not in owners["message"] and "QJ9N-39Y3" not in owners["message"]
    assert "[RED]" in engineer["title"] and "T-000001" in engineer["title"]
    assert "电梯困人" in engineer["message"]
    # A restart delivers nothing again.
    h.restart()
    assert h.dispatcher.deliver_pending(h.at(3600)) == 0
    assert len(http_receiver.received) == 2


def test_pagination_and_filters(h: Harness) -> None:
    h.feed(STUCK, 0, 6, asset="b1-elev-1")
    h.feed(STUCK, 10, 6, asset="b2-elev-1")
    first = h.service.list_alerts(AlertQuery(limit=1))
    assert len(first.items) == 1 and first.next is not None
    second = h.service.list_alerts(AlertQuery(limit=1, cursor=first.next))
    assert second.next is None
    assert {first.items[0].asset, second.items[0].asset} == {"b1-elev-1", "b2-elev-1"}
    assert first.items[0].asset == "b2-elev-1"  # newest first among equals
    assert [a.asset for a in h.service.list_alerts(AlertQuery(asset="b1-elev-1")).items] == ["b1-elev-1"]
    assert h.service.list_alerts(AlertQuery(level=Level.ORANGE)).items == []
    assert len(h.service.list_tickets(TicketQuery(state=TicketState.OPEN)).items) == 2
