"""A device whose every reading is refused is blind, and must be seen as such (ARCHITECTURE.md, "Guarantees").

An elevator's controller whose clock runs 90 s ahead (a reset RTC, a wrong NTP server) dates every reading
beyond ``max_future_s``: each one is a ``future_timestamp`` dead letter, so none reaches a detector and an
entrapment in that car raises nothing. facwatch cannot judge such readings, but it must not show the car as
online meanwhile: a message that brought no usable reading is not the device being heard from. The car goes
``device.offline`` (its summary says why: its readings are refused, and the reason), and the on-call
engineer is told, as for a silent device. Before the fix, the refused messages kept the car "online": no
alert, no message, an entrapment lost without a sign.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.engine.ports import AlertQuery
from facwatch.app import System
from facwatch.model import Alert, AlertState
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until
from tests.reliability.safety_harness import ELEVATOR, Elevator, firing_red, posts, worker

pytestmark = pytest.mark.integration

AHEAD_MS = 90_000  # beyond the default max_future_s of 60 s
CAR_NAME = "1号楼1单元电梯"  # b1-elev-1 in the demo site, as the engineers' messages name it


def _offline(system: System) -> Alert | None:
    page = system.alerts.list_alerts(AlertQuery(asset=ELEVATOR, limit=50))
    found = [a for a in page.items if a.kind == "device.offline" and a.state is AlertState.FIRING]
    return found[0] if found else None


def _told(receiver: HttpReceiver, after: int) -> list[str]:
    """Messages since ``after`` that name the car (the engineers' messages name it as the site file does)."""
    return [str(body) for body in posts(receiver, "people")[after:] if CAR_NAME in str(body)]


def test_an_elevator_whose_readings_are_all_refused_goes_offline_and_the_engineer_is_told(
    tmp_path: Path, mosquitto: MosquittoBroker, http_receiver: HttpReceiver
) -> None:
    system = worker(tmp_path, mosquitto.url, http_receiver, sla={"resolve_hold_s": 5})
    elevator = Elevator(mosquitto.host, mosquitto.port)
    try:
        elevator.start()
        wait_until(lambda: system.intake.committed > 0, 15, "the parked car judged")
        assert _offline(system) is None
        before = len(posts(http_receiver, "people"))
        elevator.ahead_ms = AHEAD_MS  # its clock jumps ahead, and someone is trapped from now on
        elevator.trap()
        wait_until(
            lambda: system.dead_letters.counts().get("future_timestamp", 0) >= 3, 15, "refused readings"
        )
        wait_until(lambda: _offline(system), 20, "b1-elev-1 device.offline while its readings are refused")
        alert = _offline(system)
        assert alert is not None
        assert "refused" in alert.summary and "future_timestamp" in alert.summary, alert.summary
        wait_until(lambda: _told(http_receiver, before), 60, "the on-call engineer told of b1-elev-1")
        assert firing_red(system) is None  # nothing can be judged from those readings: blind, but not hidden
        # Its clock is set right again: readings count, the car is online and the entrapment is RED.
        elevator.ahead_ms = 0
        wait_until(lambda: firing_red(system) is not None, 15, "the entrapment RED once readings count")
        wait_until(lambda: _offline(system) is None, 30, "b1-elev-1 back online")
    finally:
        elevator.close()
        system.stop()
