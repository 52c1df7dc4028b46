"""The embedded telemetry store: idempotent durable writes, history queries, aggregation windows, latest."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from facwatch.model import Point, Reading, TelemetryQuery
from ingest.errors import BadQuery
from ingest.sqlite_store import SqliteStore

T0 = 1_699_999_980_000  # a multiple of 60 000 ms: minute windows start here


def r(ts: int, value: float, channel: str = "flow_m3h", asset: str = "p1") -> Reading:
    return Reading("site", asset, channel, ts, value)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "t.db")
    yield s
    s.close()


def test_a_redelivered_reading_is_stored_once(store: SqliteStore) -> None:
    store.write([r(T0, 1.0), r(T0 + 1000, 2.0)])
    store.write([r(T0, 1.0), r(T0 + 1000, 2.0)])  # the broker redelivers the batch
    assert store.query(TelemetryQuery("site", "p1", "flow_m3h", T0, T0 + 10_000)) == [
        Point(T0, "flow_m3h", 1.0),
        Point(T0 + 1000, "flow_m3h", 2.0),
    ]


def test_the_same_time_again_replaces_the_value(store: SqliteStore) -> None:
    store.write([r(T0, 1.0)])
    store.write([r(T0, 5.0)])
    assert [p.value for p in store.query(TelemetryQuery("site", "p1", "flow_m3h", T0, T0 + 1))] == [5.0]


def test_writes_are_committed_when_write_returns(store: SqliteStore) -> None:
    store.write([r(T0, 1.0)])
    other = sqlite3.connect(store.path)  # another process would see the same
    assert other.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 1
    other.close()


def test_range_is_half_open_and_series_are_separate(store: SqliteStore) -> None:
    store.write([r(T0, 1.0), r(T0 + 1000, 2.0), r(T0 + 2000, 3.0), r(T0, 9.0, channel="running")])
    flow = store.query(TelemetryQuery("site", "p1", "flow_m3h", T0, T0 + 2000))
    assert [p.value for p in flow] == [1.0, 2.0]
    assert [p.value for p in store.query(TelemetryQuery("site", "p1", "running", 0, T0 + 10_000))] == [9.0]
    assert store.query(TelemetryQuery("site", "p1", "nothing", 0, T0 + 10_000)) == []
    assert store.query(TelemetryQuery("site", "p2", "flow_m3h", 0, T0 + 10_000)) == []


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        ("mean", [2.0, 10.0]),  # (1 + 2 + 3) / 3 in the first minute, 10 in the second
        ("min", [1.0, 10.0]),  # smallest per window
        ("max", [3.0, 10.0]),  # largest per window
        ("sum", [6.0, 10.0]),  # total per window
        ("count", [3.0, 1.0]),  # how many readings per window
        ("last", [2.0, 10.0]),  # the value at the latest time in the window, not the last written
    ],
)
def test_aggregation_windows_are_aligned_to_every(store: SqliteStore, fn: str, expected: list[float]) -> None:
    store.write([r(T0 + 50_000, 2.0), r(T0 + 1_000, 1.0), r(T0 + 30_000, 3.0), r(T0 + 61_000, 10.0)])
    points = store.query(TelemetryQuery("site", "p1", "flow_m3h", T0, T0 + 120_000, every_ms=60_000, fn=fn))
    assert [p.ts_ms for p in points] == [T0, T0 + 60_000]
    assert [p.value for p in points] == expected


def test_windows_start_on_multiples_of_every_not_at_the_query_start(store: SqliteStore) -> None:
    store.write([r(T0 + 59_000, 1.0), r(T0 + 61_000, 3.0)])
    points = store.query(TelemetryQuery("site", "p1", "flow_m3h", T0 + 30_000, T0 + 90_000, every_ms=60_000))
    assert [(p.ts_ms, p.value) for p in points] == [(T0, 1.0), (T0 + 60_000, 3.0)]


@pytest.mark.parametrize(("every", "fn"), [(60_000, "median"), (0, "mean"), (-5, "mean")])
def test_bad_queries_are_refused(store: SqliteStore, every: int, fn: str) -> None:
    with pytest.raises(BadQuery):
        store.query(TelemetryQuery("site", "p1", "flow_m3h", T0, T0 + 1, every_ms=every, fn=fn))


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_under_one_is_refused_when_the_query_is_built(limit: int) -> None:
    with pytest.raises(BadQuery, match="limit must be at least 1"):
        TelemetryQuery("site", "p1", "flow_m3h", T0, T0 + 1, limit=limit)


@pytest.mark.parametrize(
    ("start", "end", "every"),
    [
        (T0 + 1000, T0 + 1000, None),  # no time between start and end
        (T0 + 2000, T0, None),  # end before start
        (T0 + 2000, T0, 60_000),  # the same with windows
    ],
)
def test_an_empty_range_answers_nothing(store: SqliteStore, start: int, end: int, every: int | None) -> None:
    store.write([r(T0, 1.0), r(T0 + 1000, 2.0), r(T0 + 2000, 3.0)])
    assert store.query(TelemetryQuery("site", "p1", "flow_m3h", start, end, every_ms=every)) == []


def test_latest_gives_the_newest_point_of_each_channel(store: SqliteStore) -> None:
    store.write([r(T0 + 5, 2.0), r(T0, 1.0), r(T0 + 3, 7.0, channel="running"), r(T0 + 9, 4.0, asset="p2")])
    assert store.latest("site", "p1") == {
        "flow_m3h": Point(T0 + 5, "flow_m3h", 2.0),
        "running": Point(T0 + 3, "running", 7.0),
    }
    assert store.latest("site", "nobody") == {}


@pytest.mark.parametrize(("retention_days", "kept"), [(None, 2), (1.0, 1)])
def test_retention_prunes_old_points_only_when_set(
    tmp_path: Path, retention_days: float | None, kept: int
) -> None:
    store = SqliteStore(tmp_path / "r.db", retention_days=retention_days)
    day = 86_400_000
    store.write([r(T0 - 2 * day, 1.0), r(T0, 2.0)])
    store.apply_retention(T0)
    assert len(store.query(TelemetryQuery("site", "p1", "flow_m3h", 0, T0 + 1))) == kept
    store.close()


def test_close_leaves_a_consistent_file_that_reopens(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = SqliteStore(path)
    store.write([r(T0, 1.0)])
    store.close()
    assert not (tmp_path / "c.db-wal").exists() or (tmp_path / "c.db-wal").stat().st_size == 0
    again = SqliteStore(path)
    assert again.latest("site", "p1") == {"flow_m3h": Point(T0, "flow_m3h", 1.0)}
    again.close()


def test_readers_on_other_threads_see_concurrent_writes(store: SqliteStore) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        for i in range(50):
            store.write([r(T0 + i, float(i))])

    def reader() -> None:
        try:
            for _ in range(50):
                store.query(TelemetryQuery("site", "p1", "flow_m3h", T0, T0 + 100))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=writer),
        threading.Thread(target=reader),
        threading.Thread(target=reader),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.query(TelemetryQuery("site", "p1", "flow_m3h", T0, T0 + 100))) == 50
