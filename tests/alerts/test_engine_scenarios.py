"""Scenarios on event time with the simulator (simulator.engine.Simulation): the demo site's physics and
faults, the detectors' rules, the engine on a real state database, time driven by the simulation.

- an entrapment gives a RED alert within 10 s of its onset and, with nobody acting, escalations at the
  chain's minute marks; a check-in with the posted code stops the on-site clock;
- three pipe bursts within 30 simulated days give a YELLOW rectification with a 48-hour deadline;
- a power outage while an elevator moves, with devices of the building dropping off the network, gives one
  outage alert and one possible-entrapment alert, not a flood.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.engine.ports import ActionRequest, AlertQuery
from facwatch.model import AlertState, Finding, Level, Reading, Site, TicketAction, ms_from_utc, utc_from_ms
from simulator.engine import Simulation, Tick
from simulator.scenario import parse_scenario
from tests.alerts.helpers import DATABASES, Harness, demo_site, state_engine
from tests.fixtures.receivers import HttpReceiver

START = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai: the morning peak, elevators busy
DAY_S = 86400


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


@pytest.fixture
def site(http_receiver: HttpReceiver) -> Site:
    return demo_site(http_receiver)


def simulation(site: Site, faults: str, start: datetime = START) -> Simulation:
    return Simulation(site, parse_scenario(f'name = "test"\n{faults}'), seed=1, start_ms=ms_from_utc(start))


def readings(site: Site, ticks: Iterable[Tick]) -> list[Reading]:
    """What the gateway would hand the engine: one reading per channel of every tick that went out."""
    return [
        Reading(site.id, t.asset.id, channel, t.ts_ms, float(value))
        for t in ticks
        if t.wire != "offline"
        for channel, value in t.values.items()
    ]


def run(h: Harness, sim: Simulation, seconds: int, assets: set[str], tick: bool = True) -> None:
    """Step the simulation second by second: the assets' readings to the engine, then its clocks."""
    for _ in range(seconds):
        ticks = [t for t in sim.step() if t.asset.id in assets]
        batch = readings(h.site, ticks)
        if batch:
            h.service.observe(batch)
        if tick:
            h.service.tick(utc_from_ms(ticks[0].ts_ms) if ticks else utc_from_ms(sim.now_ms))


def test_entrapment_is_red_within_10_s_and_escalates_at_the_minute_marks(engine: Engine, site: Site) -> None:
    h = Harness(engine, site, words=False)
    sim = simulation(
        site, '[[faults]]\nasset = "b2-elev-1"\nkind = "entrapment"\nat_s = 30\nduration_s = 900'
    )
    onset = START + timedelta(seconds=30)
    run(h, sim, 30 + 250, {"b2-elev-1"})
    (alert,) = h.service.list_alerts(AlertQuery(state=AlertState.FIRING)).items
    assert alert.kind == "elevator.entrapment" and alert.level is Level.RED
    assert timedelta(0) <= alert.opened_at - onset <= timedelta(seconds=10)
    (opened,) = h.kinds("opened")
    assert [p.id for p in opened.staff] == ["eng-wang"]
    marks = [
        (round((n.at - alert.opened_at).total_seconds()), n.staff[0].id, n.detail["reason"])
        for n in h.kinds("escalated")
    ]
    assert marks == [
        (60, "sup-li", "escalated: acknowledge clock ran out"),  # nobody acknowledged within a minute
        (120, "mgr-zhao", "escalated: acknowledge clock ran out"),  # a reminder a minute later, up the chain
        (180, "mgr-zhao", "escalated: on-site clock ran out"),  # nobody on site within 3 minutes
        (240, "mgr-zhao", "escalated: on-site clock ran out"),  # and on, every minute, until someone acts
    ]


def test_a_check_in_stops_the_on_site_clock(engine: Engine, site: Site) -> None:
    h = Harness(engine, site, words=False)
    sim = simulation(
        site, '[[faults]]\nasset = "b2-elev-1"\nkind = "entrapment"\nat_s = 30\nduration_s = 900'
    )
    run(h, sim, 45, {"b2-elev-1"})
    (alert,) = h.service.list_alerts().items
    assert alert.ticket_id
    opened = alert.opened_at
    h.service.act(
        alert.ticket_id, ActionRequest(TicketAction.ACKNOWLEDGE, "eng-wang"), opened + timedelta(seconds=20)
    )
    run(h, sim, 100, {"b2-elev-1"})
    checkin = ActionRequest(TicketAction.CHECK_IN, "eng-wang", checkin_code="LMEJ-YL5Z")
    ticket = h.service.act(alert.ticket_id, checkin, opened + timedelta(seconds=150))
    assert ticket.on_site_at == opened + timedelta(seconds=150)
    run(h, sim, 400, {"b2-elev-1"})
    assert h.kinds("escalated") == []  # acknowledged in 20 s, on site in 150 s: no clock ran out


