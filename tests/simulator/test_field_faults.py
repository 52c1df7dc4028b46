"""The elevator faults of Chinese elevator-IoT practice, injected by the simulator and found by the shipped rules.

Each case runs one car in-process on event time (the simulator's ticks straight into ``Rules.observe``, no
clock, no broker): the finding the label names is raised, at the label's level, exactly the rule's delay after
the condition shows in the data, and nothing else is raised. Chatter and inspection raise nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from alerts.detection.rules import Rules
from alerts.detection.signals import SIGNALS
from facwatch.model import AssetKind, Finding, Level, Reading
from simulator.engine import Simulation, Tick

from .helpers import MIDNIGHT, one_asset_site, scenario

SITE = one_asset_site(AssetKind.ELEVATOR, "car", floors=18, speed_mps=1.75, load_kg=1000)
CAR = SITE.assets[0]
START = MIDNIGHT + 8 * 3_600_000  # the morning peak
ONSET_S, FAULT_S = 600, 900


def _run(
    kind: str, seed: int = 3, without: frozenset[str] = frozenset()
) -> tuple[list[Tick], list[Finding], Simulation]:
    """Run one fault through the rules; ``without`` names channels the car does not have."""
    sim = Simulation(SITE, scenario(("car", kind, ONSET_S, FAULT_S)), seed=seed, start_ms=START)
    rules = Rules(SITE)
    ticks: list[Tick] = []
    found: list[Finding] = []
    for tick in sim.run(ONSET_S + FAULT_S + 120):
        ticks.append(tick)
        readings = [
            Reading(SITE.id, CAR.id, ch, tick.ts_ms, float(v))
            for ch, v in tick.values.items()
            if ch not in without
        ]
        found += rules.observe(readings)
    return ticks, found, sim


def _condition_since_ms(ticks: list[Tick], signal: str, until_ms: int) -> int:
    """When the rule's signal last became 1 before ``until_ms`` (the start of the condition it confirmed)."""
    since = -1
    for tick in ticks:
        if tick.ts_ms > until_ms:
            break
        values: Mapping[str, float] = {ch: float(v) for ch, v in tick.values.items()}
        on = SIGNALS[signal](CAR, values) == 1.0
        since = (tick.ts_ms if since < 0 else since) if on else -1
    return since


@pytest.mark.parametrize(
    ("kind", "signal", "delay_s", "level", "also"),
    [
        # 非平层困人 (kept as it was): stuck between floors with someone inside, 4 s
        ("entrapment", "entrapment", 4, Level.RED, set()),
        # 平层困人: at a landing, doors that do not open, someone inside: at once when the passenger presses
        # the alarm button (the simulated one does after 20 s; without it, a minute: below)
        ("entrapment_at_landing", "landing_alarm", 0, Level.RED, set()),
        # 运行中开门: the door opens on a trip, the car stops outside the door zone, door open, 30 s
        ("door_open_running", "door_open_running", 30, Level.ORANGE, set()),
        # 开门走车: the car creeps off a landing with its doors open, two readings; it then stands outside the
        # door zone with its doors open, which 运行中开门 reports 30 s later
        ("moving_doors_open", "moving_doors_open", 1, Level.RED, {"elevator.door_open_running"}),
        # 门区外停梯: the car, empty, stops between floors, 45 s
        ("stopped_outside_door_zone", "stopped_outside_door_zone", 45, Level.ORANGE, set()),
        # 冲顶 / 蹲底: past the end landing on the final limit switch, two readings
        ("overtravel_top", "overtravel_top", 1, Level.ORANGE, set()),
        ("overtravel_bottom", "overtravel_bottom", 1, Level.ORANGE, set()),
    ],
)
def test_each_field_fault_is_found_with_its_delay(
    kind: str, signal: str, delay_s: int, level: Level, also: set[str]
) -> None:
    ticks, found, sim = _run(kind)
    (label,) = sim.labels()
    assert label.finding is not None
    starts = [f for f in found if f.active]
    assert starts and starts[0].kind == label.finding, [(f.kind, f.active) for f in found]
    first = starts[0]
    assert first.level is level and label.level == str(level)
    assert {f.kind for f in starts} - {label.finding} == also
    onset_ms = START + ONSET_S * 1000
    since = _condition_since_ms(ticks, signal, first.ts_ms)
    assert since >= onset_ms, "the condition shows only once the fault is on"
    assert first.ts_ms - since == delay_s * 1000, "raised exactly the rule's delay after the condition"
    assert first.ts_ms - onset_ms <= (delay_s + 90) * 1000, "the car shows the fault within its next trip"
    cleared = [f for f in found if not f.active and f.kind == label.finding]
    # it clears once the fault is over (开门走车 once the car stops creeping: the movement is over)
    end_ms = first.ts_ms if kind == "moving_doors_open" else onset_ms + FAULT_S * 1000
    assert cleared and cleared[0].ts_ms >= end_ms


def test_a_landing_entrapment_without_an_alarm_button_is_found_after_a_minute() -> None:
    ticks, found, _ = _run("entrapment_at_landing", without=frozenset({"alarm_button"}))
    starts = [f for f in found if f.active]
    assert [f.kind for f in starts] == ["elevator.entrapment_at_landing"]
    since = _condition_since_ms(ticks, "landing_entrapment", starts[0].ts_ms)
    assert since >= START + ONSET_S * 1000
    assert starts[0].ts_ms - since == 60_000, "the minute that tells a trapped rider from a slow one"


def test_door_switch_chatter_raises_nothing() -> None:
    ticks, found, _ = _run("door_chatter")
    during = [t.values for t in ticks[ONSET_S : ONSET_S + FAULT_S]]
    blips = sum(1 for v in during if v["door_open"] and v["running"])
    assert blips >= 20, "the door contact chatters open while the car runs"
    assert found == []


def test_inspection_mode_mutes_the_running_state_rules() -> None:
    ticks, found, _ = _run("inspection")
    during = [t.values for t in ticks[ONSET_S + 60 : ONSET_S + FAULT_S]]
    # the technician has the car between floors, doors closed, with 75 kg inside: an entrapment but for
    # the inspection switch
    assert all(v["inspection_mode"] and not v["in_door_zone"] and not v["running"] for v in during)
    assert all(float(v["load_kg"]) > 50 for v in during)
    assert found == []
    # the same readings without the inspection switch are a trapped passenger
    rules = Rules(SITE)
    unmuted: list[Finding] = []
    for tick in ticks:
        values = {**tick.values, "inspection_mode": False}
        unmuted += rules.observe(
            [Reading(SITE.id, CAR.id, ch, tick.ts_ms, float(v)) for ch, v in values.items()]
        )
    assert "elevator.entrapment" in {f.kind for f in unmuted if f.active}


@pytest.mark.parametrize("seed", [1, 2])
def test_a_quiet_morning_raises_none_of_the_field_rules(seed: int) -> None:
    sim = Simulation(SITE, scenario(), seed=seed, start_ms=START)
    rules = Rules(SITE)
    found: list[Finding] = []
    for tick in sim.run(3 * 3600):
        found += rules.observe(
            [Reading(SITE.id, CAR.id, ch, tick.ts_ms, float(v)) for ch, v in tick.values.items()]
        )
    assert found == []
