"""The InfluxDB store against a real InfluxDB 1.6 (Debian's ``influxd``, tests/fixtures/influx.py).

Line-protocol writes to ``/write``, InfluxQL reads from ``/query``: history raw and aggregated, the latest
values, ``influx-setup`` with its 1-minute copy read past the configured age, an outage with the spool
replaying in order once the server is back.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from facwatch.config import load_site
from facwatch.model import Reading, TelemetryQuery
from ingest.errors import StoreUnavailable
from ingest.influx_store import InfluxStore
from ingest.influxql import Layout
from ingest.spool import Spool, SpoolingSink
from tests.fixtures.influx import Influx
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration

SITE = load_site("demo", {"data_dir": "unused"})
ELEV = next(a for a in SITE.assets if a.kind == "elevator")
PUMP = next(a for a in SITE.assets if a.kind == "pump")
DB = "facwatch"
MIN = 60_000
LAYOUT = Layout(database=DB, raw_policy="raw", raw_days=30, minutes_policy="minutes", minutes_days=730)


def minute_ago(n: int) -> int:
    """The start of the minute ``n`` minutes before this one."""
    now = int(time.time() * 1000)
    return now - now % MIN - n * MIN


def store_for(influx: Influx, **kw: object) -> InfluxStore:
    influx.query(f'CREATE DATABASE "{DB}"')
    return InfluxStore(SITE, url=influx.url, database=DB, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("gzip", [True, False])
def test_history_raw_and_per_window_reads_what_was_written(influx: Influx, gzip: bool) -> None:
    t0 = minute_ago(10)
    store = store_for(influx, gzip=gzip, batch_lines=7)  # many bodies: several on the wire at once
    load = [Reading(SITE.id, ELEV.id, "load_kg", t0 + i * 1000, float(i)) for i in range(120)]
    flow = [Reading(SITE.id, PUMP.id, "flow_m3h", t0 + i * 1000, 10.5 + i) for i in range(120)]
    store.write(load + flow)
    store.write(load[:20])  # a redelivery: overwrites, adds nothing
    try:
        raw = store.query(TelemetryQuery(SITE.id, ELEV.id, "load_kg", t0, t0 + 120_000))
        assert [(p.ts_ms, p.value) for p in raw] == [(t0 + i * 1000, float(i)) for i in range(120)]
        for fn, expected in (("mean", [29.5, 89.5]), ("max", [59.0, 119.0]), ("count", [60.0, 60.0])):
            windows = store.query(
                TelemetryQuery(SITE.id, ELEV.id, "load_kg", t0, t0 + 120_000, every_ms=60_000, fn=fn)
            )
            assert [(p.ts_ms, p.value) for p in windows] == [(t0, expected[0]), (t0 + MIN, expected[1])], fn
        pump = store.query(TelemetryQuery(SITE.id, PUMP.id, "flow_m3h", t0 + 5000, t0 + 7000))
        assert [p.value for p in pump] == [15.5, 16.5]  # [start, end)
    finally:
        store.close()


def test_latest_gives_each_channels_newest_point_with_its_own_time(influx: Influx) -> None:
    t0 = minute_ago(3)
    store = store_for(influx)
    store.write(
        [Reading(SITE.id, ELEV.id, "floor", t0 + i * 1000, float(i)) for i in range(5)]
        + [Reading(SITE.id, ELEV.id, "speed_mps", t0 + 500, 1.25)]
        + [Reading(SITE.id, PUMP.id, "flow_m3h", t0 + 9000, 7.0)]
    )
    try:
        latest = store.latest(SITE.id, ELEV.id)
        assert {ch: (p.ts_ms, p.value) for ch, p in latest.items()} == {
            "floor": (t0 + 4000, 4.0),
            "speed_mps": (t0 + 500, 1.25),
        }
        assert store.latest(SITE.id, "no-such-asset") == {}
    finally:
        store.close()


def test_setup_makes_policies_and_the_continuous_query_and_old_history_comes_from_the_minutes(
    influx: Influx,
) -> None:
    store = InfluxStore(
        SITE, url=influx.url, database=DB, downsampled_policy="minutes", downsample_after_s=24 * 3600
    )
    try:
        store.setup(LAYOUT)
        store.setup(LAYOUT)  # again: nothing fails, nothing doubles
        policies = influx.query(f'SHOW RETENTION POLICIES ON "{DB}"')[0]["series"][0]["values"]
        assert {p[0]: (p[1], p[4]) for p in policies if p[0] != "autogen"} == {
            "raw": ("720h0m0s", True),  # the default: where writes without a policy go
            "minutes": ("17520h0m0s", False),
        }
        cqs = [s for s in influx.query("SHOW CONTINUOUS QUERIES")[0]["series"] if s["name"] == DB]
        assert [cq[0] for cq in cqs[0]["values"]] == ["minutes_cq"]
        old = minute_ago(3 * 24 * 60)  # three days back: past the 1-day age
        old -= old % (3 * MIN)  # the start of a 3-minute window (windows are aligned to the epoch)
        recent = minute_ago(5)
        store.write([Reading(SITE.id, ELEV.id, "load_kg", old + i * 1000, float(i)) for i in range(180)])
        store.write([Reading(SITE.id, ELEV.id, "load_kg", recent + i * 1000, float(i)) for i in range(120)])
        before_setup = store.query(TelemetryQuery(SITE.id, ELEV.id, "load_kg", old, old + 3 * MIN))
        assert before_setup == []  # no copy yet
        store.setup(LAYOUT, backfill_days=4)
        # past the age: one point per minute (its mean) where the raw data has one per second
        raw_old = store.query(TelemetryQuery(SITE.id, ELEV.id, "load_kg", old, old + 3 * MIN))
        assert [(p.ts_ms, p.value) for p in raw_old] == [
            (old, 29.5),
            (old + MIN, 89.5),
            (old + 2 * MIN, 149.5),
        ]
        # whole-minute windows stay exact from the copy: the mean of 180 values, not a mean of means
        for fn, value in (("mean", 89.5), ("max", 179.0), ("min", 0.0), ("count", 180.0), ("sum", 16110.0)):
            window = store.query(
                TelemetryQuery(SITE.id, ELEV.id, "load_kg", old, old + 3 * MIN, every_ms=3 * MIN, fn=fn)
            )
            assert [(p.ts_ms, p.value) for p in window] == [(old, value)], fn
        # a range spanning the age: the old part from the copy, the recent part raw, oldest first
        both = store.query(
            TelemetryQuery(SITE.id, ELEV.id, "load_kg", old, recent + 2 * MIN, every_ms=MIN, fn="max")
        )
        assert [(p.ts_ms, p.value) for p in both] == [
            (old, 59.0),
            (old + MIN, 119.0),
            (old + 2 * MIN, 179.0),
            (recent, 59.0),
            (recent + MIN, 119.0),
        ]
    finally:
        store.close()


def test_a_write_while_influxdb_is_down_fails_quickly_and_names_the_server(influx: Influx) -> None:
    store = store_for(influx, retries=1, timeout_s=2)
    try:
        influx.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="InfluxDB write failed"):
            store.write([Reading(SITE.id, ELEV.id, "floor", minute_ago(1), 1.0)] * 3000)
        assert time.monotonic() - started < 10
        assert (store.ping() or "").startswith(f"no answer from {influx.url}")
        with pytest.raises(StoreUnavailable, match="InfluxDB query failed"):
            store.latest(SITE.id, ELEV.id)
    finally:
        store.close()


def test_the_spool_keeps_writes_during_an_outage_and_replays_them_in_order(
    influx: Influx, tmp_path: Path
) -> None:
    t0 = minute_ago(10)
    store = store_for(influx, retries=0, timeout_s=2)
    sink = SpoolingSink(store, Spool(tmp_path / "spool.db", 64 * 1024 * 1024), site=SITE.id)
    sink.start()
    try:
        sink.write([Reading(SITE.id, ELEV.id, "load_kg", t0 + i * 1000, 1.0) for i in range(10)])
        influx.stop()
        # during the outage: the same seconds written again (the later value must win), then new ones
        for value in (2.0, 3.0):
            sink.write([Reading(SITE.id, ELEV.id, "load_kg", t0 + i * 1000, value) for i in range(10)])
        sink.write([Reading(SITE.id, ELEV.id, "load_kg", t0 + i * 1000, 4.0) for i in range(10, 20)])
        assert sink.spool.batches == 3  # durable on disk, nothing lost
        influx.start()
        wait_until(lambda: sink.spool.batches == 0, 30, "the spool to drain")
        points = store.query(TelemetryQuery(SITE.id, ELEV.id, "load_kg", t0, t0 + 20_000))
        assert [(p.ts_ms, p.value) for p in points] == [
            (t0 + i * 1000, 3.0 if i < 10 else 4.0) for i in range(20)
        ]
    finally:
        sink.stop()
        sink.spool.close()
        store.close()


def test_a_database_that_does_not_exist_is_named_in_the_error(influx: Influx) -> None:
    store = InfluxStore(SITE, url=influx.url, database="nowhere", retries=0)
    try:
        with pytest.raises(StoreUnavailable, match=r"HTTP 404.*database not found"):
            store.write([Reading(SITE.id, ELEV.id, "floor", minute_ago(1), 1.0)])
        with pytest.raises(StoreUnavailable, match="database not found"):
            store.query(TelemetryQuery(SITE.id, ELEV.id, "floor", minute_ago(2), minute_ago(0)))
    finally:
        store.close()
