"""DRAFT, not collected (not named ``test_*``): not stable yet. Of six runs on the loaded machine one went
through every step but a last assertion since corrected, one failed waiting for the engineers' overdue-visit
YELLOW (it came grouped in a digest among the devices' offline/online notices), one hung after a failure
(in teardown, cause not found). Rename to ``test_month_mqtt.py`` once stable.

A scripted month through the simulator and real Mosquitto: the whole system (gateway, intake, engine,
outbox, apprise, API) runs on a clock that the script moves from one scripted moment to the next and that
runs at the wall clock's pace in between, while the simulator publishes each moment's readings over MQTT
in the same event time. An elevator's maintenance window from the site file (a door fault during it
recorded, not told; an entrapment during it told with the window noted), the owners told the day before and
after; a missed visit (a YELLOW to the engineers, closed by the visit recorded through the API) and an
expiring inspection certificate (a YELLOW). What owners and engineers receive is read at a real HTTP receiver.

The simulator's devices disconnect between the scripted moments (they go offline and come back), so the
engineers also hear of that; their messages then come grouped (a digest lists each), hence the longer waits.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from facwatch.app import System, build
from facwatch.config import load_settings
from facwatch.model import Maintenance, MaintenancePlan, MaintenanceWindow, Site, ms_from_utc
from simulator.publisher import run_publisher
from simulator.scenario import load_scenario
from tests.alerts.helpers import demo_site
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration

ELEVATOR, OTHER = "b1-elev-1", "b1-elev-2"
DAY = timedelta(days=1)
D0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, day 0 of the month
WINDOW_START = D0 + 3 * DAY + timedelta(hours=7)  # day 3, 16:00 in Shanghai
WINDOW = MaintenanceWindow(
    "S-1",
    ELEVATOR,
    WINDOW_START,
    WINDOW_START + timedelta(hours=2),
    None,
    "半月保养 half-monthly maintenance",
)


class ScriptClock:
    """The system's clock: set to each scripted moment, running at the wall clock's pace from there."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._base, self._t0 = start, time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=time.monotonic() - self._t0)

    def set(self, when: datetime) -> None:
        with self._lock:
            self._base, self._t0 = when, time.monotonic()


def compound(receiver: HttpReceiver) -> Site:
    plans = (
        MaintenancePlan(ELEVATOR, 15.0, last_visit=D0 - 10 * DAY),  # due on day 5
        MaintenancePlan(
            OTHER, 45.0, certificate="TSX-0113", certificate_expires=D0 + 40 * DAY, last_visit=D0
        ),
    )
    return dataclasses.replace(demo_site(receiver), maintenance=Maintenance(plans=plans, windows=(WINDOW,)))


@pytest.fixture
def month(
    tmp_path: Path, mosquitto: Any, http_receiver: HttpReceiver
) -> Iterator[tuple[System, ScriptClock]]:
    settings = load_settings(data_dir=tmp_path, api={"port": free_port()})
    settings.mqtt.url = str(mosquitto.url)
    clock = ScriptClock(D0)
    system = build(settings, compound(http_receiver), clock=clock)
    system.start()
    try:
        yield system, clock
    finally:
        system.stop()


def publish(system: System, clock: ScriptClock, tmp: Path, seconds: float, faults: str = "") -> None:
    """The simulator's readings for ``seconds`` from the clock's now, over MQTT, with ``faults``."""
    scenario = tmp / f"scenario-{time.monotonic_ns()}.toml"
    scenario.write_text(faults or "", encoding="utf-8")
    run_publisher(
        system.site,
        load_scenario(str(scenario)),
        system.settings.mqtt.url,
        speed=1.0,
        duration_s=seconds,
        seed=7,
        start_ms=ms_from_utc(clock.now()),
    )


def told(receiver: HttpReceiver, path: str, words: str) -> list[Any]:
    with receiver.lock:
        posts = list(zip(receiver.paths, receiver.received, strict=True))
    return [b for p, b in posts if p.endswith(path) and words in f"{b['title']} {b['message']}"]


