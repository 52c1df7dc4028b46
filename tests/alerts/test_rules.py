"""Rules: readings of the demo site in, findings out (event time only)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from alerts.rules import ENTRAPMENT_HOLD_S, ENTRAPMENT_KIND, Rules
from facwatch.config import load_site
from facwatch.model import Finding, Level, Reading
from tests.alerts.helpers import AT_FLOOR, EMPTY_STUCK, MOVING, STUCK, T0_MS, frame, seconds

SITE = load_site("demo", variables={"data_dir": "/tmp/facwatch-unused"})


def feed(
    rules: Rules, script: list[tuple[Mapping[str, float], int]], asset: str = "b1-elev-1"
) -> list[Finding]:
    """Feed (values, seconds) segments at 1 Hz; returns every finding with its second offset in ts_ms."""
    out: list[Finding] = []
    t = 0
    for values, count in script:
        for readings in seconds(values, t, count, asset):
            out.extend(rules.observe(readings))
        t += count
    return out


def offsets(findings: list[Finding]) -> list[tuple[str, bool, float]]:
    return [(f.kind, f.active, (f.ts_ms - T0_MS) / 1000) for f in findings]


ALARM = {**STUCK, "alarm_button": 1}


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # stuck between floors with people inside: RED after the hold (onset at 2 s, fires at 2 + hold)
        ([(MOVING, 2), (STUCK, 8)], [(ENTRAPMENT_KIND, True, 2 + ENTRAPMENT_HOLD_S)]),
        # a normal stop at a landing is not an entrapment, however long
        ([(MOVING, 2), (AT_FLOOR, 30)], []),
        # an empty car stopped between floors traps nobody
        ([(MOVING, 2), (EMPTY_STUCK, 30)], []),
        # doors open between floors (rescue in progress) is not counted as trapped
        ([(MOVING, 2), ({**STUCK, "door_open": 1}, 30)], []),
        # a short halt between floors (shorter than the hold) raises nothing
        ([(MOVING, 2), (STUCK, 3), (MOVING, 5)], []),
        # it clears when the car moves again
        (
            [(MOVING, 2), (STUCK, 8), (MOVING, 3)],
            [(ENTRAPMENT_KIND, True, 6.0), (ENTRAPMENT_KIND, False, 10.0)],
        ),
        # the alarm button in a car stopped between floors: at once
        ([(MOVING, 2), (ALARM, 1)], [(ENTRAPMENT_KIND, True, 2.0)]),
        # alarm first, then the load condition holds too: still one entrapment, no second start
        ([(MOVING, 2), (ALARM, 10)], [(ENTRAPMENT_KIND, True, 2.0)]),
        # the alarm button at a landing is not an entrapment
        ([(MOVING, 2), ({**AT_FLOOR, "alarm_button": 1}, 5)], []),
        # vibration high for 5 s → ORANGE; back to normal → cleared
        (
            [(MOVING, 1), ({**MOVING, "vibration_rms_g": 0.6}, 7), (MOVING, 2)],
            [("elevator.vibration", True, 6.0), ("elevator.vibration", False, 8.0)],
        ),
    ],
)
def test_elevator_rules(
    script: list[tuple[Mapping[str, float], int]], expected: list[tuple[str, bool, float]]
) -> None:
    assert offsets(feed(Rules(SITE), script)) == expected


def test_entrapment_is_red_and_names_the_asset() -> None:
    findings = feed(Rules(SITE), [(STUCK, 10)])
    assert len(findings) == 1
    f = findings[0]
    assert (f.level, f.site, f.asset, f.active) == (Level.RED, "lakeside", "b1-elev-1", True)
    assert "trapped" in f.summary.lower()


def test_entrapment_within_ten_seconds_at_one_hertz() -> None:
    findings = feed(Rules(SITE), [(STUCK, 10)])
    assert findings and (findings[0].ts_ms - T0_MS) / 1000 <= 10 - 1


def test_channels_of_one_instant_are_fused_whatever_their_batching() -> None:
    # The same frames, split into single-reading batches, give the same findings.
    whole = feed(Rules(SITE), [(STUCK, 10)])
    rules = Rules(SITE)
    split: list[Finding] = []
    for readings in seconds(STUCK, 0, 10):
        for r in readings:
            split.extend(rules.observe([r]))
    assert offsets(split) == offsets(whole)


def test_assets_are_judged_apart() -> None:
    rules = Rules(SITE)
    out: list[Finding] = []
    for i in range(10):
        ts = T0_MS + i * 1000
        out += rules.observe(frame(STUCK, ts, "b1-elev-1") + frame(MOVING, ts, "b1-elev-2"))
    assert [f.asset for f in out] == ["b1-elev-1"]


PUMP_OK = {"discharge_pressure_bar": 5.8, "suction_pressure_bar": 1.0, "flow_m3h": 25, "running": 1}
POWER_OK = {"voltage_l1_v": 229, "voltage_l2_v": 231, "voltage_l3_v": 230}


@pytest.mark.parametrize(
    ("asset", "script", "expected"),
    [
        # b1-pump-1 is rated 6 bar: 0.8 bar (13 %) for 3 s while running → pipe burst
        (
            "b1-pump-1",
            [(PUMP_OK, 2), ({**PUMP_OK, "discharge_pressure_bar": 0.8}, 5)],
            [("pump.pipe_burst", True, 5.0)],
        ),
        # 1.5 bar is 25 % of rated: low, but not a burst
        ("b1-pump-1", [(PUMP_OK, 2), ({**PUMP_OK, "discharge_pressure_bar": 1.5}, 10)], []),
        # a stopped pump has no pressure, and that is fine
        ("b1-pump-1", [({**PUMP_OK, "discharge_pressure_bar": 0.0, "running": 0}, 10)], []),
        # the same 1.5 bar on b2-pump-1 (rated 8 bar) is below 20 %
        (
            "b2-pump-1",
            [({**PUMP_OK, "discharge_pressure_bar": 1.5}, 5)],
            [("pump.pipe_burst", True, 3.0)],
        ),
        # all three phases gone for 2 s → outage; back → cleared
        (
            "b1-panel",
            [(POWER_OK, 1), ({"voltage_l1_v": 0, "voltage_l2_v": 3, "voltage_l3_v": 1}, 4), (POWER_OK, 1)],
            [("power.outage", True, 3.0), ("power.outage", False, 5.0)],
        ),
        # one phase lost is not an outage of the building
        ("b1-panel", [({**POWER_OK, "voltage_l1_v": 0}, 10)], []),
    ],
)
def test_threshold_table(
    asset: str, script: list[tuple[Mapping[str, float], int]], expected: list[tuple[str, bool, float]]
) -> None:
    findings = feed(Rules(SITE), script, asset)
    assert offsets(findings) == expected
    assert all(f.level is Level.RED for f in findings)


def test_readings_of_unknown_assets_and_sites_are_ignored() -> None:
    rules = Rules(SITE)
    for i in range(10):
        assert rules.observe(frame(STUCK, T0_MS + i * 1000, "no-such-asset")) == []
        assert rules.observe([Reading("other-site", "b1-elev-1", "load_kg", T0_MS, 100.0)]) == []
