"""The durable spool: a store outage loses nothing, replays in order, and fills up loudly, never silently."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from facwatch.config import load_site
from facwatch.model import Finding, Reading
from ingest.errors import StoreUnavailable
from ingest.influx_store import InfluxStore
from ingest.spool import FINDING_KIND, Spool, SpoolFull, SpoolingSink, encode, fill_finding
from tests.fixtures.victoria import Victoria
from tests.fixtures.waiting import wait_until

SITE = load_site("demo", {"data_dir": "unused"})
ELEV = next(a for a in SITE.assets if a.kind == "elevator")


def batch(start: int, n: int = 10, channel: str = "floor") -> list[Reading]:
    return [Reading(SITE.id, ELEV.id, channel, 1_000_000 + i, float(i)) for i in range(start, start + n)]


class FlakyStore:
    """A store that is up or down at the test's command and records the order of what it took."""

    def __init__(self) -> None:
        self.up = threading.Event()
        self.up.set()
        self.taken: list[Reading] = []

    def write(self, readings: Sequence[Reading]) -> None:
        if not self.up.is_set():
            raise StoreUnavailable("down")
        self.taken.extend(readings)


def test_spooled_batches_survive_a_restart_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=10**6)
    spool.append(batch(0))
    spool.append(batch(10))
    spool.close()
    again = Spool(tmp_path / "spool.db", max_bytes=10**6)
    assert (again.batches, again.readings) == (2, 20)
    first = again.oldest()
    assert first is not None and first[1] == batch(0)
    again.remove(first[0])
    second = again.oldest()
    assert second is not None and second[1] == batch(10)
    again.close()


def test_outage_spools_and_replays_in_order_while_new_data_keeps_flowing(tmp_path: Path) -> None:
    store = FlakyStore()
    sink = SpoolingSink(store, Spool(tmp_path / "spool.db", 10**6), site=SITE.id, retry_max_s=0.05)
    sink.start()
    sink.write(batch(0))
    store.up.clear()
    for start in range(10, 100, 10):  # the store is down: each write returns (durable in the spool)
        sink.write(batch(start))
    assert sink.spool.readings == 90
    store.up.set()
    sink.write(batch(100))  # behind the spool, not before it
    wait_until(lambda: sink.spool.batches == 0)
    assert [r.value for r in store.taken] == [float(i) for i in range(110)]
    sink.stop()


def test_a_full_spool_refuses_instead_of_dropping_and_alerts_before(tmp_path: Path) -> None:
    findings: list[Finding] = []
    store = FlakyStore()
    store.up.clear()
    spool = Spool(tmp_path / "spool.db", max_bytes=sum(len(encode(batch(s))) for s in range(0, 50, 10)))
    sink = SpoolingSink(store, spool, site=SITE.id, on_finding=findings.append, retry_max_s=0.05)
    for start in range(0, 50, 10):
        sink.write(batch(start))
    assert [f.kind for f in findings] == [FINDING_KIND] and findings[0].active
    with pytest.raises(SpoolFull):
        sink.write(batch(50))  # the gateway keeps it unacknowledged and retries: back-pressure
    assert spool.readings == 50
    sink.start()
    store.up.set()
    wait_until(lambda: spool.batches == 0)
    sink.write(batch(50))
    assert [r.value for r in store.taken] == [float(i) for i in range(60)]
    assert [f.active for f in findings] == [True, False]
    sink.stop()


@pytest.mark.parametrize(
    ("raised", "used", "expected"),
    [
        (False, 79, (False, None)),  # under the threshold: nothing
        (False, 80, (True, True)),  # at it: raised
        (True, 60, (True, None)),  # still above half of it: stays raised, no repeat
        (True, 39, (False, False)),  # below half: cleared
    ],
)
def test_fill_finding_has_hysteresis(raised: bool, used: int, expected: tuple[bool, bool | None]) -> None:
    state, finding = fill_finding(raised, used, 100, 0.8, "s", 0)
    assert (state, None if finding is None else finding.active) == expected


@pytest.mark.integration
def test_victoria_down_then_back_everything_lands_in_order(tmp_path: Path, victoria: Victoria) -> None:
    store = InfluxStore(SITE, url=victoria.url, token="t", org="o", bucket="b", retries=0, timeout_s=2)
    sink = SpoolingSink(store, Spool(tmp_path / "spool.db", 10**7), site=SITE.id, retry_max_s=0.2)
    sink.start()
    t0 = int(time.time() * 1000)

    def readings(start: int) -> list[Reading]:
        return [Reading(SITE.id, ELEV.id, "load_kg", t0 + i, float(i)) for i in range(start, start + 100)]

    sink.write(readings(0))
    victoria.stop()
    for start in range(100, 1000, 100):
        sink.write(readings(start))
    assert sink.spool.readings == 900
    victoria.start()
    sink.write(readings(1000))
    wait_until(lambda: sink.spool.batches == 0)
    series = victoria.export_until(lambda s: bool(s) and len(s[0]["values"]) >= 1100)  # type: ignore[arg-type]
    assert series[0]["timestamps"] == [t0 + i for i in range(1100)]
    assert series[0]["values"] == [float(i) for i in range(1100)]
    sink.stop()
    store.close()
