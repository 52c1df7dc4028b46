"""The InfluxDB store's ``/write`` against a real VictoriaMetrics, and the optional Flux reads.

VictoriaMetrics names an InfluxDB field ``{measurement}_{field}``, keeps the tags as labels and adds the
``db`` parameter as a label; what landed is read back with its ``/api/v1/export``. The real InfluxDB 1.6 tests
(writes, InfluxQL reads, setup, outage, spool) are in test_influx_real.py. The Flux read test runs only when
``FACWATCH_TEST_INFLUX_URL``, ``..._TOKEN``, ``..._ORG`` and ``..._BUCKET`` name a real InfluxDB 2.x.
"""

from __future__ import annotations

import os
import time

import pytest

from facwatch.config import load_site
from facwatch.model import Reading, TelemetryQuery
from ingest.errors import BadQuery, StoreUnavailable
from ingest.flux import flux_string, history_flux
from ingest.influx_store import InfluxStore
from ingest.lineproto import LineEncoder
from tests.fixtures.servers import free_port
from tests.fixtures.victoria import Victoria

SITE = load_site("demo", {"data_dir": "unused"})
ELEV = next(a for a in SITE.assets if a.kind == "elevator")
PUMP = next(a for a in SITE.assets if a.kind == "pump")


def store_for(url: str, **kw: object) -> InfluxStore:
    return InfluxStore(SITE, url=url, token="t", org="o", bucket="b", **kw)  # type: ignore[arg-type]


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.integration
@pytest.mark.parametrize("gzip", [True, False])
def test_readings_land_with_tags_per_kind_and_ms_timestamps(victoria: Victoria, gzip: bool) -> None:
    t0 = now_ms()
    store = store_for(victoria.url, gzip=gzip, batch_lines=7)
    readings = [Reading(SITE.id, ELEV.id, "floor", t0 + i, float(i % 18)) for i in range(50)]
    readings += [Reading(SITE.id, PUMP.id, "flow_m3h", t0 + i, 10.5 + i) for i in range(50)]
    store.write(readings)
    store.write(readings[:20])  # a redelivery: overwrites, adds nothing
    series = victoria.export_until(lambda s: sum(len(x["values"]) for x in s) >= 100)  # type: ignore[arg-type,misc]
    by_name = {x["metric"]["__name__"]: x for x in series}  # type: ignore[index]
    floor, flow = by_name["elevator_floor"], by_name["pump_flow_m3h"]
    assert floor["metric"] == {
        "__name__": "elevator_floor",
        "db": "b",
        "asset": ELEV.id,
        "building": ELEV.building,
        "kind": "elevator",
        "site": SITE.id,
    }
    assert floor["timestamps"] == [t0 + i for i in range(50)]
    assert floor["values"] == [float(i % 18) for i in range(50)]
    assert flow["values"] == [10.5 + i for i in range(50)]
    store.close()


@pytest.mark.integration
@pytest.mark.parametrize("gzip", [True, False])
def test_a_sample_is_one_line_and_reads_back_as_its_separate_readings(victoria: Victoria, gzip: bool) -> None:
    t0 = now_ms()
    channels = {"floor": 3.0, "speed_mps": 1e-7, "motor_current_a": 12.25, "load_kg": 1e20, "running": 1.0}
    readings = [
        Reading(SITE.id, ELEV.id, ch, t0 + i, value + i) for i in range(3) for ch, value in channels.items()
    ]
    lines = LineEncoder(SITE).lines(readings)
    assert len(lines) == 3  # one line per sample, all five channels as its fields
    assert lines[0].endswith(
        " floor=3.0,speed_mps=1e-7,motor_current_a=12.25,load_kg=1e+20,running=1.0 " + str(t0)
    )
    store = store_for(victoria.url, gzip=gzip, batch_lines=2)  # two bodies: one via the poster thread
    store.write(readings)
    series = victoria.export_until(lambda s: sum(len(x["values"]) for x in s) >= 15)  # type: ignore[arg-type,misc]
    by_name = {x["metric"]["__name__"]: x for x in series}  # type: ignore[index]
    assert sorted(by_name) == sorted(f"elevator_{ch}" for ch in channels)
    for ch, value in channels.items():
        assert by_name[f"elevator_{ch}"]["timestamps"] == [t0, t0 + 1, t0 + 2]
        assert by_name[f"elevator_{ch}"]["values"] == [value + i for i in range(3)]
    store.close()


