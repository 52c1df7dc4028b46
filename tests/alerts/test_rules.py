"""Rules: readings of the demo site in, findings out (event time only)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from alerts.detection.profile import load_profile
from alerts.detection.rules import ENTRAPMENT_KIND, Rules
from alerts.detection.signals import ENTRAPMENT_HOLD_S
from facwatch.config import load_site
from facwatch.errors import ConfigError
from facwatch.model import MACHINE_KINDS, AssetKind, Finding, Level, Reading
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
        # a normal stop at a landing is not an entrapment (under a minute: see the field faults below)
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
        # the alarm button at a landing, doors open, is no entrapment (doors shut: 平层困人, in the table below)
        ([(MOVING, 2), ({**AT_FLOOR, "door_open": 1, "alarm_button": 1}, 5)], []),
        # vibration above 0.35 g for 3 s → abnormal vibration (RED); back to normal → cleared
        (
            [(MOVING, 1), ({**MOVING, "vibration_rms_g": 0.6}, 7), (MOVING, 2)],
            [("elevator.abnormal_vibration", True, 4.0), ("elevator.abnormal_vibration", False, 8.0)],
        ),
        # one jolt over the limit is not
        ([(MOVING, 1), ({**MOVING, "vibration_rms_g": 0.6}, 1), (MOVING, 5)], []),
        # 20 % over rated speed (1.75 m/s) for 2 s → overspeed
        ([(MOVING, 1), ({**MOVING, "speed_mps": 2.1}, 4)], [("elevator.overspeed", True, 3.0)]),
    ],
)
def test_elevator_rules(
    script: list[tuple[Mapping[str, float], int]], expected: list[tuple[str, bool, float]]
) -> None:
    assert offsets(feed(Rules(SITE), script)) == expected


OPEN_STOP = {**STUCK, "door_open": 1}
"""Stopped outside the door zone with the door open (what a door opened on a trip leaves)."""
OPEN_AT_LANDING = {**AT_FLOOR, "door_open": 1}
CREEP = {**OPEN_AT_LANDING, "in_door_zone": 0, "speed_mps": 0.15, "running": 0, "motor_current_a": 0}
"""Moving off a landing with the doors open and the drive off (a slipping brake)."""
TOP = {**EMPTY_STUCK, "floor": 18, "limit_switch": 1}
BOTTOM = {**EMPTY_STUCK, "floor": 1, "limit_switch": 1}
INSPECTION = {"inspection_mode": 1}
LANDING_ALARM = {**AT_FLOOR, "alarm_button": 1}
"""At a landing, doors shut, someone inside pressing the alarm button."""
FIELD_LEVELS = {
    "elevator.entrapment": Level.RED,
    "elevator.entrapment_at_landing": Level.RED,
    "elevator.moving_doors_open": Level.RED,
    "elevator.door_open_running": Level.ORANGE,
    "elevator.stopped_outside_door_zone": Level.ORANGE,
    "elevator.overtravel_top": Level.ORANGE,
    "elevator.overtravel_bottom": Level.ORANGE,
    "elevator.overspeed": Level.ORANGE,
}


def _chatter(seconds_: int, pattern: tuple[int, ...]) -> list[tuple[Mapping[str, float], int]]:
    """A running car whose door contact reads ``pattern`` (1: open) over and over."""
    return [({**MOVING, "door_open": pattern[i % len(pattern)]}, 1) for i in range(seconds_)]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # 平层困人: at a landing, doors shut, someone inside, the car not leaving: RED after a minute
        ([(MOVING, 2), (AT_FLOOR, 65)], [("elevator.entrapment_at_landing", True, 62.0)]),
        # ... and it clears when the doors open
        (
            [(MOVING, 2), (AT_FLOOR, 61), (OPEN_AT_LANDING, 2)],
            [("elevator.entrapment_at_landing", True, 62.0), ("elevator.entrapment_at_landing", False, 63.0)],
        ),
        # ... at once when the passenger presses the alarm button in that car (a person says so)
        ([(MOVING, 2), (AT_FLOOR, 5), (LANDING_ALARM, 2)], [("elevator.entrapment_at_landing", True, 7.0)]),
        # ... the alarm, then the minute: one entrapment, cleared once when the doors open
        (
            [(MOVING, 2), (AT_FLOOR, 5), (LANDING_ALARM, 60), (OPEN_AT_LANDING, 2)],
            [("elevator.entrapment_at_landing", True, 7.0), ("elevator.entrapment_at_landing", False, 67.0)],
        ),
        # the alarm button at a landing with the doors open (a passenger who can walk out) is not one
        ([(MOVING, 2), ({**OPEN_AT_LANDING, "alarm_button": 1}, 20)], []),
        # ... nor in an empty car (nobody inside to press it: a wiring fault), nor in a car the drive runs
        ([(MOVING, 2), ({**LANDING_ALARM, "load_kg": 0}, 20)], []),
        ([(MOVING, 2), ({**LANDING_ALARM, "running": 1}, 20)], []),
        # a rider who waits 50 s before pressing a button is not trapped
        ([(MOVING, 2), (AT_FLOOR, 50), (MOVING, 5)], []),
        # an empty car parked at a landing, doors shut, is not an entrapment
        ([(MOVING, 2), ({**AT_FLOOR, "load_kg": 0}, 90)], []),
        # doors standing open at a landing for 90 s (held for a delivery) is not one either
        ([(MOVING, 2), (OPEN_AT_LANDING, 90)], []),
        # 运行中开门: the door opened on a trip; the car stands outside the door zone, door open: after 30 s
        ([(MOVING, 2), (OPEN_STOP, 35)], [("elevator.door_open_running", True, 32.0)]),
        # ... as does a door contact reading open in a running car for 30 s
        ([(MOVING, 2), ({**MOVING, "door_open": 1}, 32)], [("elevator.door_open_running", True, 32.0)]),
        # door-switch chatter: open every other reading for a minute of running raises nothing
        ([(MOVING, 2), *_chatter(60, (1, 0))], []),
        # ... nor does a contact open three readings in four (it closes once in a while)
        ([(MOVING, 2), *_chatter(120, (1, 1, 1, 0))], []),
        # ... nor an isolated blip now and then over ten minutes
        ([(MOVING, 2), *_chatter(600, (0, 0, 0, 0, 0, 1))], []),
        # 开门走车: doors open at a landing, the car creeps off with the drive off: RED on the second reading
        (
            [(OPEN_AT_LANDING, 3), (CREEP, 4), (OPEN_STOP, 5)],
            [("elevator.moving_doors_open", True, 4.0), ("elevator.moving_doors_open", False, 7.0)],
        ),
        # one reading of creep (a glitch of the speed sensor) is not
        ([(OPEN_AT_LANDING, 3), (CREEP, 1), (OPEN_AT_LANDING, 5)], []),
        # a run the drive commands with the doors open is 运行中开门's (after 30 s), not 开门走车
        ([(MOVING, 1), ({**MOVING, "door_open": 1}, 5)], []),
        # 门区外停梯: an empty car stopped outside the door zone, doors shut: after 45 s
        ([(MOVING, 2), (EMPTY_STUCK, 50)], [("elevator.stopped_outside_door_zone", True, 47.0)]),
        # ... a stop of 40 s is not (the car moves on)
        ([(MOVING, 2), (EMPTY_STUCK, 40), (MOVING, 5)], []),
        # 冲顶 / 蹲底: on the final limit switch above the top landing / below the bottom one, two readings
        ([(MOVING, 2), (TOP, 3)], [("elevator.overtravel_top", True, 3.0)]),
        ([(MOVING, 2), (BOTTOM, 3)], [("elevator.overtravel_bottom", True, 3.0)]),
        # ... on the limit switch the car is not also reported stopped outside the door zone
        ([(MOVING, 2), (TOP, 60)], [("elevator.overtravel_top", True, 3.0)]),
        # one reading of the limit switch (a glitch) is not
        ([(MOVING, 2), (TOP, 1), ({**MOVING, "limit_switch": 0}, 3)], []),
        # 检修 mutes the running-state rules: a technician between floors with the car (not trapped) ...
        ([(MOVING, 2), ({**STUCK, **INSPECTION}, 60)], []),
        # ... pressing the alarm button to test it
        ([(MOVING, 2), ({**ALARM, **INSPECTION}, 10)], []),
        # ... at a landing, doors shut, for long, testing the alarm button there too
        ([(MOVING, 2), ({**LANDING_ALARM, **INSPECTION}, 90)], []),
        # ... at a landing, doors shut, for long
        ([(MOVING, 2), ({**AT_FLOOR, **INSPECTION}, 90)], []),
        # ... working with the door open outside the door zone
        ([(MOVING, 2), ({**OPEN_STOP, **INSPECTION}, 60)], []),
        # ... moving the car with the door open and the drive off (the brake test)
        ([(OPEN_AT_LANDING, 3), ({**CREEP, **INSPECTION}, 4)], []),
        # ... leaving the car empty between floors, or on a final limit switch (the limit test)
        ([(MOVING, 2), ({**EMPTY_STUCK, **INSPECTION}, 60)], []),
        ([(MOVING, 2), ({**TOP, **INSPECTION}, 10)], []),
        # switching to inspection clears an entrapment already raised (the technician has arrived)
        (
            [(MOVING, 2), (STUCK, 6), ({**STUCK, **INSPECTION}, 3)],
            [(ENTRAPMENT_KIND, True, 6.0), (ENTRAPMENT_KIND, False, 8.0)],
        ),
        # overspeed is not muted: no inspection run goes faster than 0.63 m/s, so 110 % of rated is a fault
        ([(MOVING, 1), ({**MOVING, **INSPECTION, "speed_mps": 2.1}, 4)], [("elevator.overspeed", True, 3.0)]),
    ],
)
def test_elevator_field_rules(
    script: list[tuple[Mapping[str, float], int]], expected: list[tuple[str, bool, float]]
) -> None:
    findings = feed(Rules(SITE), script)
    assert offsets(findings) == expected
    assert all(f.level is FIELD_LEVELS[f.kind] for f in findings)


def test_doors_reopening_on_inspection_are_not_a_door_fault() -> None:
    at_landing = {**AT_FLOOR, **INSPECTION, "door_open": 1}
    script: list[tuple[Mapping[str, float], int]] = [(MOVING, 2)]
    for _ in range(8):  # the technician opens and closes the doors again and again
        script += [(at_landing, 4), ({**AT_FLOOR, **INSPECTION}, 2)]
    assert feed(Rules(SITE), script) == []


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


PUMP_OK = {
    "discharge_pressure_bar": 5.8,
    "suction_pressure_bar": 1.3,
    "flow_m3h": 25,
    "motor_current_a": 18,
    "vibration_rms_mms": 1.8,
    "bearing_temp_c": 45,
    "running": 1,
}
POWER_OK = {
    "voltage_l1_v": 229,
    "voltage_l2_v": 231,
    "voltage_l3_v": 230,
    "current_l1_a": 200,
    "current_l2_a": 210,
    "current_l3_a": 205,
    "transformer_temp_c": 55,
}
# the contract's default levels (docs/detectors.md; the fire pump's dry run is RED, tested below)
LEVELS = {
    "pump.pipe_burst": Level.RED,
    "pump.dry_run": Level.ORANGE,
    "pump.cavitation": Level.ORANGE,
    "pump.overheat": Level.ORANGE,
    "pump.tripped": Level.ORANGE,
    "pump.bearing_fault": Level.ORANGE,
    "power.outage": Level.RED,
    "power.phase_loss": Level.RED,
    "power.voltage_sag": Level.ORANGE,
    "power.voltage_swell": Level.ORANGE,
    "power.overload": Level.ORANGE,
    "power.transformer_overheat": Level.ORANGE,
}
BURST = {**PUMP_OK, "discharge_pressure_bar": 1.4, "flow_m3h": 50, "motor_current_a": 25}
DRY = {
    **PUMP_OK,
    "discharge_pressure_bar": 0.2,
    "suction_pressure_bar": 0.1,
    "flow_m3h": 1,
    "motor_current_a": 6,
}


@pytest.mark.parametrize(
    ("asset", "script", "expected"),
    [
        # b1-pump-1 (rated 6 bar, 30 m³/h): pressure under half of rated while the flow surges → burst in 1 s
        ("b1-pump-1", [(PUMP_OK, 2), (BURST, 5)], [("pump.pipe_burst", True, 3.0)]),
        # ... and it clears when the pressure is back
        (
            "b1-pump-1",
            [(PUMP_OK, 2), (BURST, 3), (PUMP_OK, 2)],
            [("pump.pipe_burst", True, 3.0), ("pump.pipe_burst", False, 5.0)],
        ),
        # low pressure without a flow surge (a throttled valve, a failing sensor) is not a burst
        ("b1-pump-1", [(PUMP_OK, 2), ({**PUMP_OK, "discharge_pressure_bar": 1.5}, 10)], []),
        # a duty pump that stops for 5 s has tripped (its zero pressure is not a burst)
        (
            "b1-pump-1",
            [(PUMP_OK, 2), ({**PUMP_OK, "discharge_pressure_bar": 0.0, "flow_m3h": 0, "running": 0}, 10)],
            [("pump.tripped", True, 7.0)],
        ),
        # running with no flow and little current for 5 s: dry run (not a burst: no flow surge)
        ("b1-pump-1", [(PUMP_OK, 2), (DRY, 8)], [("pump.dry_run", True, 7.0)]),
        # suction under 0.5 bar while pumping, for 10 s: cavitation
        (
            "b1-pump-1",
            [(PUMP_OK, 2), ({**PUMP_OK, "suction_pressure_bar": 0.2}, 12)],
            [("pump.cavitation", True, 12.0)],
        ),
        # bearing at 95 °C for a minute: overheat
        (
            "b1-pump-1",
            [(PUMP_OK, 2), ({**PUMP_OK, "bearing_temp_c": 95}, 62)],
            [("pump.overheat", True, 62.0)],
        ),
        # vibration above 7.1 mm/s for 30 s: bearing fault
        (
            "b1-pump-1",
            [(PUMP_OK, 2), ({**PUMP_OK, "vibration_rms_mms": 8}, 32)],
            [("pump.bearing_fault", True, 32.0)],
        ),
        # all three phases gone for 2 s → outage; back → cleared
        (
            "b1-panel",
            [(POWER_OK, 1), ({"voltage_l1_v": 0, "voltage_l2_v": 3, "voltage_l3_v": 1}, 4), (POWER_OK, 1)],
            [("power.outage", True, 3.0), ("power.outage", False, 5.0)],
        ),
        # one phase lost is not an outage of the building, but a phase loss (RED), and not a sag
        (
            "b1-panel",
            [(POWER_OK, 1), ({**POWER_OK, "voltage_l3_v": 0}, 10)],
            [("power.phase_loss", True, 3.0)],
        ),
        # every phase 17 % low for 5 s: sag; 9 % high: swell
        (
            "b1-panel",
            [(POWER_OK, 1), ({k: 190 for k in POWER_OK if "voltage" in k}, 8)],
            [("power.voltage_sag", True, 6.0)],
        ),
        (
            "b1-panel",
            [(POWER_OK, 1), ({k: 251 for k in POWER_OK if "voltage" in k}, 8)],
            [("power.voltage_swell", True, 6.0)],
        ),
        # a phase current 15 % over the panel's rated 400 A for a minute: overload
        (
            "b1-panel",
            [(POWER_OK, 1), ({**POWER_OK, "current_l2_a": 460}, 62)],
            [("power.overload", True, 61.0)],
        ),
        # ... but a short inrush is not
        ("b1-panel", [(POWER_OK, 1), ({**POWER_OK, "current_l2_a": 600}, 20), (POWER_OK, 5)], []),
    ],
)
def test_composite_rules(
    asset: str, script: list[tuple[Mapping[str, float], int]], expected: list[tuple[str, bool, float]]
) -> None:
    findings = feed(Rules(SITE), script, asset)
    assert offsets(findings) == expected
    assert all(f.level is LEVELS[f.kind] for f in findings)


def test_a_dry_running_fire_pump_is_red() -> None:
    findings = feed(Rules(SITE), [(PUMP_OK, 2), (DRY, 8)], "b2-fire-pump")
    assert [(f.kind, f.level) for f in findings] == [("pump.dry_run", Level.RED)]


def test_a_stopped_standby_pump_has_not_tripped() -> None:
    idle = {**PUMP_OK, "flow_m3h": 0, "motor_current_a": 0, "running": 0}
    assert feed(Rules(SITE), [(idle, 60)], "b2-fire-pump") == []


def test_readings_of_unknown_assets_and_sites_are_ignored() -> None:
    rules = Rules(SITE)
    for i in range(10):
        assert rules.observe(frame(STUCK, T0_MS + i * 1000, "no-such-asset")) == []
        assert rules.observe([Reading("other-site", "b1-elev-1", "load_kg", T0_MS, 100.0)]) == []


def test_doors_that_keep_reopening_at_a_landing_are_a_door_fault() -> None:
    at_landing = {**AT_FLOOR, "door_open": 1}
    script: list[tuple[Mapping[str, float], int]] = [(MOVING, 2)]
    for _ in range(8):  # open 4 s, closed 2 s, again and again; the car never leaves
        script += [(at_landing, 4), (AT_FLOOR, 2)]
    findings = feed(Rules(SITE), script)
    assert [(f.kind, f.active, f.level) for f in findings] == [("elevator.door_fault", True, Level.ORANGE)]
    # the fifth opening (2 s moving, then 6 s per cycle) raises it
    assert (findings[0].ts_ms - T0_MS) / 1000 == 2 + 4 * 6


def test_a_normal_day_of_stops_is_not_a_door_fault() -> None:
    at_landing = {**AT_FLOOR, "door_open": 1}
    script: list[tuple[Mapping[str, float], int]] = []
    for _ in range(20):  # travel, stop, doors open once, close
        script += [(MOVING, 5), (at_landing, 6), (AT_FLOOR, 3)]
    assert feed(Rules(SITE), script) == []


def test_wear_is_predicted_with_the_date_and_the_limit() -> None:
    rules = Rules(SITE)
    out: list[Finding] = []
    fast = {**MOVING, "speed_mps": 1.7}  # above 90 % of b1-elev-1's rated 1.75 m/s
    for minute in range(3 * 24 * 60):  # three days, one frame a minute, vibration climbing 0.04 g a day
        vibration = 0.016 + 0.04 * minute / 1440
        out += rules.observe(frame({**fast, "vibration_rms_g": vibration}, T0_MS + minute * 60_000))
    wear = [f for f in out if f.kind == "elevator.wear_predicted"]
    assert wear and wear[0].active and wear[0].level is Level.YELLOW
    detail = wear[0].detail
    assert wear[0].channel == "vibration_rms_g" and detail["limit"] == 0.35
    assert all(isinstance(v, float) for v in detail.values())  # Finding.detail holds numbers only
    # the truth: 0.35 g is reached (0.35 - 0.016) / 0.04 = 8.35 days after T0
    predicted_days = (detail["predicted_at_ms"] - T0_MS) / 86_400_000
    assert predicted_days == pytest.approx(8.35, abs=0.5)
    assert (wear[0].ts_ms - T0_MS) / 86_400_000 < 8.35 - 1  # more than a day ahead
    # the time to the limit with its interval, in hours from the finding
    truth_h = (T0_MS + 8.35 * 86_400_000 - wear[0].ts_ms) / 3_600_000
    assert detail["limit_in_h_low"] <= detail["limit_in_h"] <= detail["limit_in_h_high"]
    assert detail["limit_in_h"] == pytest.approx(
        (detail["predicted_at_ms"] - wear[0].ts_ms) / 3_600_000, abs=1
    )
    assert detail["limit_in_h_low"] - 12 <= truth_h <= detail["limit_in_h_high"] + 12


def test_a_silent_channel_is_a_sensor_dropout_and_clears_when_it_returns() -> None:
    without = {k: v for k, v in MOVING.items() if k != "vibration_rms_g"}
    findings = feed(Rules(SITE), [(MOVING, 5), (without, 70), (MOVING, 2)])
    assert [(f.kind, f.active, f.channel, f.level) for f in findings] == [
        ("sensor.dropout", True, "vibration_rms_g", Level.BLUE),
        ("sensor.dropout", False, "vibration_rms_g", Level.BLUE),
    ]
    assert (findings[0].ts_ms - T0_MS) / 1000 == 4 + 60


def test_a_per_asset_profile_overrides_the_kind_profile(tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text(
        '[profile]\nkind = "elevator"\n\n[[watch]]\nfinding = "elevator.abnormal_vibration"\nlevel = "red"\n'
        'signal = "vibration_rms_g"\ndetector = "threshold"\nparams = { above = 0.1 }\n'
    )
    rules = Rules(SITE, asset_profiles={"b1-elev-2": load_profile(strict)})
    shaky = {**MOVING, "vibration_rms_g": 0.2}
    out: list[Finding] = []
    for i in range(5):
        ts = T0_MS + i * 1000
        out += rules.observe(frame(shaky, ts, "b1-elev-1") + frame(shaky, ts, "b1-elev-2"))
    assert [(f.asset, f.kind) for f in out] == [("b1-elev-2", "elevator.abnormal_vibration")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[profile]\nkind = "boat"\n', "kind must be one of"),
        (
            '[profile]\nkind = "pump"\n[[watch]]\nfinding = "x"\nlevel = "red"\nsignal = "s"\n',
            "missing 'detector'",
        ),
        (
            '[profile]\nkind = "pump"\n[[watch]]\nfinding = "x"\nlevel = "red"\nsignal = "s"\ndetector = "magic"\n',
            "unknown detector 'magic'",
        ),
        (
            '[profile]\nkind = "pump"\n[[watch]]\nfinding = "x"\nlevel = "pink"\nsignal = "s"\ndetector = "threshold"\n',
            "level must be one of",
        ),
        (
            '[profile]\nkind = "pump"\n[[watch]]\nfinding = "x"\nlevel = "red"\nsignal = "s"\ndetector = "threshold"\n'
            "params = { abvoe = 1 }\n",
            "no parameter 'abvoe'",
        ),
        (
            '[profile]\nkind = "pump"\n[[watch]]\nfinding = "x"\nlevel = "red"\nsignal = "s"\ndetector = "threshold"\n'
            'when = ["speed >> 3"]\n',
            "cannot read condition",
        ),
    ],
)
def test_a_bad_profile_fails_at_load_naming_the_watch(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_profile(path)


def test_every_shipped_profile_loads_and_raises_contract_kinds_only() -> None:
    contract = {
        AssetKind.ELEVATOR: {"elevator.entrapment", "elevator.abnormal_vibration", "elevator.wear_predicted",
                             "elevator.door_fault", "elevator.overspeed", "elevator.out_of_service",
                             "elevator.entrapment_at_landing", "elevator.moving_doors_open",
                             "elevator.door_open_running", "elevator.stopped_outside_door_zone",
                             "elevator.overtravel_top", "elevator.overtravel_bottom"},
        AssetKind.PUMP: {"pump.pipe_burst", "pump.dry_run", "pump.cavitation", "pump.wear_predicted",
                         "pump.bearing_fault", "pump.overheat", "pump.tripped"},
        AssetKind.POWER: {"power.outage", "power.phase_loss", "power.voltage_sag", "power.voltage_swell",
                          "power.overload", "power.transformer_overheat"},
    }  # fmt: skip
    for kind in MACHINE_KINDS:
        profile = load_profile(kind.value)
        assert profile.kind is kind
        kinds = {w.finding for w in profile.watches}
        assert kinds <= contract[kind] | {"sensor.stuck", "sensor.drift"}


def test_a_site_file_can_give_an_asset_its_own_profile(tmp_path: Path) -> None:
    (tmp_path / "strict.toml").write_text(
        '[profile]\nkind = "elevator"\n\n[[watch]]\nfinding = "elevator.abnormal_vibration"\nlevel = "red"\n'
        'signal = "vibration_rms_g"\ndetector = "threshold"\nparams = { above = 0.1 }\n'
    )
    text = (Path(__file__).parents[2] / "facwatch" / "sites" / "demo.toml").read_text(encoding="utf-8")
    text = text.replace('checkin_code = "CKTR-H2CH"', 'checkin_code = "CKTR-H2CH"\nprofile = "strict.toml"')
    (tmp_path / "site.toml").write_text(text, encoding="utf-8")
    site = load_site(tmp_path / "site.toml", variables={"data_dir": str(tmp_path)})
    shaky = {**MOVING, "vibration_rms_g": 0.2}
    rules = Rules(site)
    out: list[Finding] = []
    for i in range(5):
        ts = T0_MS + i * 1000
        out += rules.observe(frame(shaky, ts, "b1-elev-1") + frame(shaky, ts, "b1-elev-2"))
    assert [(f.asset, f.kind) for f in out] == [("b1-elev-2", "elevator.abnormal_vibration")]


def test_a_profile_for_another_kind_of_asset_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "facwatch" / "sites" / "demo.toml").read_text(encoding="utf-8")
    text = text.replace('checkin_code = "CKTR-H2CH"', 'checkin_code = "CKTR-H2CH"\nprofile = "pump"')
    (tmp_path / "site.toml").write_text(text, encoding="utf-8")
    site = load_site(tmp_path / "site.toml", variables={"data_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="b1-elev-2: profile 'pump' is for a pump"):
        Rules(site)


def test_a_multivariate_watch_flags_a_broken_relation_between_channels(tmp_path: Path) -> None:
    path = tmp_path / "pca.toml"
    path.write_text(
        '[profile]\nkind = "pump"\n\n[[watch]]\nfinding = "sensor.drift"\nlevel = "blue"\n'
        'signal = ["flow_m3h", "discharge_pressure_bar"]\ndetector = "pca"\n'
        "params = { warmup = 300, refit_every = 300 }\ndecide = { above = 50, min_duration_s = 3 }\n"
    )
    rules = Rules(SITE, asset_profiles={"b1-pump-1": load_profile(path)})
    out: list[Finding] = []
    for i in range(600):  # along the pump curve: more flow, less pressure
        flow = 15 + 10 * ((i * 7) % 100) / 100
        values = {"flow_m3h": flow, "discharge_pressure_bar": 7.5 - 0.06 * flow + 0.01 * ((i * 13) % 7)}
        if i >= 500:
            values["discharge_pressure_bar"] += (
                0.8  # the pressure sensor reads high: every value still in range
            )
        out += rules.observe(frame(values, T0_MS + i * 1000, "b1-pump-1"))
    assert [(f.kind, f.active) for f in out] == [("sensor.drift", True)]
    assert 500 <= (out[0].ts_ms - T0_MS) / 1000 <= 505


@pytest.mark.parametrize(
    ("start_h", "expected"),
    [
        # T0 is 16:00 in Shanghai: a car parked for over an hour in the afternoon is out of service
        (0, [("elevator.out_of_service", True)]),
        # the same from midnight local (T0 + 8 h): a car parked at night is normal
        (8, []),
    ],
)
def test_a_car_that_stops_moving_for_hours_in_the_daytime_is_out_of_service(
    start_h: int, expected: list[tuple[str, bool]]
) -> None:
    rules = Rules(SITE)
    out: list[Finding] = []
    t0 = T0_MS + start_h * 3_600_000
    for i in range(1800):  # half an hour of service: a new floor every 20 s (empty at each reading: a car
        # standing at landings with someone inside and its doors shut is an entrapment at a landing)
        out += rules.observe(frame({**AT_FLOOR, "floor": 2 + (i // 20) % 10, "load_kg": 0}, t0 + i * 1000))
    for i in range(1800, 1800 + 4500):  # then parked at floor 3 for 75 minutes
        out += rules.observe(frame({**AT_FLOOR, "floor": 3, "load_kg": 0}, t0 + i * 1000))
    assert [(f.kind, f.active) for f in out] == expected
    if expected:
        parked_s = (out[0].ts_ms - t0) / 1000 - 1800
        assert 3600 <= parked_s <= 3700  # after an hour standing still


def test_the_rule_state_survives_a_restart_through_pickle() -> None:
    import pickle

    rules = Rules(SITE)
    first = feed(rules, [(MOVING, 2), (STUCK, 2)])  # stuck for 2 s of the 4 s hold
    restored = pickle.loads(pickle.dumps(rules))
    later = [f for r in seconds(STUCK, 4, 4) for f in restored.observe(r)]
    assert first == [] and offsets(later) == [(ENTRAPMENT_KIND, True, 2 + ENTRAPMENT_HOLD_S)]


def test_a_detector_parameter_out_of_range_fails_when_the_rules_start(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[profile]\nkind = "elevator"\n\n[[watch]]\nfinding = "elevator.wear_predicted"\nlevel = "yellow"\n'
        'signal = "vibration_rms_g"\ndetector = "trend"\nparams = { limit = 0.35, window = 2 }\n'
    )
    with pytest.raises(ConfigError, match=r"b1-elev-1: watch 1 \(elevator.wear_predicted\): .*window"):
        Rules(SITE, asset_profiles={"b1-elev-1": load_profile(path)})


def test_a_car_on_inspection_for_hours_is_not_out_of_service() -> None:
    rules = Rules(SITE)
    out: list[Finding] = []
    for i in range(1800):  # half an hour of service in the afternoon: a new floor every 20 s
        out += rules.observe(frame({**AT_FLOOR, "floor": 2 + (i // 20) % 10, "load_kg": 0}, T0_MS + i * 1000))
    for i in range(1800, 1800 + 4500):  # then 75 minutes with a technician on inspection, parked at floor 3
        out += rules.observe(frame({**EMPTY_STUCK, **INSPECTION, "floor": 3}, T0_MS + i * 1000))
    assert out == []
