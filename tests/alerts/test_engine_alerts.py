"""The engine's alert policy on a real state database (SQLite and PostgreSQL): pending periods, flapping,
recurrence and rectification, predicted failures, inhibition by a power failure, late (replayed) readings,
tickets closing after a quiet hold, the follow-up, and the on-call rota."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.engine import store
from alerts.engine.ports import ActionRequest, AlertQuery
from facwatch.model import (
    DATAPATH_ASSET,
    AlertPolicy,
    AlertRule,
    AlertState,
    Finding,
    Level,
    RotaEntry,
    Site,
    TicketAction,
    TicketState,
    ms_from_utc,
)
from tests.alerts.helpers import (
    AT_FLOOR,
    DATABASES,
    MOVING,
    STUCK,
    T0,
    Harness,
    demo_site,
    frame,
    state_engine,
)
from tests.fixtures.receivers import HttpReceiver

DAY = 86400


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


@pytest.fixture
def site(http_receiver: HttpReceiver) -> Site:
    return demo_site(http_receiver)


def harness(engine: Engine, site: Site, **policy: object) -> Harness:
    return Harness(engine, dataclasses.replace(site, alerts=AlertPolicy(**policy)), words=False)  # type: ignore[arg-type]


def fire(h: Harness, asset: str, kind: str, at_s: float, active: bool = True, **kw: object) -> None:
    level = kw.pop("level", Level.RED)
    finding = Finding(
        "lakeside",
        asset,
        kind,
        ms_from_utc(h.at(at_s)),
        active,
        level,
        f"{kind} test",
        **kw,  # type: ignore[arg-type]
    )
    h.service.observe_findings([finding])


def incident(h: Harness, asset: str, kind: str, at_s: float, lasting_s: float = 30) -> None:
    """A condition that starts, clears and resolves after the hold (the ticket is left as it is)."""
    fire(h, asset, kind, at_s)
    fire(h, asset, kind, at_s + lasting_s, active=False)
    h.service.tick(h.at(at_s + lasting_s + 3600))


def test_the_third_incident_in_30_days_raises_a_yellow_rectification_with_48_hours(
    engine: Engine, site: Site
) -> None:
    h = harness(engine, site)
    for day in (0, 9):
        incident(h, "b1-pump-1", "pump.pipe_burst", day * DAY)
    assert h.service.list_alerts(AlertQuery(level=Level.YELLOW)).items == []
    incident(h, "b1-pump-1", "pump.pipe_burst", 20 * DAY)
    (rectify,) = h.service.list_alerts(AlertQuery(level=Level.YELLOW)).items
    assert rectify.kind == "pump.pipe_burst.recurrence" and rectify.state is AlertState.FIRING
    assert "3 times in 30 days" in rectify.summary
    assert rectify.opened_at == h.at(20 * DAY)
    assert rectify.ticket_id
    ticket = h.service.get_ticket(rectify.ticket_id)
    assert ticket.level is Level.YELLOW and ticket.kind == "pump.pipe_burst.recurrence"
    assert ticket.deadlines.fixed == h.at(20 * DAY + 48 * 3600)
    assert ticket.alert_ids == (rectify.id,)  # a ticket of its own, not the burst's
    # A fourth burst while it is open raises no second rectification; resolving the ticket resolves it.
    incident(h, "b1-pump-1", "pump.pipe_burst", 21 * DAY)
    assert len(h.service.list_alerts(AlertQuery(level=Level.YELLOW)).items) == 1
    h.service.act(rectify.ticket_id, ActionRequest(TicketAction.RESOLVE, "eng-wang"), h.at(22 * DAY))
    assert h.service.get_alert(rectify.id).state is AlertState.RESOLVED


def test_incidents_spread_over_more_than_the_window_do_not_recur(engine: Engine, site: Site) -> None:
    h = harness(engine, site, recurrence_window_days=10)
    for day in (0, 6, 12):  # any two within 10 days, never three
        incident(h, "b1-pump-1", "pump.pipe_burst", day * DAY)
    assert [a.kind for a in h.service.list_alerts().items] == ["pump.pipe_burst"] * 3


def test_a_predicted_failure_is_yellow_with_its_date(engine: Engine, site: Site) -> None:
    h = harness(engine, site)
    predicted = h.at(12 * DAY)  # 2025-03-13 08:00 UTC: 16:00 in Shanghai
    fire(
        h,
        "b1-elev-2",
        "elevator.wear_predicted",
        0,
        level=Level.ORANGE,
        detail={"predicted_at_ms": float(ms_from_utc(predicted)), "limit": 0.35},
    )
    (alert,) = h.service.list_alerts().items
    assert alert.level is Level.YELLOW and alert.predicted_at == predicted
    assert "2025-03-13" in alert.summary
    assert store.alert_json(alert)["predicted_at"] == "2025-03-13T08:00:00Z"
    assert alert.ticket_id and h.service.get_ticket(alert.ticket_id).deadlines.fixed == h.at(48 * 3600)


def test_a_power_outage_suppresses_the_flood_but_never_a_possible_entrapment(
    engine: Engine, site: Site
) -> None:
    h = harness(engine, site)
    for i in range(5):  # b1-elev-1 was moving; b1-elev-2 stood at a landing
        h.service.observe(
            frame(MOVING, ms_from_utc(h.at(i))) + frame(AT_FLOOR, ms_from_utc(h.at(i)), "b1-elev-2")
        )
    fire(h, "b1-panel", "power.outage", 6)
    fire(h, "b1-elev-2", "device.offline", 8, level=Level.BLUE)
    fire(h, "b1-pump-1", "pump.dry_run", 9, level=Level.ORANGE)
    fire(h, "b2-pump-1", "pump.dry_run", 9, level=Level.ORANGE)  # another building: not explained
    alerts = {a.kind + "@" + a.asset: a for a in h.service.list_alerts().items}
    outage = alerts["power.outage@b1-panel"]
    trapped = alerts["elevator.possible_entrapment@b1-elev-1"]
    assert trapped.level is Level.RED and trapped.suppressed_by is None and trapped.ticket_id
    assert "moving (1.6 m/s)" in trapped.summary
    for key in ("device.offline@b1-elev-2", "pump.dry_run@b1-pump-1"):
        assert alerts[key].suppressed_by == f"{outage.id} power.outage" and alerts[key].ticket_id is None
    assert alerts["pump.dry_run@b2-pump-1"].suppressed_by is None
    told = {(n.asset.id if n.asset else None) for n in h.kinds("opened")}
    assert told == {"b1-panel", "b1-elev-1", "b2-pump-1"}  # one outage, one possible entrapment, b2's own
    assert outage.ticket_id
    notes = [e.action for e in h.service.get_ticket(outage.ticket_id).timeline]
    assert notes.count("alert_suppressed") == 2
    # The power comes back; the pump still runs dry: now it is a fault of its own and gets its ticket.
    fire(h, "b1-panel", "power.outage", 600, active=False)
    fire(h, "b1-elev-2", "device.offline", 610, active=False, level=Level.BLUE)
    h.service.tick(h.at(700))
    pump = h.service.get_alert(alerts["pump.dry_run@b1-pump-1"].id)
    assert pump.suppressed_by is None and pump.ticket_id is not None
    offline = h.service.get_alert(alerts["device.offline@b1-elev-2"].id)
    assert offline.state is AlertState.RESOLVED and offline.ticket_id is None


def test_a_red_pipe_burst_during_a_power_outage_is_raised_and_notified_with_the_reason(
    engine: Engine, site: Site
) -> None:
    h = harness(engine, site)
    fire(h, "b1-panel", "power.outage", 0)
    fire(h, "b1-pump-1", "pump.pipe_burst", 5)  # RED: water pours into the basement, power or not
    fire(h, "b1-pump-1", "pump.dry_run", 6, level=Level.ORANGE)  # not RED: the outage explains it
    alerts = {a.kind: a for a in h.service.list_alerts().items}
    outage, burst, dry = alerts["power.outage"], alerts["pump.pipe_burst"], alerts["pump.dry_run"]
    assert burst.level is Level.RED and burst.suppressed_by is None and burst.ticket_id
    assert dry.suppressed_by == f"{outage.id} power.outage" and dry.ticket_id is None
    told = [(n.asset.id if n.asset else None, n.level) for n in h.kinds("opened")]
    assert told == [("b1-panel", Level.RED), ("b1-pump-1", Level.RED)]  # the burst is told at once
    entry = h.service.get_ticket(burst.ticket_id).timeline[-1]
    assert entry.action == "not_suppressed"
    assert f"{outage.id} power.outage" in entry.note and "a RED is never suppressed" in entry.note
    # Silenced, it still escalates: the on-call engineer hears when nobody has acknowledged it.
    h.service.silence_alert(
        burst.id, until=h.at(3600), reason="pump contractor", actor="mgr-zhao", now=h.at(7)
    )
    h.service.tick(h.at(5 + 61))
    assert burst.ticket_id in [n.ticket for n in h.kinds("escalated")]


def test_a_pending_period_lets_the_outage_explain_a_device_that_went_dark_first(
    engine: Engine, site: Site
) -> None:
    h = harness(engine, site, rules=(AlertRule(kind="device.offline", pending_s=10),))
    fire(h, "b1-pump-1", "device.offline", 0, level=Level.BLUE)  # presence notices before the panel's rule
    fire(h, "b1-panel", "power.outage", 2)
    h.service.tick(h.at(10))
    offline = next(a for a in h.service.list_alerts().items if a.kind == "device.offline")
    assert offline.suppressed_by is not None and offline.ticket_id is None
    assert [n.asset.id for n in h.kinds("opened") if n.asset] == ["b1-panel"]


def test_an_entrapment_during_an_outage_is_not_suppressed(engine: Engine, site: Site) -> None:
    h = harness(engine, site)
    fire(h, "b1-panel", "power.outage", 0)
    h.feed(STUCK, 10, 6)  # b1-elev-1 stuck with people inside
    (trapped,) = [a for a in h.service.list_alerts().items if a.kind == "elevator.entrapment"]
    assert trapped.suppressed_by is None and trapped.ticket_id is not None


def test_a_replayed_condition_that_cleared_long_ago_is_recorded_not_dispatched(
    engine: Engine, site: Site
) -> None:
    h = harness(engine, site, lateness_s=300)
    now = h.at(3600)  # the device comes back an hour later and replays its buffer
    replay = [frame(MOVING, ms_from_utc(h.at(s))) for s in range(-3, 0)]
    replay += [frame(STUCK, ms_from_utc(h.at(s))) for s in range(0, 20)]
    replay += [frame(MOVING, ms_from_utc(h.at(s))) for s in range(20, 30)]
    for readings in replay:
        h.service.observe(readings, now=now)
    (alert,) = h.service.list_alerts().items
    assert alert.late and alert.state is AlertState.RESOLVED and alert.ticket_id is None
    assert alert.opened_at == h.at(4)  # at its own time: onset + the 4 s entrapment hold
    assert h.service.list_tickets().items == [] and h.notices == []
    assert store.alert_json(alert)["late"] is True
    # A replayed condition that is still going on once the replay catches up is dispatched.
    for s in range(40, 50):
        h.service.observe(frame(STUCK, ms_from_utc(h.at(s))), now=now)
        h.service.tick(now)  # the application's clock ticks on meanwhile
    assert h.notices == []  # still replaying
    h.service.observe(frame(STUCK, ms_from_utc(now)), now=now)
    firing = h.service.list_alerts(AlertQuery(state=AlertState.FIRING)).items
    assert len(firing) == 1 and firing[0].opened_at == h.at(44) and not firing[0].late
    assert len(h.kinds("opened")) == 1


def test_a_replay_that_stops_while_its_condition_holds_is_dispatched_once_quiet(
    engine: Engine, site: Site
) -> None:
    h = harness(engine, site, lateness_s=300)
    now = h.at(3600)
    for s in range(0, 10):  # an entrapment replayed an hour late; then the device says nothing more
        h.service.observe(frame(STUCK, ms_from_utc(h.at(s))), now=now)
    h.service.tick(now + timedelta(seconds=299))  # it may yet be followed by the rest of the replay
    assert h.notices == []
    h.service.tick(now + timedelta(seconds=301))  # quiet for the lateness bound: taken as current
    (alert,) = h.service.list_alerts().items
    assert alert.opened_at == h.at(4) and not alert.late and len(h.kinds("opened")) == 1


def test_a_pending_period_ignores_short_blips(engine: Engine, site: Site) -> None:
    h = harness(engine, site, rules=(AlertRule(kind="pump.dry_run", pending_s=10),))
    fire(h, "b1-pump-1", "pump.dry_run", 0, level=Level.ORANGE)
    fire(h, "b1-pump-1", "pump.dry_run", 5, active=False, level=Level.ORANGE)
    h.service.tick(h.at(100))
    assert h.service.list_alerts().items == []
    fire(h, "b1-pump-1", "pump.dry_run", 200, level=Level.ORANGE)
    h.service.tick(h.at(209))
    assert h.service.list_alerts().items == []
    h.service.tick(h.at(210))
    (alert,) = h.service.list_alerts().items
    assert alert.opened_at == h.at(210) and alert.ticket_id is not None


def test_flapping_is_held_open_and_not_told_again(engine: Engine, site: Site) -> None:
    h = harness(engine, site, flap_cycles=3, flap_window_s=3600, recurrence_count=99)
    for k in range(3):  # three cycles of 1 minute on, 2 minutes off
        fire(h, "b1-pump-1", "pump.cavitation", k * 180, level=Level.ORANGE)
        fire(h, "b1-pump-1", "pump.cavitation", k * 180 + 60, active=False, level=Level.ORANGE)
        h.service.tick(h.at(k * 180 + 125))
    alerts = h.service.list_alerts().items
    assert [a.state for a in alerts] == [AlertState.FIRING, AlertState.RESOLVED, AlertState.RESOLVED]
    assert alerts[0].flapping
    for k in range(3, 6):  # it goes on flapping: the held alert counts it, nobody is told again
        fire(h, "b1-pump-1", "pump.cavitation", k * 180, level=Level.ORANGE)
        fire(h, "b1-pump-1", "pump.cavitation", k * 180 + 60, active=False, level=Level.ORANGE)
        h.service.tick(h.at(k * 180 + 125))
    assert len(h.service.list_alerts().items) == 3
    assert h.service.get_alert(alerts[0].id).count == 4
    assert len(h.kinds("opened")) == 3
    h.service.tick(h.at(5 * 180 + 60 + 3600))  # quiet for a whole window: resolved
    assert h.service.get_alert(alerts[0].id).state is AlertState.RESOLVED


def test_a_resolved_ticket_closes_after_the_quiet_hold_and_a_recurrence_reopens_it(
    engine: Engine, site: Site
) -> None:
    h = harness(engine, site, close_hold_s=3600)
    h.feed(STUCK, 0, 6)
    h.feed(MOVING, 6, 5)
    (alert,) = h.service.list_alerts().items
    tid = alert.ticket_id
    assert tid
    h.act(tid, TicketAction.RESOLVE, 20, actor="eng-wang")
    h.service.tick(h.at(20 + 1800))
    assert h.service.get_ticket(tid).state is TicketState.RESOLVED
    h.feed(STUCK, 2000, 6)  # it happens again within the hold: reopened
    ticket = h.service.get_ticket(tid)
    assert ticket.state is TicketState.REOPENED and len(ticket.alert_ids) == 2
    h.feed(MOVING, 2006, 5)
    h.act(tid, TicketAction.RESOLVE, 2100, actor="eng-wang")
    h.service.tick(h.at(2100 + 3599))
    assert h.service.get_ticket(tid).state is TicketState.RESOLVED
    h.service.tick(h.at(2100 + 3600))
    ticket = h.service.get_ticket(tid)
    assert ticket.state is TicketState.CLOSED and ticket.closed_at == h.at(5700)
    assert ticket.timeline[-1].action == "close" and ticket.timeline[-1].actor == "system"


def test_the_follow_up_is_due_the_day_after_resolution_and_told_once(engine: Engine, site: Site) -> None:
    h = harness(engine, site)
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts().items
    assert alert.ticket_id
    h.feed(MOVING, 50, 3)  # the car moves again: the alert clears
    h.act(alert.ticket_id, TicketAction.RESOLVE, 100, actor="eng-wang")
    h.service.tick(h.at(100 + DAY - 1))
    assert h.kinds("follow_up") == []
    h.service.tick(h.at(100 + DAY))
    h.restart()
    h.service.tick(h.at(100 + DAY + 60))
    (follow,) = h.kinds("follow_up")
    assert follow.ticket == alert.ticket_id and follow.at == h.at(100 + DAY)
    assert [e.action for e in h.service.get_ticket(alert.ticket_id).timeline].count("follow_up") == 1


def test_the_follow_up_waits_until_the_alert_has_been_clear_for_its_hold(engine: Engine, site: Site) -> None:
    h = harness(engine, site)
    h.feed(STUCK, 0, 6)
    (alert,) = h.service.list_alerts().items
    assert alert.ticket_id
    reason = "passengers evacuated; the car waits for the lift company"
    h.act(alert.ticket_id, TicketAction.RESOLVE, 100, actor="mgr-zhao", override_reason=reason)
    h.service.tick(h.at(100 + DAY))
    assert h.kinds("follow_up") == []  # still firing: nobody asks the owners whether all is well
    h.feed(MOVING, 100 + DAY + 10, 3)  # normal again: the resolve hold (60 s) starts
    h.service.tick(h.at(100 + DAY + 69))
    assert h.service.get_alert(alert.id).state is AlertState.FIRING and h.kinds("follow_up") == []
    h.service.tick(h.at(100 + DAY + 75))
    (follow,) = h.kinds("follow_up")
    assert follow.ticket == alert.ticket_id and follow.at == h.at(100 + DAY + 75)


def test_the_rota_names_who_is_told_first(engine: Engine, site: Site) -> None:
    rota = (RotaEntry(day="eng-wang", night="sup-li"),)
    h = Harness(engine, dataclasses.replace(site, rota=rota), words=False)
    h.feed(STUCK, 0, 6)  # T0 is 16:00 in Shanghai: staffed hours
    h.feed(STUCK, 5 * 3600, 6, asset="b2-elev-1")  # 21:00: night duty
    assert [[p.id for p in n.staff] for n in h.kinds("opened")] == [["eng-wang"], ["sup-li"]]
    assert timedelta(0) < h.at(5 * 3600) - T0


def test_the_spool_nearly_full_opens_a_data_path_alert_that_tells_staff_and_never_owners(
    engine: Engine, site: Site
) -> None:
    h = Harness(engine, site)
    fire(h, DATAPATH_ASSET, "datapath.spool_nearly_full", 0, level=Level.ORANGE)
    (alert,) = h.service.list_alerts().items
    assert (alert.asset, alert.kind, alert.state) == (
        DATAPATH_ASSET,
        "datapath.spool_nearly_full",
        AlertState.FIRING,
    )
    assert alert.ticket_id is not None
    told = h.notified()
    assert told and all(audience != "owners" for audience, _ in told)
    fire(h, DATAPATH_ASSET, "datapath.spool_nearly_full", 60, active=False, level=Level.ORANGE)
    h.service.tick(h.at(3600))
    assert h.service.get_alert(alert.id).state is AlertState.RESOLVED
