"""Detection is neither blinded by one bad reading nor held up by storage (ARCHITECTURE.md, "Guarantees").

- A reading dated six days ahead, then an entrapment on the same elevator: RED within 10 s (the reading is
  a ``future_timestamp`` dead letter and moves no detector's clock). The same sent as a retained message,
  which the broker hands out again at every gateway restart (``retained`` dead letter).
- The telemetry store down and its spool full: an entrapment still raises RED within 10 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from facwatch.app import System
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until
from tests.reliability.safety_harness import PARKED, Elevator, firing_red, worker

pytestmark = pytest.mark.integration

SIX_DAYS_MS = 6 * 86_400_000


def _letters(system: System, reason: str) -> int:
    return int(system.dead_letters.counts().get(reason, 0))


def _red_within(system: System, elevator: Elevator, seconds: float) -> None:
    trapped = time.monotonic()
    elevator.trap()
    wait_until(lambda: firing_red(system) is not None, seconds, f"RED entrapment within {seconds:g} s")
    assert time.monotonic() - trapped <= seconds


@pytest.mark.parametrize("retained", [False, True], ids=["live", "retained"])
def test_a_future_dated_reading_does_not_blind_the_elevator(
    retained: bool, tmp_path: Path, mosquitto: MosquittoBroker, http_receiver: HttpReceiver
) -> None:
    system = worker(tmp_path, mosquitto.url, http_receiver)
    elevator = Elevator(mosquitto.host, mosquitto.port)
    try:
        elevator.start()
        wait_until(lambda: system.intake.committed > 0, 15, "the parked car judged")
        elevator.send(int(time.time() * 1000) + SIX_DAYS_MS, PARKED, retain=retained)
        wait_until(lambda: _letters(system, "future_timestamp") == 1, 10, "a future_timestamp dead letter")
        if retained:
            # The broker hands the retained message out again on every new subscription.
            system.stop()
            system = worker(tmp_path, mosquitto.url, http_receiver)
            wait_until(
                lambda: _letters(system, "retained") == 1, 10, "a retained dead letter after the restart"
            )
            assert _letters(system, "future_timestamp") == 1
        _red_within(system, elevator, 10.0)
    finally:
        elevator.close()
        system.stop()


def test_store_down_and_spool_full_an_entrapment_still_raises_red(
    tmp_path: Path, mosquitto: MosquittoBroker, http_receiver: HttpReceiver
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # an InfluxDB that is down: nothing listens there
    telemetry = {
        "backend": "influxdb",
        "influx_url": nobody,
        "influx_token": "t",
        "influx_org": "o",
        "influx_bucket": "b",
        "influx_timeout_s": 1,
        "influx_retries": 0,
        "spool": {"max_mb": 0.002},  # about ten batches
    }
    system = worker(tmp_path, mosquitto.url, http_receiver, telemetry=telemetry)
    elevator = Elevator(mosquitto.host, mosquitto.port)
    try:
        elevator.start()
        spooling = system.telemetry.spooling
        assert spooling is not None
        spool = spooling.spool
        wait_until(lambda: spool.bytes > spool.max_bytes * 0.8, 30, "the spool nearly full")
        acked = system.gateway.queue_depth() if system.gateway else 0
        wait_until(
            lambda: system.gateway is not None and system.gateway.queue_depth() > acked + 2,
            10,
            "messages waiting unacknowledged behind the full spool",
        )
        _red_within(system, elevator, 10.0)
    finally:
        elevator.close()
        if system.gateway is not None:
            system.gateway.stop(timeout_s=1)  # the store is still down: leave the rest to the broker
        system.stop()