@pytest.mark.integration
def test_a_store_that_is_down_raises_store_unavailable_quickly() -> None:
    store = store_for(f"http://127.0.0.1:{free_port()}", retries=1, timeout_s=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="InfluxDB write failed"):
        store.write([Reading(SITE.id, ELEV.id, "floor", now_ms(), 1.0)])
    assert time.monotonic() - started < 10
    store.close()


@pytest.mark.integration
def test_ping_tells_whether_the_server_answers(victoria: Victoria) -> None:
    store = store_for(victoria.url)
    try:
        assert store.ping() is None  # the readiness probe of a store without a spool
        victoria.stop()
        started = time.monotonic()
        reason = store.ping(timeout_s=1.0)
        assert reason is not None and reason.startswith(f"no answer from {victoria.url}")
        assert time.monotonic() - started < 3
    finally:
        store.close()


def test_flux_text_is_escaped_and_aligned_to_window_starts() -> None:
    flux = history_flux("b", "elevator", TelemetryQuery("s", 'a"x', "floor", 0, 60_000, 10_000, "max"))
    assert 'r.asset == "a\\"x"' in flux
    assert "range(start: 1970-01-01T00:00:00.000Z, stop: 1970-01-01T00:01:00.000Z)" in flux
    assert 'aggregateWindow(every: 10000ms, fn: max, createEmpty: false, timeSrc: "_start")' in flux
    assert flux_string("${x}") == '"\\${x}"'


def test_bad_queries_are_refused_before_any_request() -> None:
    store = store_for("http://127.0.0.1:9")
    with pytest.raises(BadQuery):
        store.query(TelemetryQuery(SITE.id, ELEV.id, "floor", 0, 10, every_ms=0))
    with pytest.raises(BadQuery):
        store.query(TelemetryQuery(SITE.id, ELEV.id, "floor", 0, 10, fn="median"))
    empty = TelemetryQuery(SITE.id, ELEV.id, "floor", 10, 10)
    assert store.query(empty) == []  # an empty range: answered without asking the (unreachable) server
    store.close()


INFLUX = {k: os.environ.get(f"FACWATCH_TEST_INFLUX_{k.upper()}") for k in ("url", "token", "org", "bucket")}


@pytest.mark.integration
@pytest.mark.skipif(not all(INFLUX.values()), reason="set FACWATCH_TEST_INFLUX_URL/TOKEN/ORG/BUCKET")
def test_flux_reads_answer_like_the_sqlite_store() -> None:
    settings = {k: str(v) for k, v in INFLUX.items()}
    store = InfluxStore(SITE, query_language="flux", **settings)  # type: ignore[arg-type]
    t0 = (now_ms() // 60_000 - 10) * 60_000
    asset = ELEV.id
    store.write([Reading(SITE.id, asset, "load_kg", t0 + i * 1000, float(i)) for i in range(120)])
    raw = store.query(TelemetryQuery(SITE.id, asset, "load_kg", t0, t0 + 120_000))
    assert [p.value for p in raw] == [float(i) for i in range(120)]
    windows = store.query(
        TelemetryQuery(SITE.id, asset, "load_kg", t0, t0 + 120_000, every_ms=60_000, fn="max")
    )
    assert [(p.ts_ms, p.value) for p in windows] == [(t0, 59.0), (t0 + 60_000, 119.0)]
    latest = store.latest(SITE.id, asset)
    assert latest["load_kg"].value == 119.0 and latest["load_kg"].ts_ms == t0 + 119_000
    store.close()
