"""A scripted month through the simulator and a real Mosquitto: the whole system (gateway, intake, engine,
outbox, apprise, API; its state on SQLite and on PostgreSQL) on a clock the script moves from one moment to the next, fed by the simulator's
devices, held on the broker for the whole month (``tests/maintenance/month_script.py``), and what owners and
engineers receive read at a real HTTP receiver.

The site file's window S-half-month (its `ref`) on an elevator: its owners told the day before and when it is over, each once; a
door fault the simulator plays during it recorded "during maintenance S-half-month" with no ticket and no message; an
entrapment during it told to the engineer with the window on its ticket's timeline. Day 5 the missed visit
and day 10 the expiring certificate, YELLOWs read through the API and at the engineers' receiver, each a
message of its own; day 12 the visit recorded through the API resolves the overdue alert. No device is
ever heard as offline across the skipped days; the second test shows what the engineers hear when a jump
leaves the devices behind (the draft's trouble). A wait that fails, or a stop that does not return within
45 s, prints every thread's stack.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from facwatch.app import build
from facwatch.config import load_settings
from simulator.fleet import Fleet
from tests.fixtures.postgres import fresh_database
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.servers import free_port

from .month_script import D0, DAY, ELEVATOR, WINDOW, WINDOW_START, ScriptClock, Stage, compound, stop_bounded

pytestmark = pytest.mark.integration

MINUTE = timedelta(minutes=1)
CODE = "QJ9N-39Y3"  # the check-in code at b1-elev-1 (demo site)


@pytest.fixture
def stage(
    request: pytest.FixtureRequest, tmp_path: Path, mosquitto: Any, http_receiver: HttpReceiver
) -> Iterator[Stage]:
    """The system on the embedded SQLite state (the default), or on PostgreSQL (``indirect`` parameter)."""
    with contextlib.ExitStack() as stack:
        state = None
        if getattr(request, "param", "sqlite") == "postgresql":
            database = contextlib.contextmanager(fresh_database)(request.getfixturevalue("postgres_url"))
            state = {"url": stack.enter_context(database).url.render_as_string(hide_password=False)}
        yield from _stage(tmp_path, mosquitto, http_receiver, state)


def _stage(
    tmp_path: Path, mosquitto: Any, http_receiver: HttpReceiver, state: dict[str, str] | None
) -> Iterator[Stage]:
    settings = load_settings(data_dir=tmp_path, api={"port": free_port()}, state=state)
    settings.mqtt.url = str(mosquitto.url)
    settings.sla.resolve_hold_s = 5  # the freed car's alert resolves within the moment, not a minute later
    clock = ScriptClock(D0)
    system = build(settings, compound(http_receiver), clock=clock)
    fleet = Fleet(system.site, str(mosquitto.url), run_id="month")
    stage: Stage | None = None
    system.start()
    try:
        fleet.open()
        stage = Stage(system, clock, fleet, http_receiver)
        yield stage
    finally:
        if stage is not None:
            stage.close()
        try:
            stop_bounded(system)  # first: the devices leaving afterwards is heard by nobody
        finally:
            fleet.close()


@pytest.mark.parametrize("stage", ["sqlite", "postgresql"], indirect=True)
def test_a_month_through_the_simulator(stage: Stage) -> None:
    s = stage
    s.wait(lambda: s.heard_since(D0), 15, "the compound's devices heard")

    # The day before the window (day 2, 16:00): the owners of building 1 are told.
    s.jump(WINDOW_START - DAY)
    s.wait_told("owners-b1", "计划维保")

    # During the window: a door fault (ORANGE) is recorded, not told; an entrapment (RED) is told.
    s.jump(WINDOW_START + 5 * MINUTE)
    with s.moment("month_door"):
        s.wait(lambda: s.alerts("elevator.door_fault"), 30, "the door fault recorded")
    with s.moment("month_entrapment"):
        s.wait(lambda: s.alerts("elevator.entrapment"), 30, "the entrapment alert")
        s.wait_told("engineer", "困人")
    s.act(s.alerts("elevator.entrapment")[0]["ticket_id"], action="acknowledge")
    (door,) = s.alerts("elevator.door_fault")
    assert door["suppressed_by"].startswith("during maintenance S-half-month") and door["ticket_id"] is None
    (red,) = s.alerts("elevator.entrapment")
    assert red["level"] == "red" and red["suppressed_by"] is None and red["ticket_id"] is not None
    ticket = s.ticket(red["ticket_id"])
    assert any(
        e["action"] == "during_maintenance" and "S-half-month" in e["note"] for e in ticket["timeline"]
    )
    assert s.told("", "门故障") == []  # nobody: the RED was sent after it, the door fault never was
    # The engineer shows arrival with the code at the car; the car is freed (a quiet moment: it stands at a
    # landing again), its alert resolves, and the engineer resolves the ticket.
    s.act(red["ticket_id"], action="check_in", checkin_code=CODE)
    with s.moment("quiet"):
        s.wait(lambda: s.alerts("elevator.entrapment")[0]["resolved_at"], 30, "the entrapment resolved")
    s.act(red["ticket_id"], action="resolve", note="乘客已救出 passenger freed")

    # After the window: the owners are told it is over.
    s.jump(WINDOW.end + 5 * MINUTE)
    s.wait_told("owners-b1", "维保已完成")

    # Day 5: the visit is overdue, a YELLOW for the engineers, in a message of its own.
    s.jump(D0 + 5 * DAY + timedelta(hours=1))
    s.wait(lambda: s.alerts("maintenance.overdue"), 20, "the overdue visit")
    (overdue,) = s.alerts("maintenance.overdue")
    assert overdue["level"] == "yellow" and overdue["asset"] == ELEVATOR
    s.jump(s.clock.now() + MINUTE)  # past the engineers' group wait (10 s)
    (told,) = s.wait_told("engineer", "维保逾期")
    assert "维保逾期" in told["message"] and overdue["ticket_id"] in told["title"]
    s.act(overdue["ticket_id"], action="acknowledge")

    # Day 10: the certificate of the other car expires within 30 days: a YELLOW too.
    s.jump(D0 + 10 * DAY + timedelta(hours=1))
    s.wait(lambda: s.alerts("maintenance.certificate_expiring"), 20, "the expiring certificate")
    (cert,) = s.alerts("maintenance.certificate_expiring")
    assert cert["level"] == "yellow" and "TSX-0113" in cert["summary"]
    s.jump(s.clock.now() + MINUTE)
    (told,) = s.wait_told("engineer", "检验合格证即将到期")
    assert "检验合格证即将到期" in told["message"] and cert["ticket_id"] in told["title"]

    # Day 12: the visit recorded through the API clears the overdue alert; it resolves after its hold.
    s.jump(D0 + 12 * DAY + timedelta(hours=1))
    visit = {"asset": ELEVATOR, "who": "李师傅 Li", "at": s.clock.now().isoformat(), "what": "半月保养"}
    answer = s.client.post("/api/v1/maintenance/visits", json=visit)
    assert answer.status_code == 201, answer.text
    s.jump(s.clock.now() + 2 * MINUTE)  # the plan clock's next look clears it; 5 s later it resolves
    s.wait(lambda: s.alerts("maintenance.overdue")[0]["resolved_at"], 20, "the overdue resolved")

    # Each owners' message once, in Chinese, with the window's local times; no device was ever offline.
    (before,) = s.told("owners-b1", "计划维保")
    assert "12月04日 16:00" in before["message"] and "18:00" in before["message"]
    (after,) = s.told("owners-b1", "维保已完成")
    assert "半月保养" in after["message"]
    assert s.alerts("device.offline") == []
    assert s.told("engineer", "设备离线") == []


def test_a_jump_the_devices_miss_is_heard_as_silence(stage: Stage) -> None:
    """Broken on purpose: the clock jumps while the devices say nothing (as when a script restarts the
    simulator between moments), so the gateway judges each of them silent, the offline alerts open and the
    engineers hear of it; once the devices speak again they are back online."""
    s = stage
    s.wait(lambda: s.heard_since(D0), 15, "the compound's devices heard")
    assets = {a.id for a in s.system.site.assets}
    with s.fleet.silent():
        s.clock.set(D0 + DAY)
        s.wait(lambda: {a["asset"] for a in s.alerts("device.offline")} == assets, 20, "all offline")
        s.clock.set(D0 + DAY + MINUTE)  # past the offline rule's pending period and the group wait
        (digest,) = s.wait_told("engineer", "[BLUE]")  # one message listing the nine
        assert "9 条告警与通知" in digest["title"]
    s.wait(lambda: all(a["resolved_at"] for a in s.alerts("device.offline")), 20, "all back online")
