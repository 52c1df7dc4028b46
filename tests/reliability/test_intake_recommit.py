"""A judgement committed again after a crash records its incident once (alerts/engine/intake.py).

The committer deletes a queued judgement only after its commit: a SIGKILL in between commits it again on the
next start. When that judgement held both the onset and the clear (a batch caught up after a restart) and
its alert has resolved since, the repeat used to open a second alert for the same incident (and a second
ticket, and told people again); with three incidents on one asset, that duplicate was the fourth within the
flap window, so the last alert was held open as flapping for an hour (tests/reliability/test_sigkill.py:
"every fault's alert resolved not met within 60 s").

``facwatch run --only gateway,alerts`` runs as a real process on a real Mosquitto; an elevator traps
someone and is freed three times, each alert resolves; the process stops, and its findings queue is given
what the crash would have left there: the last incident's judgement, already committed. Started again, the
process commits it: still three alerts, all resolved, and nothing more in the outbox.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from alerts.engine.intake_queue import FindingsQueue, Judgement
from facwatch.model import Finding, Level
from tests.fixtures.waiting import wait_until
from tests.reliability.harness import PersistentMosquitto
from tests.reliability.safety_harness import ELEVATOR, ENTRAPMENT, PARKED, Elevator
from tests.reliability.test_sigkill import Facwatch, broker, seconds_of

__all__ = ["broker"]

INCIDENTS = 3
"""As often as test_sigkill traps each car: a duplicate makes it the 4th incident within the flap window."""


def queued(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as conn:
        return int(conn.execute("SELECT count(*) FROM findings_queue").fetchone()[0])


def test_a_judgement_committed_again_after_a_crash_records_its_incident_once(
    broker: PersistentMosquitto, tmp_path: Path
) -> None:
    facwatch = Facwatch(tmp_path / "facwatch", broker.url, resolve_hold_s=2)

    def entrapments() -> list[tuple[str, str, str | None, str]]:
        rows = facwatch.query(
            "SELECT state, opened_at, cleared_at, summary FROM alerts WHERE asset = ? AND kind = ? ORDER BY id",
            ELEVATOR,
            ENTRAPMENT,
        )
        return [(str(s), str(o), None if c is None else str(c), str(m)) for s, o, c, m in rows]

    def states() -> list[str]:
        return [r[0] for r in entrapments()]

    def showing(want: list[str]) -> Callable[[], bool]:
        return lambda: states() == want

    def outbox() -> int:
        return int(str(facwatch.query("SELECT count(*) FROM notifications")[0][0]))

    facwatch.start()
    elevator = Elevator("127.0.0.1", broker.port)
    try:
        elevator.start()
        for k in range(1, INCIDENTS + 1):
            firing, resolved = ["resolved"] * (k - 1) + ["firing"], ["resolved"] * k
            elevator.trap()
            wait_until(showing(firing), 30, f"alert {k}")
            elevator.values = dict(PARKED)
            wait_until(showing(resolved), 30, f"alert {k} resolved")
    finally:
        elevator.close()
    facwatch.stop()
    before = entrapments()
    (_, opened, cleared, summary) = before[-1]
    assert cleared is not None
    told = outbox()
    assert told > 0

    # What a SIGKILL between the commit of the incident's judgement and its deletion leaves in the queue.
    onset_ms, clear_ms = (int(seconds_of(t) * 1000) for t in (opened, cleared))
    findings = tuple(
        Finding("lakeside", ELEVATOR, ENTRAPMENT, ts, active, Level.RED, summary)
        for ts, active in ((onset_ms, True), (clear_ms, False))
    )
    now_ms = int(time.time() * 1000)
    path = tmp_path / "facwatch" / "data" / "findings.db"
    queue = FindingsQueue(path)
    queue.append(Judgement(findings, clear_ms + 3_000, now_ms, ((ELEVATOR, clear_ms + 3_000),)), now_ms)
    queue.close()

    facwatch.start()
    try:
        wait_until(lambda: facwatch.count('"intake.backlog_on_start"') == 1, 10, "the backlog seen on start")
        wait_until(lambda: queued(path) == 0, 30, "the queued judgement committed")
        # each incident one alert, all resolved (before: a 4th alert, held open as flapping for an hour)
        assert entrapments() == before
        assert outbox() == told  # nobody told again
    finally:
        facwatch.stop()
