"""What the API relies on (alerts.engine.ports.AlertsApi): filters, acknowledge and silence an alert, owner tickets,
progress and plan B, SLA and incident reports — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.engine import store
from alerts.engine.errors import IllegalTransition
from alerts.engine.ports import ActionRequest, AlertQuery, OwnerReport, TicketQuery
from facwatch.model import AlertState, Finding, Level, TicketAction, TicketState, ms_from_utc
from tests.alerts.helpers import DATABASES, HOLD, MOVING, STUCK, T0, Harness, demo_site, state_engine
from tests.fixtures.receivers import HttpReceiver


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


@pytest.fixture
def h(engine: Engine, http_receiver: HttpReceiver) -> Harness:
    return Harness(engine, demo_site(http_receiver), words=False)


def owner_report(**kw: object) -> OwnerReport:
    base: dict[str, object] = {
        "site": "lakeside",
        "building": "b1",
        "category": "water",
        "text": "No water on floor 12 since this morning",
        "reporter": "owner-1203",
        "unit": "1203",
        "photo_urls": ("https://pm.example.com/p/1.jpg",),
        "location": "kitchen tap",
    }
    return OwnerReport(**{**base, **kw})  # type: ignore[arg-type]


def test_list_filters_by_building_and_time(h: Harness) -> None:
    h.feed(STUCK, 0, 6, asset="b1-elev-1")
    h.feed(STUCK, 3600, 6, asset="b2-elev-1")
    assert [a.asset for a in h.service.list_alerts(AlertQuery(building="b2")).items] == ["b2-elev-1"]
    assert [a.asset for a in h.service.list_alerts(AlertQuery(since=h.at(1800))).items] == ["b2-elev-1"]
    assert [a.asset for a in h.service.list_alerts(AlertQuery(until=h.at(1800))).items] == ["b1-elev-1"]
    assert h.service.list_alerts(AlertQuery(since=h.at(HOLD), until=h.at(HOLD))).items == []  # [since, until)
    h.service.open_owner_ticket(owner_report(), h.at(7200))
    assert [t.asset for t in h.service.list_tickets(TicketQuery(building="b2")).items] == ["b2-elev-1"]
    assert [t.source for t in h.service.list_tickets(TicketQuery(source="owner")).items] == ["owner"]
    assert len(h.service.list_tickets(TicketQuery(source="sensor")).items) == 2
    assert [t.level for t in h.service.list_tickets(TicketQuery(level=Level.ORANGE)).items] == [Level.ORANGE]
    assert [
        t.asset for t in h.service.list_tickets(TicketQuery(since=h.at(1800), until=h.at(7200))).items
    ] == ["b2-elev-1"]


def test_acknowledging_an_alert_acknowledges_its_ticket_and_stops_the_clock(h: Harness) -> None:
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts().items
    acked = h.service.acknowledge_alert(alert.id, "eng-wang", h.at(20))
    assert acked.acknowledged_by == "eng-wang" and acked.acknowledged_at == h.at(20)
    assert acked.ticket_id
    ticket = h.service.get_ticket(acked.ticket_id)
    assert ticket.state is TicketState.ACKNOWLEDGED and ticket.acknowledged_at == h.at(20)
    assert ticket.timeline[-1].actor == "eng-wang"
    again = h.service.acknowledge_alert(alert.id, "sup-li", h.at(30))  # the first acknowledgement stays
    assert again.acknowledged_by == "eng-wang"
    h.service.tick(h.at(HOLD + 61))  # past the acknowledge deadline: nothing to escalate
    assert h.kinds("escalated") == []


def test_a_silenced_alert_escalates_on_the_timeline_but_tells_nobody(h: Harness) -> None:
    dry = Finding(
        "lakeside", "b1-pump-1", "pump.dry_run", ms_from_utc(h.at(0)), True, Level.ORANGE, "dry run"
    )
    h.service.observe_findings([dry])
    (alert,) = h.service.list_alerts().items
    with pytest.raises(ValueError, match="future"):
        h.service.silence_alert(alert.id, until=h.at(5), reason="tests", actor="mgr-zhao", now=h.at(10))
    with pytest.raises(ValueError, match="reason"):
        h.service.silence_alert(alert.id, until=h.at(3600), reason=" ", actor="mgr-zhao", now=h.at(10))
    silenced = h.service.silence_alert(
        alert.id, until=h.at(3600), reason="contractor tests the pump", actor="mgr-zhao", now=h.at(10)
    )
    assert silenced.silenced_until == h.at(3600) and silenced.silence_reason == "contractor tests the pump"
    data = store.alert_json(silenced)
    assert (
        data["silenced_until"] == "2025-03-01T09:00:00Z" and data["silence_reason"] == silenced.silence_reason
    )
    h.service.tick(h.at(5 * 60 + 1))  # ORANGE: the acknowledge clock runs out after 5 minutes
    assert h.kinds("escalated") == []
    assert silenced.ticket_id
    timeline = h.service.get_ticket(silenced.ticket_id).timeline
    assert [e.action for e in timeline] == ["opened", "silenced", "escalated"]
    assert "not notified: silenced" in timeline[-1].note
    # After the silence, the clocks speak again.
    h.service.tick(h.at(3600 + 60))
    assert len(h.kinds("escalated")) == 1


def test_a_silenced_red_still_escalates_and_says_why(h: Harness) -> None:
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts().items
    silenced = h.service.silence_alert(
        alert.id, until=h.at(3600), reason="contractor tests the brake", actor="mgr-zhao", now=h.at(10)
    )
    h.service.tick(h.at(HOLD + 60))
    assert len(h.kinds("escalated")) == 1  # safety first: a RED is never silenced
    assert silenced.ticket_id
    timeline = h.service.get_ticket(silenced.ticket_id).timeline
    assert [e.action for e in timeline] == ["opened", "silenced", "escalated"]
    assert "a RED is never silenced" in timeline[1].note  # said when it was silenced ...
    assert "notified although silenced: a RED is never silenced" in timeline[2].note  # ... and each time


def test_owner_ticket_has_a_ten_minute_acknowledge_clock_and_keeps_what_the_owner_said(h: Harness) -> None:
    ticket = h.service.open_owner_ticket(owner_report(), h.at(0))
    assert (ticket.source, ticket.state, ticket.level) == ("owner", TicketState.OPEN, Level.ORANGE)
    assert ticket.deadlines.acknowledge == h.at(600)
    assert ticket.deadlines.on_site is None and ticket.deadlines.fixed is None
    assert (ticket.unit, ticket.category, ticket.location) == ("1203", "water", "kitchen tap")
    assert ticket.description == "No water on floor 12 since this morning"
    assert ticket.photo_urls == ("https://pm.example.com/p/1.jpg",)
    assert ticket.timeline[0].actor == "owner-1203"
    data = store.ticket_json(ticket)
    assert data["source"] == "owner" and data["photo_urls"] == ["https://pm.example.com/p/1.jpg"]
    (opened,) = h.kinds("opened")
    assert [p.id for p in opened.staff] == ["eng-wang"]
    h.service.tick(h.at(599))
    assert h.kinds("escalated") == []
    h.service.tick(h.at(600))
    (escalated,) = h.kinds("escalated")
    assert [p.id for p in escalated.staff] == ["sup-li"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"building": "b9"}, "unknown building"),  # no such building
        ({"asset": "b9-elev-1"}, "unknown asset"),  # no such asset
        ({"asset": "b2-elev-1"}, "is in building .b2."),  # the asset is elsewhere
        ({"text": "   "}, "empty"),  # nothing said
        ({"site": "elsewhere"}, "unknown site"),  # another site
    ],
)
def test_bad_owner_reports_are_refused_and_store_nothing(
    h: Harness, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        h.service.open_owner_ticket(owner_report(**change), h.at(0))
    assert h.service.list_tickets().items == []


def test_progress_eta_and_plan_b_are_stored_and_told(h: Harness) -> None:
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts().items
    tid = alert.ticket_id
    assert tid
    eta = h.at(3600)
    h.act(tid, TicketAction.DISPATCH, 10, actor="eng-wang", eta=h.at(1800))
    h.act(tid, TicketAction.CHECK_IN, 100, actor="eng-wang", checkin_code="QJ9N-39Y3")
    ticket = h.act(tid, TicketAction.PROGRESS, 200, actor="eng-wang", percent=40, eta=eta)
    assert ticket.progress_percent == 40 and ticket.eta == eta
    with pytest.raises(ValueError, match="plan"):
        h.act(tid, TicketAction.PLAN_B, 250, actor="eng-wang")
    ticket = h.act(
        tid, TicketAction.PLAN_B, 300, actor="eng-wang", plan_b="staff help residents with the stairs"
    )
    assert "plan B: staff help residents with the stairs" in ticket.timeline[-1].note
    actions = [
        (n.action, dict(n.detail).get("percent"), dict(n.detail).get("plan_b")) for n in h.kinds("action")
    ]
    assert actions == [
        ("dispatch", None, None),
        ("check_in", None, None),
        ("progress", 40, None),
        ("plan_b", None, "staff help residents with the stairs"),
    ]
    assert store.ticket_json(ticket)["progress_percent"] == 40


def test_sla_report_gives_percentiles_and_breaches_per_level(h: Harness) -> None:
    h.feed(STUCK, 0, 6, asset="b1-elev-1")
    h.feed(STUCK, 0, 6, asset="b2-elev-1")
    a1, a2 = sorted(h.service.list_alerts().items, key=lambda a: a.asset)
    assert a1.ticket_id and a2.ticket_id
    h.service.act(a1.ticket_id, ActionRequest(TicketAction.ACKNOWLEDGE, "eng-wang"), h.at(HOLD + 30))
    h.service.act(a2.ticket_id, ActionRequest(TicketAction.ACKNOWLEDGE, "eng-wang"), h.at(HOLD + 90))
    h.service.act(
        a1.ticket_id,
        ActionRequest(TicketAction.CHECK_IN, "eng-wang", checkin_code="QJ9N-39Y3"),
        h.at(HOLD + 120),
    )
    h.feed(MOVING, HOLD + 500, 3, asset="b1-elev-1")  # the car moves again: a person may resolve it
    h.service.act(a1.ticket_id, ActionRequest(TicketAction.RESOLVE, "eng-wang"), h.at(HOLD + 600))
    h.service.tick(h.at(HOLD + 400))  # b2's on-site clock runs out with nobody there
    h.service.open_owner_ticket(owner_report(), h.at(100))
    rows = h.service.sla_report(site="lakeside", since=T0, until=h.at(3600))
    assert [(r.site, r.level) for r in rows] == [("lakeside", Level.RED), ("lakeside", Level.ORANGE)]
    red = rows[0]
    assert (red.tickets, red.acknowledged, red.arrived, red.fixed) == (2, 2, 1, 1)
    assert (red.ack_p50_s, red.ack_p90_s) == (60.0, 84.0)
    assert (red.arrive_p50_s, red.fix_p50_s) == (120.0, 600.0)
    assert (red.ack_breaches, red.arrive_breaches, red.fix_breaches) == (1, 1, 0)
    orange = rows[1]
    assert (orange.tickets, orange.acknowledged, orange.ack_p50_s, orange.ack_breaches) == (1, 0, None, 0)
    assert h.service.sla_report(site="other", since=T0, until=h.at(3600)) == []


def test_incident_report_counts_per_month_and_quarter_in_site_time(h: Harness) -> None:
    # T0 is 2025-03-01 08:00 UTC = 16:00 in Shanghai; 2025-03-31 17:00 UTC is already April 1st there.
    h.feed(STUCK, 0, 6)
    h.feed(STUCK, 30 * 86400 + 9 * 3600, 6, asset="b1-elev-2")
    months = h.service.incident_report(site=None, since=T0, until=T0 + timedelta(days=60))
    assert [(r.period, r.asset, r.kind, r.level, r.count) for r in months] == [
        ("2025-03", "b1-elev-1", "elevator.entrapment", Level.RED, 1),
        ("2025-04", "b1-elev-2", "elevator.entrapment", Level.RED, 1),
    ]
    quarters = h.service.incident_report(
        site="lakeside", since=T0, until=T0 + timedelta(days=60), period="quarter"
    )
    assert [(r.period, r.count) for r in quarters] == [("2025-Q1", 1), ("2025-Q2", 1)]
    with pytest.raises(ValueError, match="period"):
        h.service.incident_report(site=None, since=T0, until=T0, period="week")


def test_api_json_keeps_the_old_keys_and_adds_the_new(h: Harness) -> None:
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts(AlertQuery(state=AlertState.FIRING)).items
    data = store.alert_json(alert)
    assert {"id", "level", "state", "ticket_id", "count", "escalation_step"} <= set(data)
    assert {"silenced_until", "suppressed_by", "flapping", "late", "predicted_at"} <= set(data)
    assert alert.ticket_id
    tdata = store.ticket_json(h.service.get_ticket(alert.ticket_id))
    assert tdata["source"] == "sensor" and tdata["photo_urls"] == [] and tdata["eta"] is None


@pytest.mark.parametrize(
    ("request_kw", "error", "message"),
    [
        (
            {"action": TicketAction.PROGRESS, "percent": 140},
            ValueError,
            "between 0 and 100",
        ),  # not a percentage
        ({"action": TicketAction.COMMENT, "percent": 40}, ValueError, "percent goes with"),  # wrong action
        ({"action": TicketAction.COMMENT, "eta": T0}, ValueError, "ETA goes with"),  # an ETA for nothing
        ({"action": TicketAction.PLAN_B, "plan_b": "  "}, ValueError, "plan_b needs the plan"),  # empty plan
        (
            {"action": TicketAction.CHECK_IN, "checkin_code": "QJ9N-39Y3"},
            IllegalTransition,
            "on_site",
        ),  # there
        ({"action": TicketAction.CLOSE}, IllegalTransition, "cannot close a ticket that is on_site"),  # open
        (
            {"action": TicketAction.REOPEN},
            IllegalTransition,
            "cannot reopen a ticket that is on_site",
        ),  # open
    ],
)
def test_refused_actions_say_why_and_change_nothing(
    h: Harness, request_kw: dict[str, object], error: type[Exception], message: str
) -> None:
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts().items
    tid = alert.ticket_id
    assert tid
    h.act(tid, TicketAction.CHECK_IN, 30, actor="eng-wang", checkin_code="QJ9N-39Y3")
    before, notices = h.service.get_ticket(tid), len(h.notices)
    with pytest.raises(error, match=message):
        h.service.act(tid, ActionRequest(actor="eng-wang", **request_kw), h.at(60))  # type: ignore[arg-type]
    assert h.service.get_ticket(tid) == before and len(h.notices) == notices
