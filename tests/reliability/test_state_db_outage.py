"""A state-database outage delays a RED alert; it never loses it (ARCHITECTURE.md, "No finding is lost").

PostgreSQL is stopped for 30 s at the onset of an entrapment, and once at a seeded random moment around
it; readings keep landing meanwhile. Once it is back: exactly one RED entrapment alert, opened at the
onset's event time (not when the database came back), notified once, its ticket's timeline saying it opened
late and why; the fallback person was told directly while the database was gone. The same with the SQLite
state database held under an exclusive lock by another process.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from facwatch.model import TelemetryQuery, ms_from_utc
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres_stoppable import StoppablePostgres, stoppable_postgres  # noqa: F401
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until
from tests.reliability.safety_harness import Elevator, entrapments, firing_red, posts, worker

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0


@pytest.mark.parametrize("moment", ["onset", "random"])
def test_postgres_stopped_at_an_entrapment(
    moment: str,
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    stoppable_postgres: StoppablePostgres,  # noqa: F811
    http_receiver: HttpReceiver,
) -> None:
    pg = stoppable_postgres
    system = worker(tmp_path, mosquitto.url, http_receiver, pg.url, intake={"tell_fallback_after_s": 10})
    elevator = Elevator(mosquitto.host, mosquitto.port)
    try:
        elevator.start()
        wait_until(lambda: system.intake.committed > 0, 15, "the engine commits the parked car's readings")
        # onset: the database goes as the car stops; random: up to 3 s before or 6 s after the onset
        offset = 0.0 if moment == "onset" else random.Random(12).uniform(-3.0, 6.0)
        if offset < 0:
            pg.stop()
            time.sleep(-offset)  # the outage is already on; the car stops within it
            onset = elevator.trap()
        else:
            onset = elevator.trap()
            time.sleep(offset)
            pg.stop()
        stopped_at = time.monotonic()
        window = TelemetryQuery("lakeside", "b1-elev-1", "load_kg", onset, onset + 600_000)
        stored = system.store.query(window)
        wait_until(
            lambda: system.intake.backlog() > 0 or firing_red(system) is not None, 15, "findings queued"
        )
        # readings keep landing in the telemetry store while the state database is gone
        wait_until(
            lambda: len(system.store.query(window)) >= len(stored) + 10,
            20,
            "readings stored during the outage",
        )
        wait_until(lambda: posts(http_receiver, "/fallback"), OUTAGE_S, "the fallback person told directly")
        wait_until(lambda: time.monotonic() - stopped_at >= OUTAGE_S, OUTAGE_S + 1, "30 s of outage")
        pg.start()
        back = time.monotonic()
        wait_until(lambda: firing_red(system) is not None, 15, "the RED entrapment alert")
        assert time.monotonic() - back < 10
        alert = firing_red(system)
        assert alert is not None
        # the onset's event time (the detector's 4 s hold), not the time the database came back
        opened_ms = ms_from_utc(alert.opened_at)
        assert onset <= opened_ms <= onset + 8_000, opened_ms - onset
        assert len(entrapments(system)) == 1
        assert alert.ticket_id is not None
        ticket = system.alerts.get_ticket(alert.ticket_id)
        late = [e for e in ticket.timeline if e.action == "opened_late"]
        assert late and "state database unreachable for" in late[0].note, ticket.timeline
        # notified once: the engineers' RED message arrives, and no message arrives twice
        wait_until(
            lambda: _mentions(posts(http_receiver, "/people"), alert.ticket_id), 15, "RED notification"
        )
        texts = [orjson.dumps(p) for p in posts(http_receiver, "/people")]
        assert max(Counter(texts).values()) == 1
        told = posts(http_receiver, "/fallback")
        assert "state database unreachable" in orjson.dumps(told[0]).decode()
        if offset <= 4.0:  # the finding was queued before the fallback person was told: it is named
            assert "elevator.entrapment on b1-elev-1" in orjson.dumps(told[0]).decode()
        wait_until(lambda: system.intake.backlog() == 0, 10, "the queue drained")
    finally:
        elevator.close()
        if not pg.running:
            pg.start()
        system.stop()


def _mentions(bodies: list[object], ticket: str | None) -> bool:
    return ticket is not None and any(ticket in orjson.dumps(b).decode() for b in bodies)


def test_sqlite_state_database_locked_at_an_entrapment(
    tmp_path: Path, mosquitto: MosquittoBroker, http_receiver: HttpReceiver
) -> None:
    """The SQLite state database held by another process (an exclusive lock) for 35 s at the onset: each
    write waits its 30 s busy timeout and fails, like a database that does not answer."""
    system = worker(tmp_path, mosquitto.url, http_receiver, intake={"tell_fallback_after_s": 10})
    elevator = Elevator(mosquitto.host, mosquitto.port)
    blocker = sqlite3.connect(tmp_path / "state.db", isolation_level=None, timeout=30)
    try:
        elevator.start()
        wait_until(lambda: system.intake.committed > 0, 15, "the engine commits the parked car's readings")
        blocker.execute("BEGIN EXCLUSIVE")
        locked = time.monotonic()
        onset = elevator.trap()
        wait_until(lambda: system.intake.backlog() > 0, 15, "the entrapment queued")
        wait_until(lambda: posts(http_receiver, "/fallback"), 45, "the fallback person told directly")
        assert (
            "elevator.entrapment on b1-elev-1" in orjson.dumps(posts(http_receiver, "/fallback")[0]).decode()
        )
        wait_until(lambda: time.monotonic() - locked >= 35, 36, "35 s of lock")
        blocker.execute("ROLLBACK")
        wait_until(lambda: firing_red(system) is not None, 15, "the RED entrapment alert")
        alert = firing_red(system)
        assert alert is not None and alert.ticket_id is not None
        assert onset <= ms_from_utc(alert.opened_at) <= onset + 8_000
        assert len(entrapments(system)) == 1
        timeline = system.alerts.get_ticket(alert.ticket_id).timeline
        assert any(e.action == "opened_late" and "unreachable for" in e.note for e in timeline), timeline
        wait_until(
            lambda: _mentions(posts(http_receiver, "/people"), alert.ticket_id), 15, "RED notification"
        )
        texts = [orjson.dumps(p) for p in posts(http_receiver, "/people")]
        assert max(Counter(texts).values()) == 1
    finally:
        blocker.close()
        elevator.close()
        system.stop()
