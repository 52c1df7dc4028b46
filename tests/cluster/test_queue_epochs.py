"""The lease epoch stored with each queued judgement (alerts/engine/intake_queue.py) and the rule that drops
what a later owner's checkpoint supersedes (``intake_stale.superseded``); the whole story against real PostgreSQL
is in tests/cluster/test_prepause.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alerts.engine.intake import Intake
from alerts.engine.intake_queue import FindingsQueue, Judgement, Late, encode
from alerts.engine.intake_stale import superseded
from facwatch.model import Finding, Level
from tests.fixtures.waiting import wait_until

ENTRAPMENT = Finding(
    "lakeside", "b1-elev-1", "elevator.entrapment", 1_000, True, Level.RED, "stuck", "speed_mps", 0.0, {}
)


@pytest.mark.parametrize(
    ("judged_under", "checkpoint_under", "dropped"),
    [
        (1, 2, True),  # another owner (or a later tenure) checkpointed the site after this one
        (1, 1, False),  # the newest checkpoint is this tenure's own: nobody judged the site since
        (2, 1, False),  # the start checkpoint of this tenure was skipped (its queue waited): not superseded
        (None, 2, False),  # a queue file from before epochs: committed as before
        (1, None, False),  # no checkpoint, or one from before epochs (or written without leases)
        (None, None, False),  # no leases (SQLite)
    ],
)
def test_an_entry_is_dropped_only_when_a_later_tenure_checkpointed_the_site(
    judged_under: int | None, checkpoint_under: int | None, dropped: bool
) -> None:
    assert superseded(judged_under, checkpoint_under) is dropped


def test_a_queue_file_from_before_epochs_opens_and_keeps_its_entries_as_of_unknown_epoch(
    tmp_path: Path,
) -> None:
    path = tmp_path / "findings.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE findings_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, queued_ms INTEGER NOT NULL, "
        "body BLOB NOT NULL)"
    )
    old.execute(
        "INSERT INTO findings_queue (queued_ms, body) VALUES (?, ?)",
        (5, encode(Judgement((ENTRAPMENT,), 2_000, None))),
    )
    old.commit()
    old.close()
    queue = FindingsQueue(path)
    queue.append(Judgement((ENTRAPMENT,), 3_000, None), 6, epoch=4)
    assert [(e.queued_ms, e.epoch) for e in queue.head(10)] == [(5, None), (6, 4)]
    queue.close()
    assert [(e.queued_ms, e.epoch) for e in FindingsQueue(path).head(10)] == [(5, None), (6, 4)]


class Recorder:
    def __init__(self) -> None:
        self.committed: list[Judgement] = []

    def commit(self, judgement: Judgement, late: Late | None = None) -> None:
        self.committed.append(judgement)


def test_on_start_only_inherited_entries_of_an_older_epoch_than_the_checkpoint_are_dropped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "findings.db"
    queue = FindingsQueue(path)
    for epoch, event_ms in ((1, 1_000), (None, 2_000), (3, 3_000)):
        queue.append(Judgement((ENTRAPMENT,), event_ms, None), event_ms, epoch=epoch)
    queue.close()
    recorder = Recorder()
    intake = Intake(recorder, path, site="lakeside", epoch=4, checkpoint_epoch=lambda: 2)
    intake.start()
    try:
        wait_until(lambda: intake.backlog() == 0, 10, "the inherited entries dealt with")
        intake.put(Judgement((ENTRAPMENT,), 4_000, None))  # judged now, under epoch 4: committed
        wait_until(lambda: len(recorder.committed) == 3, 10, "the new judgement committed")
    finally:
        intake.stop()
    assert [j.event_ms for j in recorder.committed] == [2_000, 3_000, 4_000]
    assert intake.dropped == 1
