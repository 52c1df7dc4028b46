"""A crash between queueing a finding and committing it loses nothing (alerts/engine/intake.py).

``facwatch run --only gateway,alerts`` as a real process on real Mosquitto and PostgreSQL: the database is
stopped, an elevator traps someone, the finding is queued in ``findings.db``, and the process is killed with
SIGKILL. With the database back and the process started again, the queued finding is committed first: one
RED entrapment alert at the onset's event time, its ticket saying it opened late.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from facwatch.model import ms_from_utc
from facwatch.state import open_engine
from tests.fixtures.facwatch_process import FacwatchProcess
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres_stoppable import StoppablePostgres, stoppable_postgres  # noqa: F401
from tests.fixtures.servers import stop_process
from tests.fixtures.waiting import wait_until
from tests.reliability.safety_harness import ELEVATOR, ENTRAPMENT, Elevator

pytestmark = pytest.mark.integration


class Worker(FacwatchProcess):
    """``facwatch run --only gateway,alerts`` in a subprocess that runs this worktree's code."""

    def __init__(self, workdir: Path, broker_url: str, state_url: str) -> None:
        self.workdir = workdir
        self.config = workdir / "facwatch.toml"
        self.config.write_text(
            f'data_dir = "{workdir / "data"}"\nsite = "demo"\nlog_format = "json"\n'
            f'[mqtt]\nurl = "{broker_url}"\nclient_id = "facwatch-crash"\n'
            f'[state]\nurl = "{state_url}"\n[intake]\ntell_fallback_after_s = 3600\n',
            encoding="utf-8",
        )
        super().__init__(self.config, workdir / "worker.log", "gateway,alerts", marker='"gateway.started"')

    def queued(self) -> list[bytes]:
        """The bodies waiting in the findings queue file."""
        path = self.workdir / "data" / "findings.db"
        if not path.exists():
            return []
        with contextlib.closing(sqlite3.connect(path)) as conn:
            try:
                return [bytes(row[0]) for row in conn.execute("SELECT body FROM findings_queue")]
            except sqlite3.OperationalError:
                return []


def test_sigkill_with_a_finding_queued_and_the_database_away(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    stoppable_postgres: StoppablePostgres,  # noqa: F811
) -> None:
    pg = stoppable_postgres
    worker = Worker(tmp_path, mosquitto.url, pg.url)
    elevator = Elevator(mosquitto.host, mosquitto.port)
    try:
        worker.start()
        elevator.start()
        pg.stop()
        onset = elevator.trap()
        entrapment = ENTRAPMENT.encode()
        wait_until(lambda: any(entrapment in b for b in worker.queued()), 20, "the entrapment in findings.db")
        worker.kill()  # SIGKILL: the finding is only in the queue file
        elevator.close()  # nothing new: what opens the alert can only come from the queue
        pg.start()
        worker.start()
        engine = open_engine(pg.url)
        query = text("SELECT id, level, state, opened_at FROM alerts WHERE asset = :a AND kind = :k")

        def alerts() -> list[tuple[int, str, str, object]]:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(query, {"a": ELEVATOR, "k": ENTRAPMENT})]

        wait_until(lambda: alerts(), 20, "the RED entrapment alert after the restart")
        [(alert_id, level, state, opened_at)] = alerts()
        assert (level, state) == ("red", "firing")
        assert isinstance(opened_at, datetime)
        assert onset <= ms_from_utc(opened_at) <= onset + 8_000
        notes = text(
            "SELECT e.note FROM ticket_events e JOIN ticket_alerts t ON t.ticket_id = e.ticket_id "
            "WHERE t.alert_id = :a AND e.action = 'opened_late'"
        )
        with engine.connect() as conn:
            late = [row[0] for row in conn.execute(notes, {"a": alert_id})]
        assert late and "(facwatch restarted)" in late[0]
        wait_until(lambda: not worker.queued(), 10, "the queue emptied")
        engine.dispose()
    finally:
        elevator.close()
        stop_process(worker.proc, timeout=30)
