"""The store-outage watch: writes failing for ``outage_s`` open ``datapath.store_unreachable``; a success clears it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from facwatch.clock import ManualClock
from facwatch.model import DATAPATH_ASSET, Finding, Level, Reading
from ingest.errors import StoreUnavailable
from ingest.factory import Telemetry
from ingest.outage import FINDING_KIND, OutageFacts, Outcome, Reason, StoreWatch, WatchedStore, judge
from ingest.sqlite_store import SqliteStore

OUT = 30_000
OK, FAIL, TICK = Outcome.SUCCEEDED, Outcome.FAILED, Outcome.TICK
HEALTHY = OutageFacts()
FAILING = OutageFacts(failing_since_ms=1_000, error="refused")
RAISED = OutageFacts(failing_since_ms=1_000, raised=True, error="refused")

CASES = [
    # facts, outcome, now, -> emitted, reason
    (HEALTHY, OK, 5_000, None, Reason.HEALTHY),  # writes succeed: nothing to say
    (HEALTHY, TICK, 5_000, None, Reason.HEALTHY),  # time passes while healthy: nothing
    (HEALTHY, FAIL, 5_000, None, Reason.FAILING),  # the first failure starts the count
    (FAILING, FAIL, 1_000 + OUT - 1, None, Reason.FAILING),  # still inside the limit
    (FAILING, FAIL, 1_000 + OUT, True, Reason.OPENED),  # failing for the whole limit: opens
    (FAILING, TICK, 1_000 + OUT, True, Reason.OPENED),  # also when only time passed (a hung write)
    (FAILING, OK, 1_000 + OUT - 1, None, Reason.HEALTHY),  # a success inside the limit: forgotten
    (RAISED, FAIL, 1_000 + 5 * OUT, None, Reason.OPENED),  # opened once, not again
    (RAISED, OK, 1_000 + 5 * OUT, False, Reason.CLEARED),  # a success clears it
]


@pytest.mark.parametrize(("facts", "outcome", "now", "emitted", "reason"), CASES)
def test_judge(facts: OutageFacts, outcome: Outcome, now: int, emitted: bool | None, reason: Reason) -> None:
    _, why, emit = judge(facts, outcome, now, OUT, "refused")
    assert (emit, why) == (emitted, reason)


class FlakyStore:
    def __init__(self) -> None:
        self.up = False

    def write(self, readings: Sequence[Reading]) -> None:
        if not self.up:
            raise StoreUnavailable("connection refused")


def test_the_watched_store_opens_and_clears_the_finding() -> None:
    clock = ManualClock(datetime(2026, 11, 28, tzinfo=UTC))
    found: list[Finding] = []
    watch = StoreWatch("s1", outage_s=30, on_finding=found.append, clock=clock)
    store = FlakyStore()
    sink = WatchedStore(store, watch)
    batch = [Reading("s1", "a", "c", 0, 1.0)]
    for _ in range(4):  # a retry every 10 s
        with pytest.raises(StoreUnavailable):
            sink.write(batch)
        clock.advance(10)
    assert [(f.kind, f.asset, f.active, f.level) for f in found] == [
        (FINDING_KIND, DATAPATH_ASSET, True, Level.ORANGE)
    ]
    assert "unreachable for 30 s" in found[0].summary and "connection refused" in found[0].summary
    store.up = True
    sink.write(batch)
    assert [f.active for f in found] == [True, False]


def test_a_local_store_is_writable_while_its_writes_succeed(tmp_path: Path) -> None:
    watch = StoreWatch("s1", outage_s=30)
    store = FlakyStore()
    reader = SqliteStore(tmp_path / "telemetry.db")
    telemetry = Telemetry(
        reader=reader, sink=WatchedStore(store, watch), watch=watch, _closers=[reader.close]
    )
    batch = [Reading("s1", "a", "c", 0, 1.0)]
    assert telemetry.writable() is None  # nothing written yet: nothing known to fail
    with pytest.raises(StoreUnavailable):
        telemetry.sink.write(batch)
    assert telemetry.writable() == "telemetry store: writes fail: connection refused"
    store.up = True
    telemetry.sink.write(batch)
    assert telemetry.writable() is None
    telemetry.close()


def test_an_outage_counts_from_the_start_of_a_write_that_hung() -> None:
    # A write began at 1 s and failed after a 40 s timeout: the outage is 40 s old already, it opens at once.
    facts, reason, emit = judge(HEALTHY, FAIL, 41_000, OUT, "timed out", attempted_ms=1_000)
    assert (emit, reason, facts.failing_since_ms) == (True, Reason.OPENED, 1_000)
