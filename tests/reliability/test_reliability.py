"""Reliability with real processes: nothing published at QoS 1 is lost, whatever fails in the middle.

Each test publishes uniquely numbered readings (``load_kg = i`` at ``ts = t0 + i``) and counts what lands.
Bounded in time: a few thousand readings, each test well under a minute on a busy 2-core machine.
"""

from __future__ import annotations

import random
import sqlite3
import time
import warnings
from collections import Counter
from pathlib import Path

import orjson
import pytest
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning

from gateway import topics
from ingest.deadletters import MAX_PER_TOPIC
from tests.fixtures.victoria import Victoria
from tests.reliability.harness import SITE, TOPIC, GatewayProcess, PersistentMosquitto, Publisher, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N = 3000


def expected(t0: int, n: int = N) -> list[tuple[int, float]]:
    return [(t0 + i, float(i)) for i in range(n)]


@pytest.fixture
def broker(tmp_path: Path) -> PersistentMosquitto:
    server = PersistentMosquitto(tmp_path / "mosquitto")
    server.start()
    yield server  # type: ignore[misc]
    server.terminate()


def test_broker_restarted_with_sigterm_mid_stream(tmp_path: Path, broker: PersistentMosquitto) -> None:
    gateway = GatewayProcess(tmp_path / "gw", broker.url)
    gateway.start()
    t0 = int(time.time() * 1000) - 60_000
    publisher = Publisher(broker.port, t0)
    try:
        sender = publisher.send_in_background(0, N, per_s=400)
        wait_until(lambda: len(gateway.telemetry()) > N // 4, 30, "a quarter stored")
        broker.terminate()  # mid-stream; the publisher and the gateway both lose the connection
        time.sleep(1)
        broker.start()
        sender.join(60)
        publisher.wait_all_published(30)
        wait_until(lambda: len(gateway.telemetry()) >= N, 40, "every reading stored")
        assert gateway.telemetry() == expected(t0)
        assert gateway.alive
    finally:
        publisher.close()
        gateway.stop()


def test_gateway_killed_with_sigkill_and_restarted(tmp_path: Path, broker: PersistentMosquitto) -> None:
    gateway = GatewayProcess(tmp_path / "gw", broker.url)
    gateway.start()
    t0 = int(time.time() * 1000) - 60_000
    publisher = Publisher(broker.port, t0)
    try:
        sender = publisher.send_in_background(0, N, per_s=400)
        wait_until(lambda: len(gateway.telemetry()) > N // 4, 30, "a quarter stored")
        gateway.kill()  # no clean shutdown: whatever was received but not acknowledged is redelivered
        stored_at_kill = len(gateway.telemetry())
        time.sleep(1)
        gateway.start()
        sender.join(60)
        publisher.wait_all_published(30)
        wait_until(lambda: len(gateway.telemetry()) >= N, 40, "every reading stored")
        assert stored_at_kill < N  # the kill really was mid-stream
        assert gateway.telemetry() == expected(t0)  # every reading once: redeliveries overwrote themselves
    finally:
        publisher.close()
        gateway.stop()


OUTAGE_S = 30.0


@pytest.mark.timeout(180)
def test_telemetry_store_down_then_back(
    tmp_path: Path, broker: PersistentMosquitto, victoria: Victoria
) -> None:
    """VictoriaMetrics is stopped for 30 s while readings keep coming; all of them land, in order, once."""
    telemetry = (
        f'backend = "influxdb"\ninflux_url = "{victoria.url}"\ninflux_token = "t"\ninflux_org = "o"\n'
        'influx_bucket = "b"\ninflux_retries = 0\ninflux_timeout_s = 2\n'
    )
    gateway = GatewayProcess(tmp_path / "gw", broker.url, telemetry)
    gateway.start()
    t0 = int(time.time() * 1000) - 60_000
    publisher = Publisher(broker.port, t0)
    spool = tmp_path / "gw" / "data" / "spool.db"

    def spooled() -> int:
        with sqlite3.connect(f"file:{spool}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    try:
        sender = publisher.send_in_background(0, N, per_s=300)
        time.sleep(2)
        victoria.stop()
        stopped = time.monotonic()
        wait_until(lambda: spooled() > 0, 20, "batches spooled while the store is down")
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        victoria.start()
        sender.join(60)
        publisher.wait_all_published(30)
        wait_until(lambda: spooled() == 0, 40, "spool drained")
        series = victoria.export_until(lambda s: bool(s) and len(s[0]["values"]) >= N)  # type: ignore[arg-type]
        assert len(series) == 1
        assert series[0]["timestamps"] == [t0 + i for i in range(N)]  # all there, in order, once each
        assert series[0]["values"] == [float(i) for i in range(N)]
    finally:
        publisher.close()
        gateway.stop()
    assert spooled() == 0


# --- a storm of malformed messages ----------------------------------------------------------------------

DAY_MS = 24 * 3600 * 1000
STORM = 10_000


def bad_messages(now_ms: int) -> tuple[st.SearchStrategy[tuple[str, bytes, str]], ...]:
    """One strategy per kind of bad input: (topic, payload, the dead-letter reason the gateway must give it)."""
    other_asset = st.from_regex(r"\Azz[a-z0-9]{1,20}\Z").map(
        lambda a: topics.telemetry(SITE.id, "elevator", a)
    )

    def body(value: object, ts: object = now_ms) -> bytes:
        return orjson.dumps({"ts": ts, "values": {"floor": value}})

    return (
        # not JSON: an object cut short after arbitrary text
        st.text(max_size=50).map(lambda t: (TOPIC, b'{"ts": ' + t.encode() + b', "values": ', "malformed")),
        # a value of the wrong type
        st.one_of(st.text(max_size=20), st.lists(st.integers(-1000, 1000), max_size=3)).map(
            lambda v: (TOPIC, body(v), "wrong_type")
        ),
        # outside the physical range of an elevator's floor
        st.one_of(st.floats(301, 1e12), st.floats(-1e12, -11)).map(
            lambda v: (TOPIC, body(v), "out_of_range")
        ),
        # a timestamp days before now
        st.integers(8 * DAY_MS, 3650 * DAY_MS).map(lambda d: (TOPIC, body(1, now_ms - d), "timestamp_skew")),
        # a timestamp minutes to years after now
        st.integers(10 * 60_000, 3650 * DAY_MS).map(
            lambda d: (TOPIC, body(1, now_ms + d), "future_timestamp")
        ),
        # an asset the site does not have
        other_asset.map(lambda t: (t, body(1), "unknown_asset")),
        # over the payload limit (2048 bytes in the gateway's config)
        st.binary(min_size=2049, max_size=4000).map(lambda b: (TOPIC, b, "too_large")),
    )


def test_a_storm_of_malformed_messages(tmp_path: Path, broker: PersistentMosquitto) -> None:
    gateway = GatewayProcess(tmp_path / "gw", broker.url)
    t0 = int(time.time() * 1000) - 60_000
    kinds = bad_messages(int(time.time() * 1000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        # Hypothesis takes ~6 ms per drawn example here: 1,000 distinct ones, each sent 10 times, shuffled;
        # drawn from each kind in turn, so that every kind is in the storm whatever the draws.
        distinct = [kinds[i % len(kinds)].example() for i in range(STORM // 10)]
    storm = distinct * 10
    random.Random(0).shuffle(storm)
    want = Counter(reason for _, _, reason in storm)
    assert len(want) == 7  # every kind of bad input is in the storm
    good = STORM // 5
    publisher = Publisher(broker.port, t0)
    try:
        gateway.start()  # inside the try: a failed start still stops what it started
        # Interleaved: every fifth message is a good reading, the others are bad.
        for i in range(good):
            publisher.send(i, 1)
            for topic, payload, _ in storm[i * 5 : i * 5 + 5]:
                publisher.publish_raw(topic, payload)
        publisher.wait_all_published(60)
        wait_until(lambda: len(gateway.telemetry()) >= good, 60, "every good reading stored")
        # Kept: every bad message, except that one topic keeps only its newest MAX_PER_TOPIC (a flood on one
        # asset evicts only its own); every reason stays visible.
        per_topic = Counter(topic for topic, _, _ in storm)
        kept = sum(min(n, MAX_PER_TOPIC) for n in per_topic.values())
        wait_until(lambda: sum(gateway.dead_letters().values()) >= kept, 60, "every bad message kept")
        assert gateway.telemetry() == expected(t0, good)
        letters = gateway.dead_letters()
        assert sum(letters.values()) == kept
        assert set(letters) == set(want)
        assert all(letters[reason] <= want[reason] for reason in want)
        capped = {topic for topic, n in per_topic.items() if n > MAX_PER_TOPIC}
        for reason, count in want.items():  # a reason seen on no capped topic is kept whole
            if not any(r == reason and t in capped for t, _, r in storm):
                assert letters[reason] == count, reason
        assert gateway.alive
    finally:
        publisher.close()
        gateway.stop()
