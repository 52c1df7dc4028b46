"""The durable findings queue (alerts/engine/intake.py) on its own: in order, nothing lost, late and told.

The committer here is a stand-in for the alert service that can be made to fail like an unreachable state
database; the whole path against a real PostgreSQL is tests/reliability/test_state_db_outage.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from alerts.engine.intake import FindingsQueue, Intake, Judgement, Late, decode, encode, merge
from alerts.engine.intake_tell import outage_message
from facwatch.model import Finding, Level
from tests.fixtures.waiting import wait_until

T0 = 1_700_000_000_000


def finding(
    ts_ms: int, kind: str = "elevator.entrapment", level: Level = Level.RED, active: bool = True
) -> Finding:
    return Finding(
        "lakeside", "b1-elev-1", kind, ts_ms, active, level, "trapped", "load_kg", 240.0, {"score": 1.0}
    )


def judged(ts_ms: int, *findings: Finding) -> Judgement:
    return Judgement(tuple(findings), ts_ms, ts_ms + 50, (("b1-elev-1", ts_ms),))


class Committer:
    """Records what it commits; raises while ``down`` is set, like an unreachable database."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.committed: list[tuple[Judgement, Late | None]] = []

    def commit(self, judgement: Judgement, late: Late | None = None) -> None:
        if self.down.is_set():
            raise ConnectionError("connection refused")
        self.committed.append((judgement, late))

    def with_findings(self) -> list[tuple[Judgement, Late | None]]:
        return [(j, late) for j, late in self.committed if j.findings]


def test_a_judgement_survives_encoding() -> None:
    j = judged(T0, finding(T0), finding(T0 + 1, "threshold.high", Level.BLUE, active=False))
    assert decode(encode(j)) == j
    assert decode(encode(Judgement((), T0, None))) == Judgement((), T0, None)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # nothing merged yet: the new one
        (None, Judgement((), T0, T0, (("x", T0),)), Judgement((), T0, T0, (("x", T0),))),
        # the newest event time and wall clock win, per asset too
        (
            Judgement((), T0 + 5, T0, (("x", T0 + 5), ("y", T0))),
            Judgement((), T0 + 1, T0 + 9, (("x", T0 + 1),)),
            Judgement((), T0 + 5, T0 + 9, (("x", T0 + 5), ("y", T0))),
        ),
        # a judgement without a wall clock keeps the other's
        (Judgement((), T0, None), Judgement((), T0, T0 + 3), Judgement((), T0, T0 + 3)),
    ],
)
def test_merging_finding_less_judgements(a: Judgement | None, b: Judgement, expected: Judgement) -> None:
    assert merge(a, b) == expected


def test_a_crash_between_queueing_and_committing_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "findings.db"
    first = Intake(Committer(), path, site="lakeside")  # never started: the process dies before committing
    for i in range(3):
        first.put(judged(T0 + i, finding(T0 + i)))
    assert first.backlog() == 3
    del first  # no stop, no close: what a SIGKILL leaves behind
    committer = Committer()
    second = Intake(committer, path, site="lakeside")
    assert second.backlog() == 3
    second.start()
    try:
        wait_until(lambda: len(committer.with_findings()) == 3, 5, "the backlog committed on start")
        assert [j.event_ms for j, _ in committer.with_findings()] == [T0, T0 + 1, T0 + 2]  # in order
        for _, late in committer.with_findings():  # each ticket will say why it opened late
            assert late is not None and "(facwatch restarted)" in late.reason
        wait_until(lambda: second.backlog() == 0, 5, "the queue emptied")
    finally:
        second.stop()
    assert len(FindingsQueue(path)) == 0