def alerts(client: httpx.Client, kind: str) -> list[dict[str, Any]]:
    items = client.get("/api/v1/alerts", params={"limit": 200}).json()["items"]
    return [a for a in items if a["kind"] == kind]


def test_a_month_through_the_simulator(
    month: tuple[System, ScriptClock], http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    system, clock = month
    token = system.tokens.create("month", ["admin"])
    client = httpx.Client(base_url=system.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    publish(system, clock, tmp_path, 5)  # the compound reports in

    # The day before the window (day 2, 16:00): the owners of building 1 are told.
    clock.set(WINDOW_START - DAY)
    wait_until(lambda: told(http_receiver, "owners-b1", "计划维保"), 20, "owners told the day before")

    # During the window: a door fault (ORANGE) is recorded, not told; an entrapment (RED) is told.
    clock.set(WINDOW_START + timedelta(minutes=5))
    publish(system, clock, tmp_path, 40, '[[faults]]\nasset = "b1-elev-1"\nkind = "door_fault"\nat_s = 3\n')
    wait_until(lambda: alerts(client, "elevator.door_fault"), 30, "the door fault recorded")
    clock.set(WINDOW_START + timedelta(minutes=30))
    publish(system, clock, tmp_path, 30, '[[faults]]\nasset = "b1-elev-1"\nkind = "entrapment"\nat_s = 3\n')
    wait_until(lambda: alerts(client, "elevator.entrapment"), 30, "the entrapment alert")
    (red,) = alerts(client, "elevator.entrapment")
    wait_until(lambda: told(http_receiver, "engineer", "困人"), 20, "the engineer told of the entrapment")
    (door,) = alerts(client, "elevator.door_fault")
    assert door["suppressed_by"].startswith("during maintenance S-1") and door["ticket_id"] is None
    assert red["level"] == "red" and red["suppressed_by"] is None
    ticket = client.get(f"/api/v1/tickets/{red['ticket_id']}").json()
    assert any(e["action"] == "during_maintenance" and "S-1" in e["note"] for e in ticket["timeline"])
    assert told(http_receiver, "engineer", "门故障") == []  # the RED came after it; the door fault never did

    # After the window: the owners are told it is over.
    clock.set(WINDOW.end + timedelta(minutes=5))
    wait_until(lambda: told(http_receiver, "owners-b1", "维保已完成"), 20, "owners told it is done")

    # Day 5: the visit is overdue, a YELLOW for the engineers.
    clock.set(D0 + 5 * DAY + timedelta(hours=1))
    wait_until(lambda: alerts(client, "maintenance.overdue"), 20, "the overdue visit")
    wait_until(
        lambda: told(http_receiver, "engineer", "维保逾期"), 60, "the engineer told of the overdue visit"
    )
    # Day 10: the certificate expires within 30 days.
    clock.set(D0 + 10 * DAY + timedelta(hours=1))
    wait_until(lambda: alerts(client, "maintenance.certificate_expiring"), 20, "the expiring certificate")
    wait_until(lambda: told(http_receiver, "engineer", "检验合格证即将到期"), 60, "the engineer told of it")

    # Day 12: the visit is recorded through the API; the overdue alert clears.
    clock.set(D0 + 12 * DAY + timedelta(hours=1))
    visit = {"asset": ELEVATOR, "who": "李师傅 Li", "at": clock.now().isoformat(), "what": "半月保养"}
    assert client.post("/api/v1/maintenance/visits", json=visit).status_code == 201

    def resolved() -> bool:  # each look moves the clock on 10 minutes: the next plan check, then the hold
        clock.set(clock.now() + timedelta(minutes=10))
        return all(a["resolved_at"] for a in alerts(client, "maintenance.overdue"))

    wait_until(resolved, 30, "the overdue alert resolved after the visit")
    (before,) = told(http_receiver, "owners-b1", "计划维保")  # once, however many ticks looked
    assert "12月04日 16:00" in before["message"] and "04 Dec 18:00" in before["message"]
    assert len(told(http_receiver, "owners-b1", "维保已完成")) == 1
    client.close()
