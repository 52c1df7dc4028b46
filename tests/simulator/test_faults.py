"""Each fault leaves its signature in the channels it should, and none in those it should not.

Every case runs one asset twice with the same seed, with and without the fault, and compares the two runs:
before the onset they are identical; during the fault the signature shows; the channels a fault must not
touch stay exactly as in the quiet run.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pytest

from facwatch.model import AssetKind, Site
from simulator.engine import Simulation, Tick
from simulator.faults import FAULT_KINDS, LIMITS
from simulator.scenario import Scenario, ScheduledFault
from simulator.sensors import DRIFT_PER_HOUR, SPECS

from .helpers import MIDNIGHT, local_ms, one_asset_site, scenario

START = MIDNIGHT + 8 * 3_600_000  # the morning peak: elevators busy, pumps pumping
ONSET_S = 300.0
FAULT_S = 1800.0

Rows = Sequence[Mapping[str, float | bool]]
Check = Callable[[Rows, Rows, Site], None]

SITES: Mapping[AssetKind, Site] = {
    AssetKind.ELEVATOR: one_asset_site(AssetKind.ELEVATOR, "car", floors=18, speed_mps=1.75, load_kg=1000),
    AssetKind.PUMP: one_asset_site(AssetKind.PUMP, "pump", pressure_bar=6.0, flow_m3h=30.0, current_a=22.0),
    AssetKind.POWER: one_asset_site(AssetKind.POWER, "panel", voltage_v=230.0, current_a=400.0),
}


def _mean(rows: Rows, channel: str) -> float:
    return statistics.fmean(float(v[channel]) for v in rows)


def _col(rows: Rows, channel: str) -> list[float]:
    return [float(v[channel]) for v in rows]


@dataclass(frozen=True)
class Case:
    kind: str
    asset_kind: AssetKind
    check: Check
    untouched: tuple[str, ...] = ()
    """Channels that must read exactly as in the quiet run while the fault is on."""
    settle_s: float = 60.0
    """Seconds after the onset left out of the comparison (ramps, a trip in progress)."""


def _pipe_burst(f: Rows, q: Rows, _s: Site) -> None:
    assert _mean(f, "discharge_pressure_bar") < 0.5 * _mean(q, "discharge_pressure_bar")
    assert _mean(f, "flow_m3h") > 1.3 * _mean(q, "flow_m3h")
    assert _mean(f, "motor_current_a") > _mean(q, "motor_current_a")


def _dry_run(f: Rows, q: Rows, _s: Site) -> None:
    assert max(_col(f, "discharge_pressure_bar")) < 0.5 < min(_col(q, "discharge_pressure_bar"))
    assert _mean(f, "flow_m3h") < 0.1 * _mean(q, "flow_m3h")
    assert _mean(f, "motor_current_a") < 0.8 * _mean(q, "motor_current_a")
    assert all(v["running"] for v in f), "the motor still runs: that is the danger"


def _cavitation(f: Rows, q: Rows, _s: Site) -> None:
    assert _mean(f, "suction_pressure_bar") < 0.3 * _mean(q, "suction_pressure_bar")
    assert _mean(f, "vibration_rms_mms") > _mean(q, "vibration_rms_mms") + 2.0
    ripple = statistics.pstdev(_col(f, "discharge_pressure_bar"))
    assert ripple > 3 * statistics.pstdev(_col(q, "discharge_pressure_bar"))


def _overheating(f: Rows, q: Rows, _s: Site) -> None:
    assert f[-1]["bearing_temp_c"] > 90.0 > q[-1]["bearing_temp_c"] + 30.0


def _trip(f: Rows, q: Rows, _s: Site) -> None:
    assert not any(v["running"] for v in f)
    assert max(_col(f, "motor_current_a")) == 0.0 and max(_col(f, "flow_m3h")) == 0.0
    # The standby has taken the header over: the pressure is back near its normal value.
    assert _mean(f, "discharge_pressure_bar") > 0.9 * _mean(q, "discharge_pressure_bar")


def _outage(f: Rows, _q: Rows, _s: Site) -> None:
    assert all(float(v[f"voltage_l{i}_v"]) < 2.0 for v in f for i in (1, 2, 3))


def _phase_loss(f: Rows, q: Rows, _s: Site) -> None:
    assert max(_col(f, "voltage_l3_v")) < 2.0 and max(_col(f, "current_l3_a")) < 2.0
    assert min(_col(f, "voltage_l1_v")) > 200.0 and min(_col(f, "voltage_l2_v")) > 200.0
    assert _mean(f, "current_l1_a") > 1.1 * _mean(q, "current_l1_a")


def _sag(f: Rows, _q: Rows, _s: Site) -> None:
    assert all(float(v[f"voltage_l{i}_v"]) < 0.85 * 230 for v in f for i in (1, 2, 3))


def _swell(f: Rows, _q: Rows, _s: Site) -> None:
    assert all(float(v[f"voltage_l{i}_v"]) > 1.08 * 230 for v in f for i in (1, 2, 3))


def _overload(f: Rows, q: Rows, _s: Site) -> None:
    assert _mean(f, "current_l1_a") > 1.1 * 400
    assert f[-1]["transformer_temp_c"] > q[-1]["transformer_temp_c"] + 5.0


def _transformer_overheat(f: Rows, q: Rows, _s: Site) -> None:
    assert f[-1]["transformer_temp_c"] > q[-1]["transformer_temp_c"] + 30.0


def _abnormal_vibration(f: Rows, q: Rows, _s: Site) -> None:
    assert min(_col(f, "vibration_rms_g")) > LIMITS["vibration_rms_g"] > 3 * max(_col(q, "vibration_rms_g"))


def _door_fault(f: Rows, q: Rows, _s: Site) -> None:
    opens = sum(1 for a, b in itertools.pairwise(f) if b["door_open"] and not a["door_open"])
    assert opens >= FAULT_S / 6 * 0.9, "the doors reopen every six seconds"
    assert not any(v["running"] for v in f) and all(v["in_door_zone"] for v in f)
    assert any(v["running"] for v in q)


def _overspeed(f: Rows, q: Rows, _s: Site) -> None:
    assert max(_col(f, "speed_mps")) > 1.15 * 1.75 > 1.1 * max(_col(q, "speed_mps"))


def _out_of_service(f: Rows, q: Rows, _s: Site) -> None:
    assert not any(v["running"] or v["door_open"] for v in f)
    assert all(v["in_door_zone"] and float(v["load_kg"]) < 10.0 for v in f), "parked empty at a landing"
    assert sum(1 for v in q if v["running"]) > 60


def _standing(f: Rows, *, zone: bool, door: bool) -> None:
    """The car stands still for the whole window: in the door zone or not, with its door open or not."""
    assert not any(v["running"] or float(v["speed_mps"]) > 0 for v in f)
    assert all(bool(v["in_door_zone"]) is zone and bool(v["door_open"]) is door for v in f)


def _entrapment_at_landing(f: Rows, q: Rows, _s: Site) -> None:
    _standing(f, zone=True, door=False)
    assert all(float(v["load_kg"]) > 40 for v in f), "someone is inside"
    assert all(v["alarm_button"] for v in f), "and presses the alarm"


def _door_open_running(f: Rows, q: Rows, _s: Site) -> None:
    _standing(f, zone=False, door=True)


def _moving_doors_open(f: Rows, q: Rows, _s: Site) -> None:
    _standing(f, zone=False, door=True)  # after the creep: held by the safety gear, doors open


def _stopped_outside_door_zone(f: Rows, q: Rows, _s: Site) -> None:
    _standing(f, zone=False, door=False)
    assert all(float(v["load_kg"]) < 20 for v in f), "an empty car"
    assert not any(v["limit_switch"] for v in f)


def _overtravel(floor: float) -> Check:
    def check(f: Rows, q: Rows, _s: Site) -> None:
        _standing(f, zone=False, door=False)
        assert all(v["limit_switch"] and v["floor"] == floor for v in f)
        assert not any(v["limit_switch"] for v in q)

    return check


def _door_chatter(f: Rows, q: Rows, _s: Site) -> None:
    blips = [v for v in f if v["door_open"] and v["running"]]
    assert len(blips) > 0.1 * sum(1 for v in f if v["running"]), "the contact reads open in about 1 of 6"
    assert not any(v["door_open"] and v["running"] for v in q)


def _inspection(f: Rows, q: Rows, _s: Site) -> None:
    _standing(f, zone=False, door=False)
    assert all(v["inspection_mode"] and float(v["load_kg"]) > 50 for v in f), "the technician inside"
    assert not any(v["inspection_mode"] for v in q)


PUMP_OTHER = ("suction_pressure_bar", "flow_m3h", "motor_current_a", "vibration_rms_mms")
POWER_SUPPLY = tuple(f"{q}_l{i}_{u}" for q, u in (("voltage", "v"), ("current", "a")) for i in (1, 2, 3))

CASES = [
    Case("pipe_burst", AssetKind.PUMP, _pipe_burst, settle_s=5),
    Case("dry_run", AssetKind.PUMP, _dry_run, settle_s=10),
    Case("cavitation", AssetKind.PUMP, _cavitation),
    Case("overheating", AssetKind.PUMP, _overheating, ("discharge_pressure_bar", *PUMP_OTHER)),
    Case("trip", AssetKind.PUMP, _trip, ("suction_pressure_bar",)),
    Case("power_outage", AssetKind.POWER, _outage, settle_s=0),
    Case("phase_loss", AssetKind.POWER, _phase_loss, ("frequency_hz",), settle_s=0),
    Case("voltage_sag", AssetKind.POWER, _sag, ("current_l1_a", "transformer_temp_c"), settle_s=0),
    Case("voltage_swell", AssetKind.POWER, _swell, ("current_l2_a", "frequency_hz"), settle_s=0),
    Case("overload", AssetKind.POWER, _overload, ("frequency_hz",)),
    Case("transformer_overheat", AssetKind.POWER, _transformer_overheat, (*POWER_SUPPLY, "power_factor")),
    Case("abnormal_vibration", AssetKind.ELEVATOR, _abnormal_vibration, settle_s=5),
    Case("door_fault", AssetKind.ELEVATOR, _door_fault),
    Case("overspeed", AssetKind.ELEVATOR, _overspeed),
    Case("out_of_service", AssetKind.ELEVATOR, _out_of_service, settle_s=120),
    Case("entrapment_at_landing", AssetKind.ELEVATOR, _entrapment_at_landing, settle_s=120),
    Case("door_open_running", AssetKind.ELEVATOR, _door_open_running, settle_s=120),
    Case("moving_doors_open", AssetKind.ELEVATOR, _moving_doors_open, settle_s=120),
    Case("stopped_outside_door_zone", AssetKind.ELEVATOR, _stopped_outside_door_zone, settle_s=180),
    Case("overtravel_top", AssetKind.ELEVATOR, _overtravel(18.0), settle_s=180),
    Case("overtravel_bottom", AssetKind.ELEVATOR, _overtravel(1.0), settle_s=180),
    Case("door_chatter", AssetKind.ELEVATOR, _door_chatter, ("floor", "speed_mps", "load_kg"), settle_s=0),
    Case("inspection", AssetKind.ELEVATOR, _inspection, settle_s=180),
]


def _runs(site: Site, fault: ScheduledFault, duration_s: float) -> tuple[list[Tick], list[Tick]]:
    faulty = list(Simulation(site, Scenario("f", (fault,)), seed=11, start_ms=START).run(duration_s))
    quiet = list(Simulation(site, scenario(), seed=11, start_ms=START).run(duration_s))
    return faulty, quiet


def _window(ticks: list[Tick], start_s: float, end_s: float) -> list[dict[str, float | bool]]:
    return [t.values for t in ticks[int(start_s) : int(end_s)]]


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_a_machine_fault_shows_where_it_should_and_nowhere_else(case: Case) -> None:
    site = SITES[case.asset_kind]
    asset = site.assets[0].id
    faulty, quiet = _runs(site, ScheduledFault(asset, case.kind, ONSET_S, FAULT_S), ONSET_S + FAULT_S + 60)
    assert faulty[: int(ONSET_S)] == quiet[: int(ONSET_S)], "nothing changes before the onset"
    f = _window(faulty, ONSET_S + case.settle_s, ONSET_S + FAULT_S)
    q = _window(quiet, ONSET_S + case.settle_s, ONSET_S + FAULT_S)
    case.check(f, q, site)
    for channel in case.untouched:
        assert _col(f, channel) == _col(q, channel), f"{case.kind} must not touch {channel}"


def test_every_machine_fault_of_the_contract_has_a_signature_test() -> None:
    machine = {k for k, v in FAULT_KINDS.items() if v.family in ("elevator", "pump", "power")}
    assert machine - {c.kind for c in CASES} == {"entrapment", "wear", "bearing_wear"}  # tested apart


@pytest.mark.parametrize(
    ("kind", "asset_kind", "channel", "limit_after_s"),
    [
        ("bearing_wear", AssetKind.PUMP, "vibration_rms_mms", 4 * 3600.0),
        ("wear", AssetKind.ELEVATOR, "vibration_rms_g", 4 * 3600.0),
    ],
)
def test_wear_creeps_up_and_crosses_the_limit_when_the_label_says(
    kind: str, asset_kind: AssetKind, channel: str, limit_after_s: float
) -> None:
    site = SITES[asset_kind]
    fault = ScheduledFault(site.assets[0].id, kind, 0.0, None, limit_after_s=limit_after_s)
    sim = Simulation(site, Scenario("w", (fault,)), seed=4, start_ms=local_ms(2024, 5, 6, 6))
    ticks = list(sim.run(limit_after_s * 1.25))
    limit = LIMITS[channel]

    def at_work(start_s: float, end_s: float) -> list[float]:
        """The channel while the machine works hard: cruising at speed, or pumping."""
        rows = _window(ticks, start_s, end_s)
        if asset_kind is AssetKind.ELEVATOR:
            return [float(v[channel]) for v in rows if float(v["speed_mps"]) > 0.95 * 1.75]
        return [float(v[channel]) for v in rows if v["running"]]

    early = at_work(0, 0.2 * limit_after_s)
    middle = at_work(0.45 * limit_after_s, 0.55 * limit_after_s)
    before = at_work(0.8 * limit_after_s, 0.9 * limit_after_s)
    after = at_work(limit_after_s, 1.25 * limit_after_s)
    assert early and middle and before and after
    assert max(early) < 0.5 * limit, "a fresh fault is hardly visible"
    assert statistics.median(early) < statistics.median(middle) < statistics.median(before) < limit
    assert statistics.median(after) > limit, "past limit_at the channel is over its limit"
    label = sim.labels()[0]
    assert label.limit_at_ms == sim.start_ms + limit_after_s * 1000 and label.limit == limit
    assert (label.finding, label.level) == (FAULT_KINDS[kind].finding, "yellow")


@pytest.mark.parametrize("asset_kind", list(SITES))
def test_stuck_drift_and_dropout_touch_one_channel_only(asset_kind: AssetKind) -> None:
    site = SITES[asset_kind]
    asset = site.assets[0].id
    channel = {AssetKind.ELEVATOR: "load_kg", AssetKind.PUMP: "bearing_temp_c", AssetKind.POWER: None}[
        asset_kind
    ]
    for kind in ("stuck", "drift", "dropout"):
        fault = ScheduledFault(asset, kind, ONSET_S, FAULT_S, channel=channel)
        faulty, quiet = _runs(site, fault, ONSET_S + FAULT_S + 60)
        name = Simulation(site, Scenario("s", (fault,)), start_ms=START).labels()[0].channel
        assert name is not None and name == (channel or "transformer_temp_c")
        f, q = _window(faulty, ONSET_S, ONSET_S + FAULT_S), _window(quiet, ONSET_S, ONSET_S + FAULT_S)
        for other in q[0]:
            if other != name:
                assert _col(f, other) == _col(q, other), (kind, other)
        if kind == "stuck":
            assert (len(set(_col(f, name))) == 1 and len(set(_col(q, name))) > 1) or name == "load_kg"
            assert f[0][name] == q[0][name]
        elif kind == "drift":
            expected = DRIFT_PER_HOUR * SPECS[name].span * FAULT_S / 3600
            error = float(f[-1][name]) - float(q[-1][name])
            assert abs(error - expected) <= 2 * 10 ** -SPECS[name].decimals + 1e-9
        else:
            assert all(name not in v for v in f) and all(name in v for v in q)
        after = _window(faulty, ONSET_S + FAULT_S, ONSET_S + FAULT_S + 60)
        assert after == _window(quiet, ONSET_S + FAULT_S, ONSET_S + FAULT_S + 60), "it ends at its end"


def test_device_faults_change_the_wire_not_the_readings() -> None:
    site = SITES[AssetKind.PUMP]
    faults = (
        ScheduledFault("pump", "device_offline", 10, 20),
        ScheduledFault("pump", "clock_skew", 40, 10, severity=0.5),
        ScheduledFault("pump", "malformed_burst", 60, 5),
    )
    faulty = list(Simulation(site, Scenario("d", faults), seed=2, start_ms=START).run(80))
    quiet = list(Simulation(site, scenario(), seed=2, start_ms=START).run(80))
    assert [t.values for t in faulty] == [t.values for t in quiet], "the machine itself is fine"
    wires = [t.wire for t in faulty]
    assert wires == [""] * 10 + ["offline"] * 20 + [""] * 30 + ["malformed"] * 5 + [""] * 15
    skew = [t.ts_ms - q.ts_ms for t, q in zip(faulty, quiet, strict=True)]
    assert skew == [0] * 40 + [3_600_000] * 10 + [0] * 30


def test_labels_carry_the_contracts_finding_and_level() -> None:
    site = one_asset_site(AssetKind.PUMP, "b2-fire-pump", pressure_bar=10.0, flow_m3h=108.0, standby=1.0)
    sim = Simulation(site, scenario(("b2-fire-pump", "dry_run", 5, 60)), start_ms=START)
    row = sim.labels()[0].as_dict()
    assert (row["kind"], row["finding"], row["level"]) == ("dry_run", "pump.dry_run", "red")  # a fire pump
    assert row["onset"] == "2024-05-06T00:00:05Z" and row["end"] == "2024-05-06T00:01:05Z"
    assert row["limit_at"] is None and row["channel"] == "motor_current_a"
    pump = SITES[AssetKind.PUMP]
    assert (
        Simulation(pump, scenario(("pump", "dry_run", 5, 60)), start_ms=START).labels()[0].level == "orange"
    )
    skew = Simulation(pump, scenario(("pump", "clock_skew", 5, 60)), start_ms=START).labels()[0]
    assert (skew.finding, skew.level) == (None, None)
