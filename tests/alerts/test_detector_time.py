"""Time you can trust, detector side: no detector's clock moves past the batch's wall time, and a reading
that comes late is judged or ignored per channel without blinding the channel (issue 12, part 4)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.detection.rules import ENTRAPMENT_KIND, Rules
from alerts.detection.threshold import ThresholdDetector
from alerts.engine.ports import AlertQuery
from facwatch.config import load_site
from facwatch.model import Finding, Reading, utc_from_ms
from tests.alerts.helpers import DATABASES, MOVING, STUCK, T0_MS, Harness, frame, state_engine

SITE = load_site("demo", variables={"data_dir": "/nonexistent"})
DAY_MS = 86_400_000

Step = tuple[Mapping[str, float], int, int]
"""(values, event time after T0 in s, wall time after T0 in s) of one frame of b1-elev-1."""


def moving_then_stuck(extra: list[Step], stuck_from: int = 20) -> list[Step]:
    steps: list[Step] = [(MOVING, s, s) for s in range(0, 10)]
    steps += extra
    steps += [(STUCK, s, s) for s in range(stuck_from, stuck_from + 10)]
    return steps


def play(rules: Rules, steps: list[Step]) -> list[Finding]:
    out: list[Finding] = []
    for values, event_s, wall_s in steps:
        out += rules.observe(frame(values, T0_MS + event_s * 1000), T0_MS + wall_s * 1000)
    return out


CASES: list[tuple[str, list[Step], int]] = [
    # (what, steps, when the entrapment is found: seconds after T0)
    ("nothing odd", moving_then_stuck([]), 24),
    ("one reading 6 days ahead", moving_then_stuck([(MOVING, 6 * 86_400, 10)]), 24),
    ("one reading 59 s ahead", moving_then_stuck([(MOVING, 69, 10)]), 24),
    ("a reading 8 s late, then normal ones", moving_then_stuck([(MOVING, 2, 10)]), 24),
    ("a device 30 s ahead all along", [(v, e + 30, w) for v, e, w in moving_then_stuck([])], 24),
    (
        "a stuck car dated far ahead is judged at the wall time",
        moving_then_stuck([], 20)[:10] + [(STUCK, 5 * 86_400 + s, 20 + s) for s in range(10)],
        24,
    ),
    (
        "a burst of late readings (a redelivery) is ignored",
        moving_then_stuck([(MOVING, s, 10) for s in range(2, 7)]),
        24,
    ),
    (
        "a backlog streamed behind newer readings (a minute of them a second) is ignored",
        moving_then_stuck([(STUCK, 60 * k - 3600, 10 + k) for k in range(10)]),
        24,
    ),
    (
        # A reboot: the clock restarts 120 s behind. Late for 3 s of wall time (10..13), then the event time
        # continues from 9 s: the car stuck from wall 10 s is judged from 10 s on, found 4 s after.
        "a clock that stepped back 120 s",
        [(MOVING, s, s) for s in range(10)] + [(STUCK, s - 120, s) for s in range(10, 30)],
        14,
    ),
]


@pytest.mark.parametrize(("what", "steps", "found_s"), CASES, ids=[c[0] for c in CASES])
def test_an_entrapment_is_found_whatever_the_clocks_said(what: str, steps: list[Step], found_s: int) -> None:
    findings = [f for f in play(Rules(SITE), steps) if f.kind == ENTRAPMENT_KIND]
    assert [(f.active, (f.ts_ms - T0_MS) // 1000) for f in findings] == [(True, found_s)], what


def test_no_detector_clock_moves_past_the_wall_clock() -> None:
    rules = Rules(SITE)
    play(rules, [(MOVING, 6 * 86_400, 10)])
    for asset_state in rules.state().values():
        assert asset_state.judged_ms <= T0_MS + 10_000
        assert all(ts <= T0_MS + 10_000 for ts in asset_state.seen_ms.values())
        for watch in asset_state.watches.values():
            for det in (None if watch is None else watch.detector, None if watch is None else watch.decision):
                if isinstance(det, ThresholdDetector) and det._last_ts_ms is not None:
                    assert det._last_ts_ms <= T0_MS + 10_000


@pytest.mark.parametrize("late_channel", ["load_kg", "vibration_rms_g", "in_door_zone"])
def test_a_late_reading_is_ignored_per_channel_and_the_channel_stays_watched(late_channel: str) -> None:
    """Older than what its channel already said: ignored and counted; later readings are judged."""
    rules = Rules(SITE)
    play(rules, [(MOVING, s, s) for s in range(10)])
    late = Reading(SITE.id, "b1-elev-1", late_channel, T0_MS + 3_000, 999.0)
    assert rules.observe([late], T0_MS + 10_000) == []
    assert rules.late_readings == 1
    assert rules.state()["b1-elev-1"].values[late_channel] != 999.0  # the newer value stands
    later = play(rules, [(STUCK, s, s) for s in range(10, 20)])
    assert [(f.kind, f.active) for f in later] == [(ENTRAPMENT_KIND, True)]


def test_a_channel_reporting_late_against_the_others_is_still_judged() -> None:
    """load_kg arrives 2 s behind the other channels: it is newer for its own channel, so it is taken and
    the asset judged at its latest time (no detector's clock goes back)."""
    rules = Rules(SITE)
    out: list[Finding] = []
    for s in range(0, 20):
        values = MOVING if s < 10 else STUCK
        others = [r for r in frame(values, T0_MS + s * 1000) if r.channel != "load_kg"]
        load = [Reading(SITE.id, "b1-elev-1", "load_kg", T0_MS + (s - 2) * 1000, values["load_kg"])]
        out += rules.observe(others + load, T0_MS + s * 1000)
    assert [(f.kind, f.active) for f in out] == [(ENTRAPMENT_KIND, True)]
    assert rules.late_readings == 0


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def test_a_future_dated_reading_then_an_entrapment_is_red_within_10_s(engine: Engine) -> None:
    h = Harness(engine, SITE, words=False)
    now = T0_MS
    for s in range(10):
        h.service.observe(frame(MOVING, now + s * 1000), now=utc_from_ms(now + s * 1000))
    h.service.observe(frame(MOVING, now + 6 * DAY_MS), now=utc_from_ms(now + 10_000))  # one bad clock
    for s in range(11, 30):
        h.service.observe(frame(STUCK, now + s * 1000), now=utc_from_ms(now + s * 1000))
    (alert,) = h.service.list_alerts(AlertQuery(asset="b1-elev-1")).items
    assert alert.kind == ENTRAPMENT_KIND and alert.level.value == "red"
    assert (alert.opened_at - utc_from_ms(now + 11_000)).total_seconds() <= 10
    assert [n.kind.value for n in h.notices] == ["opened"]