def test_an_outage_keeps_findings_in_order_tells_the_fallback_and_marks_them_late(tmp_path: Path) -> None:
    committer = Committer()
    told: list[tuple[str, str]] = []
    intake = Intake(
        committer,
        tmp_path / "findings.db",
        site="lakeside",
        tell_fallback=lambda title, body: told.append((title, body)) is None,
        tell_after_s=0.3,
    )
    intake.start()
    try:
        intake.put(judged(T0, finding(T0, "threshold.high", Level.BLUE)))
        wait_until(lambda: len(committer.with_findings()) == 1, 5, "committed while the database answers")
        committer.down.set()
        intake.put(judged(T0 + 1_000, finding(T0 + 1_000)))
        intake.put(judged(T0 + 2_000))  # no finding: kept in memory, not on disk
        intake.put(judged(T0 + 3_000, finding(T0 + 3_000, "elevator.door_fault", Level.ORANGE)))
        assert intake.backlog() == 2
        wait_until(lambda: intake.down_s() > 0, 5, "the outage noticed")
        wait_until(lambda: len(told) == 1, 5, "the fallback person told")
        title, body = told[0]
        assert "state database unreachable" in title
        assert "RED elevator.entrapment on b1-elev-1" in body and "ORANGE elevator.door_fault" in body
        assert intake.lag_s() > 0
        committer.down.clear()
        wait_until(
            lambda: intake.backlog() == 0 and len(told) == 2, 10, "committed once the database is back"
        )
        assert "back after" in told[1][0]
        late = committer.with_findings()[1:]
        assert [j.event_ms for j, _ in late] == [T0 + 1_000, T0 + 3_000]  # in order, each once
        for _, note in late:
            assert note is not None and note.reason.startswith("opened late: state database unreachable for")
        assert committer.committed[-1][0].event_ms == T0 + 2_000  # the finding-less one, after them
        assert intake.down_s() == 0 and intake.lag_s() == 0
    finally:
        intake.stop()


def test_a_full_queue_makes_put_wait_until_the_committer_frees_a_place(tmp_path: Path) -> None:
    committer = Committer()
    committer.down.set()
    intake = Intake(committer, tmp_path / "findings.db", site="lakeside", max_entries=2)
    intake.start()
    try:
        intake.put(judged(T0, finding(T0)))
        intake.put(judged(T0 + 1, finding(T0 + 1)))
        third = threading.Thread(target=intake.put, args=(judged(T0 + 2, finding(T0 + 2)),))
        third.start()
        wait_until(lambda: intake.down_s() > 0, 5, "commits failing")
        assert third.is_alive() and intake.backlog() == 2  # waiting: the gateway stops acknowledging
        committer.down.clear()
        third.join(10)
        wait_until(lambda: len(committer.with_findings()) == 3, 5, "all three committed")
        assert [j.event_ms for j, _ in committer.with_findings()] == [T0, T0 + 1, T0 + 2]
    finally:
        intake.stop()


def test_the_outage_message_names_what_waits() -> None:
    waiting = [finding(T0), finding(T0 + 1, "threshold.high", Level.BLUE), finding(T0 + 2, active=False)]
    title, body = outage_message("lakeside", 75.4, waiting, 3)
    assert title == "facwatch lakeside: state database unreachable for 75 s"
    assert body.count("\n- ") == 1 and "RED elevator.entrapment on b1-elev-1 since" in body


def test_a_bug_sets_the_entry_aside_and_the_findings_behind_it_still_commit(tmp_path: Path) -> None:
    class Buggy(Committer):
        def commit(self, judgement: Judgement, late: Late | None = None) -> None:
            if judgement.event_ms == T0:
                raise ValueError("an engine bug on this judgement")
            super().commit(judgement, late)

    committer = Buggy()
    path = tmp_path / "findings.db"
    queue = FindingsQueue(path)
    queue.append(judged(T0 - 1, finding(T0 - 1)), T0)
    with queue._lock, queue._conn:  # a body this version cannot read (written by another one, or damaged)
        queue._conn.execute("INSERT INTO findings_queue (queued_ms, body) VALUES (?, ?)", (T0, b"[1, 2]"))
    queue.close()
    intake = Intake(committer, path, site="lakeside")
    intake.put(judged(T0, finding(T0)))
    intake.put(judged(T0 + 1, finding(T0 + 1)))
    intake.start()
    try:
        wait_until(lambda: intake.backlog() == 0, 10, "the queue emptied past the two bad entries")
        assert [j.event_ms for j, _ in committer.with_findings()] == [T0 - 1, T0 + 1]
        assert intake.down_s() == 0  # a bug is not an outage: nobody is told the database is gone
        aside = FindingsQueue(path).set_aside()
        assert [error.split(":")[0] for _, error in aside] == [
            "undecodable",
            "ValueError('an engine bug on this judgement')",
        ]
    finally:
        intake.stop()
