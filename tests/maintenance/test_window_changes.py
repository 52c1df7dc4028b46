"""A window cancelled or moved after the owners were told of it, on a real state database (SQLite and
PostgreSQL) and a real HTTP receiver: the owners who heard of it the day before are told it is off, or its new
time (and reminded the day before that), each once; a cancelled window never says "done"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from facwatch.model import MaintenanceWindow
from tests.alerts.helpers import DATABASES, demo_site, state_engine
from tests.fixtures.receivers import HttpReceiver
from tests.maintenance.test_month import DAY, ELEVATOR, HOUR, OTHER, START, Month


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def test_owners_told_of_a_cancelled_and_a_moved_window(engine: Engine, http_receiver: HttpReceiver) -> None:
    month = Month(engine, demo_site(http_receiver), http_receiver)
    made_at = START - 5 * DAY
    off = month.book.add_window(
        MaintenanceWindow("", ELEVATOR, START, START + 2 * HOUR, None, "半月保养"), "eng-wang", made_at
    )
    later = month.book.add_window(
        MaintenanceWindow("", OTHER, START + 4 * HOUR, START + 6 * HOUR, None, "年检"), "eng-wang", made_at
    )
    # The day before (20:00 in Shanghai): both announced.
    month.step(START - 20 * HOUR)
    month.wait_told("owners-b1", "半月保养")
    month.wait_told("owners-b1", "年检")
    # 10:00 the next morning: the first is cancelled; 11:00: the second moved two days later.
    month.book.delete_window(off.ref, START - 6 * HOUR)
    month.step(START - 6 * HOUR)
    (cancelled,) = month.wait_told("owners-b1", "维保计划取消")
    assert "半月保养" in cancelled["message"] and "03月04日 16:00" in cancelled["message"]
    new_start = START + 2 * DAY
    moved = month.book.move_window(later.ref, new_start, new_start + 2 * HOUR, START - 5 * HOUR)
    assert moved.start == new_start
    month.step(START - 5 * HOUR)
    (told,) = month.wait_told("owners-b1", "维保时间变更")
    assert "原定于03月04日 20:00" in told["message"] and "03月06日 16:00" in told["message"]
    # Ticks at the old times change nothing; the day before the new time, a reminder; then "done".
    for at in (START, START + 3 * HOUR, START + 7 * HOUR, START + DAY):
        month.step(at)
    month.step(new_start - 20 * HOUR)
    month.wait_told("owners-b1", "03月06日 16:00至03月06日 18:00进行维护保养")
    month.step(new_start + 3 * HOUR)
    (done,) = month.wait_told("owners-b1", "维保已完成")
    assert "年检" in done["message"]  # the moved one; the cancelled one never says it is done
    # Each once: the ticks repeat nothing (the outbox's keys).
    assert len(month.told("owners-b1", "维保计划取消")) == 1
    assert len(month.told("owners-b1", "维保时间变更")) == 1
    assert len(month.told("owners-b1", "计划维保通知")) == 3  # two the day before, one before the new time
    month.dispatcher.close()
