"""The elevator field faults end to end through the alert service on a real state database (SQLite and
PostgreSQL): readings in, the alert, its ticket and the people told out; on inspection, nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from facwatch.model import Level, Site
from tests.alerts.helpers import AT_FLOOR, DATABASES, MOVING, STUCK, Harness, demo_site, state_engine
from tests.fixtures.receivers import HttpReceiver


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


@pytest.fixture
def site(http_receiver: HttpReceiver) -> Site:
    return demo_site(http_receiver)


def test_a_passenger_trapped_at_a_landing_opens_a_red_alert_and_people_are_told(
    engine: Engine, site: Site
) -> None:
    h = Harness(engine, site)
    h.feed(MOVING, 0, 2)
    h.feed(AT_FLOOR, 2, 59)  # at a landing, doors shut, someone inside: under a minute, nothing yet
    assert h.service.list_alerts().items == [] and h.notified() == []
    h.feed(AT_FLOOR, 61, 2)
    (alert,) = h.service.list_alerts().items
    assert (alert.kind, alert.level, alert.asset) == (
        "elevator.entrapment_at_landing",
        Level.RED,
        "b1-elev-1",
    )
    assert alert.ticket_id is not None
    assert h.notified(), "the on-call engineer and the building's owners are told"


def test_a_passenger_at_a_landing_who_presses_the_alarm_gets_a_red_alert_at_once(
    engine: Engine, site: Site
) -> None:
    h = Harness(engine, site)
    h.feed(MOVING, 0, 2)
    h.feed(AT_FLOOR, 2, 5)  # at a landing, doors shut, someone inside: a slow rider, for all anyone knows
    assert h.service.list_alerts().items == [] and h.notified() == []
    h.feed({**AT_FLOOR, "alarm_button": 1}, 7, 1)  # ... who presses the alarm button: no minute to wait
    (alert,) = h.service.list_alerts().items
    assert (alert.kind, alert.level, alert.asset) == (
        "elevator.entrapment_at_landing",
        Level.RED,
        "b1-elev-1",
    )
    assert alert.ticket_id is not None
    assert h.notified(), "the on-call engineer and the building's owners are told"
    h.feed({**AT_FLOOR, "alarm_button": 1}, 8, 60)  # the minute passes too: still the one alert
    assert len(h.service.list_alerts().items) == 1


def test_a_car_moving_with_its_doors_open_opens_a_red_alert_within_seconds(
    engine: Engine, site: Site
) -> None:
    h = Harness(engine, site)
    h.feed({**AT_FLOOR, "door_open": 1}, 0, 3)
    h.feed({**AT_FLOOR, "door_open": 1, "in_door_zone": 0, "speed_mps": 0.15, "running": 0}, 3, 2)
    (alert,) = h.service.list_alerts().items
    assert (alert.kind, alert.level) == ("elevator.moving_doors_open", Level.RED)
    assert h.notified()


def test_a_technician_on_inspection_raises_no_alert(engine: Engine, site: Site) -> None:
    h = Harness(engine, site)
    h.feed(MOVING, 0, 2)
    h.feed({**STUCK, "inspection_mode": 1}, 2, 120)  # between floors, doors shut, 150 kg inside
    h.feed({**STUCK, "inspection_mode": 1, "alarm_button": 1}, 122, 5)  # testing the alarm button
    h.feed({**STUCK, "inspection_mode": 0}, 127, 6)  # the same car without the switch: trapped people
    (alert,) = h.service.list_alerts().items
    assert (alert.kind, alert.level) == ("elevator.entrapment", Level.RED)
    assert 0 <= (alert.opened_at - h.at(127)).total_seconds() <= 5
