"""A device whose clock steps back must not be blind until its clock catches up (ARCHITECTURE.md, "Guarantees").

The power blip that traps someone in an elevator often reboots its controller, whose clock then restarts a
few minutes behind (until NTP sets it). Its readings are still within ``max_skew_s``, so they are stored,
but each channel "already said something newer": before the fix every reading was ignored as late, the car
showed online, and the entrapment raised nothing until the device's clock passed its last reading before
the reboot — a RED two minutes late for a clock two minutes behind, a day late for one a day behind.

Now a device whose readings have all been late for a few seconds of wall time has stepped back: its event
time continues from where it was (the readings are judged that much later) and the entrapment is RED within
seconds, opened at the present, not two minutes ago.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until
from tests.reliability.safety_harness import Elevator, firing_red, posts, worker

pytestmark = pytest.mark.integration

BEHIND_MS = 120_000  # the controller's clock after its reboot


def test_an_entrapment_after_the_elevators_clock_stepped_back_is_red_within_seconds(
    tmp_path: Path, mosquitto: MosquittoBroker, http_receiver: HttpReceiver
) -> None:
    system = worker(tmp_path, mosquitto.url, http_receiver)
    elevator = Elevator(mosquitto.host, mosquitto.port)
    try:
        elevator.start()
        wait_until(lambda: system.intake.committed > 0, 15, "the parked car judged")
        time.sleep(2.5)  # a few readings at the right time: the channels' clocks stand at the present
        before = len(posts(http_receiver, "people"))
        elevator.ahead_ms = -BEHIND_MS  # rebooted: its clock two minutes behind, someone trapped inside
        trapped = time.time()
        elevator.trap()
        wait_until(lambda: firing_red(system) is not None, 20, "RED within 20 s of the entrapment")
        red = firing_red(system)
        assert red is not None
        opened = red.opened_at.astimezone(UTC)
        assert abs((opened - datetime.fromtimestamp(trapped, UTC)).total_seconds()) < 20, opened
        wait_until(
            lambda: any("[RED]" in str(body) for body in posts(http_receiver, "people")[before:]),
            20,
            "the on-call engineer told of the RED",
        )
    finally:
        elevator.close()
        system.stop()