def test_three_pipe_bursts_in_30_days_give_a_yellow_with_a_48_hour_deadline(
    engine: Engine, site: Site
) -> None:
    h = Harness(engine, site, words=False)
    burst = '[[faults]]\nasset = "b1-pump-1"\nkind = "pipe_burst"\nat_s = 60\nduration_s = 240'
    for day in (0, 11, 23):
        start = START + timedelta(days=day)
        run(h, simulation(site, burst, start), 420, {"b1-pump-1"}, tick=False)
        h.service.tick(start + timedelta(hours=2))  # normal since: the burst's alert resolves
    bursts = [a for a in h.service.list_alerts().items if a.kind == "pump.pipe_burst"]
    assert len(bursts) == 3 and all(a.state is AlertState.RESOLVED for a in bursts)
    (rectify,) = h.service.list_alerts(AlertQuery(level=Level.YELLOW)).items
    assert rectify.kind == "pump.pipe_burst.recurrence" and rectify.state is AlertState.FIRING
    third = max(a.opened_at for a in bursts)
    assert rectify.opened_at == third and rectify.ticket_id
    ticket = h.service.get_ticket(rectify.ticket_id)
    assert ticket.level is Level.YELLOW and ticket.deadlines.fixed == third + timedelta(hours=48)


def moving_window(site: Site) -> int:
    """The first second (after warm-up) at which b1-elev-1 has been moving for 3 s and goes on for 3 s."""
    sim = simulation(site, "")
    speeds = []
    for _ in range(900):
        (tick,) = [t for t in sim.step() if t.asset.id == "b1-elev-1"]
        speeds.append(abs(float(tick.values["speed_mps"])))
    for s in range(60, len(speeds) - 3):
        if all(v > 0.5 for v in speeds[s - 3 : s + 3]):
            return s
    raise AssertionError("b1-elev-1 never moved in the simulated quarter hour")


def test_a_power_outage_with_a_moving_elevator_is_one_outage_and_one_possible_entrapment(
    engine: Engine, site: Site
) -> None:
    h = Harness(engine, site, words=False)
    at = moving_window(site)
    faults = f'[[faults]]\nasset = "b1-panel"\nkind = "power_outage"\nat_s = {at}\nduration_s = 600\n'
    for asset in ("b1-elev-2", "b1-pump-1"):  # the building's devices drop off the network with the power
        faults += (
            f'[[faults]]\nasset = "{asset}"\nkind = "device_offline"\nat_s = {at + 1}\nduration_s = 600\n'
        )
    sim = simulation(site, faults)
    building = {a.id for a in site.assets if a.building == "b1"}
    offline_seen: set[str] = set()
    presence: list[Finding] = []  # as the gateway's presence raises them: 3 s after the device went quiet
    for _ in range(at + 120):
        ticks = [t for t in sim.step() if t.asset.id in building]
        now_ms = ticks[0].ts_ms
        h.service.observe(readings(site, ticks))
        for t in ticks:
            if t.wire == "offline" and t.asset.id not in offline_seen:
                offline_seen.add(t.asset.id)
                presence.append(
                    Finding(
                        site.id, t.asset.id, "device.offline", t.ts_ms + 3000, True, Level.BLUE, "offline"
                    )
                )
        due = [f for f in presence if f.ts_ms <= now_ms]
        presence = [f for f in presence if f.ts_ms > now_ms]
        h.service.observe_findings(due)
        h.service.tick(utc_from_ms(now_ms))
    assert offline_seen == {"b1-elev-2", "b1-pump-1"}
    told = sorted((n.asset.id if n.asset else "", n.level) for n in h.kinds("opened"))
    assert told == [("b1-elev-1", Level.RED), ("b1-panel", Level.RED)]
    alerts = h.service.list_alerts().items
    kinds = sorted(a.kind for a in alerts if a.suppressed_by is None)
    assert kinds == ["elevator.possible_entrapment", "power.outage"]
    assert sorted(a.kind for a in alerts if a.suppressed_by) == ["device.offline", "device.offline"]
    assert len(h.service.list_tickets().items) == 2
