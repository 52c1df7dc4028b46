"""The elevator's physics: motion that integrates, doors only in the door zone, loads and currents."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from facwatch.model import AssetKind, Site
from simulator import elevator, elevator_block
from simulator.elevator import ElevatorState, Phase, floor_pos
from simulator.engine import Simulation
from simulator.faults import FaultTrack
from simulator.scenario import ScheduledFault
from simulator.sensors import SPECS

from .helpers import MIDNIGHT, column, one_asset_site, scenario, series

RATED = {"floors": 18.0, "speed_mps": 1.75, "load_kg": 1000.0}


def _site() -> Site:
    return one_asset_site(AssetKind.ELEVATOR, "car", **RATED)


def _state() -> ElevatorState:
    site = one_asset_site(AssetKind.ELEVATOR, "car", **RATED)
    return elevator.initial(site.assets[0], np.random.default_rng(0), 0.0)


def test_position_integrates_speed_at_fine_steps() -> None:
    state = _state()
    rng = np.random.default_rng(1)
    dt = 0.05
    t_s = 7.5 * 3600  # the morning peak: many trips
    worst = travelled = 0.0
    for _ in range(int(1800 / dt)):
        before = state
        state, _ = elevator.step(state, dt, (), rng, t_s)
        t_s += dt
        expected = (before.vel_mps + state.vel_mps) / 2 * dt
        if before.phase is Phase.MOVING or state.phase is Phase.MOVING:
            worst = max(worst, abs((state.pos_m - before.pos_m) - expected))
        travelled += abs(state.pos_m - before.pos_m)
    assert travelled > 200, "the car should make many trips in a peak half hour"
    assert worst < 0.01, f"position jumped {worst:.4f} m beyond what its speed explains"


def test_a_simulated_day_keeps_the_door_and_standstill_invariants() -> None:
    """Normal operation never looks like an entrapment: it stops only at landings, opens doors only there."""
    sim = Simulation(_site(), scenario(), seed=3, start_ms=MIDNIGHT)
    rows = series(sim, 86_400)["car"]
    stopped_outside = [ts for ts, v in rows if not v["running"] and not v["in_door_zone"]]
    doors_outside = [ts for ts, v in rows if v["door_open"] and not v["in_door_zone"]]
    assert stopped_outside == []
    assert doors_outside == []
    assert not any(v["door_open"] and v["running"] for _, v in rows)
    assert not any(v["alarm_button"] for _, v in rows)
    speeds = column(rows, "speed_mps")
    assert max(speeds) <= RATED["speed_mps"] * 1.03
    assert all(1 <= f <= RATED["floors"] for f in column(rows, "floor"))
    assert all(0 <= kg <= RATED["load_kg"] + 10 for kg in column(rows, "load_kg"))
    assert len({f for f in column(rows, "floor")}) == RATED["floors"], "every floor is served in a day"


def test_call_rate_follows_the_time_of_day() -> None:
    sim = Simulation(_site(), scenario(), seed=5, start_ms=MIDNIGHT)
    rows = series(sim, 86_400)["car"]

    def running_share(hour_from: int, hour_to: int) -> float:
        part = rows[hour_from * 3600 : hour_to * 3600]
        return sum(1 for _, v in part if v["running"]) / len(part)

    assert running_share(7, 9) > 3 * running_share(2, 4)
    assert running_share(18, 20) > 3 * running_share(2, 4)


def _cruising(load_kg: float, up: bool = True) -> ElevatorState:
    state = _state()
    start, end = (floor_pos(1), floor_pos(15)) if up else (floor_pos(15), floor_pos(1))
    return replace(
        state,
        phase=Phase.MOVING,
        pos_m=start,
        trip_from_m=start,
        trip_to_m=end,
        trip_t=6.0,
        riders=((15 if up else 1, load_kg),) if load_kg else (),
    )


def _reading(state: ElevatorState, channel: str, n: int = 20) -> float:
    rng = np.random.default_rng(2)
    return float(np.mean([elevator.step(state, 0.01, (), rng, 0.0)[1][channel] for _ in range(n)]))


def test_motor_current_follows_the_unbalanced_load() -> None:
    # The counterweight balances the car and 45 % of the rated load: that load draws the least current.
    balanced = _reading(_cruising(450), "motor_current_a")
    heavier = _reading(_cruising(700), "motor_current_a")
    full = _reading(_cruising(1000), "motor_current_a")
    assert balanced < heavier < full


def test_accelerating_draws_more_current_than_cruising() -> None:
    cruising = _reading(_cruising(700), "motor_current_a")
    starting = _reading(replace(_cruising(700), trip_t=0.5), "motor_current_a")
    assert starting > cruising


def test_vibration_rises_with_speed() -> None:
    fast = _reading(_cruising(300), "vibration_rms_g")
    still = _reading(_state(), "vibration_rms_g")
    assert fast > 3 * still


@pytest.mark.parametrize("at_s", range(20, 220, 13))
def test_entrapment_stops_the_car_between_floors_whatever_it_was_doing(at_s: int) -> None:
    """Moving, idle or with doors open at the onset: within a few seconds the car is stuck out of the zone."""
    site = _site()
    faults = scenario(("car", "entrapment", at_s, 120))
    sim = Simulation(site, faults, seed=at_s, start_ms=MIDNIGHT + 8 * 3_600_000)
    rows = series(sim, at_s + 180)["car"]
    stuck = [v for _, v in rows[at_s + 3 : at_s + 120]]
    for v in stuck:
        assert (v["running"], v["door_open"], v["in_door_zone"], v["speed_mps"]) == (False, False, False, 0.0)
        assert v["load_kg"] >= 40, "someone is trapped inside"
    assert not any(v["alarm_button"] for v in stuck[:16])
    assert all(v["alarm_button"] for v in stuck[19:])
    # Rescued after 120 s: at a landing again, alarm off, normal operation resumes.
    after = [v for _, v in rows[at_s + 125 :]]
    assert all(v["in_door_zone"] or v["running"] for v in after)
    assert not any(v["alarm_button"] for v in after)


@pytest.mark.parametrize("hour", [2, 8, 19])
def test_the_block_path_does_what_stepping_one_step_at_a_time_does(hour: int) -> None:
    """``elevator_block.block`` skips through rests, trips and dwells; stepping ``_step_one`` with the same
    draws must give the same readings (to the sensors' resolution) and the same final state."""
    car = _site().assets[0]
    t_s = hour * 3600.0 + np.arange(3 * 3600, dtype=np.float64)
    fault = ScheduledFault("car", "abnormal_vibration", 5000.0, 600.0)
    tracks = (
        FaultTrack(
            fault.kind, np.where((t_s - t_s[0] >= 5000) & (t_s - t_s[0] < 5600), t_s - t_s[0] - 5000, np.nan)
        ),
    )
    start = elevator.initial(car, np.random.default_rng(1), t_s[0])
    fast_end, fast = elevator_block.block(start, 1.0, tracks, np.random.default_rng(7), t_s)
    rng = np.random.default_rng(7)
    u, z = rng.random(len(t_s)), rng.standard_normal((len(t_s), 5))
    detail = np.random.default_rng(int(rng.integers(2**63)))
    state, slow = start, []
    for k, t in enumerate(t_s.tolist()):
        active = tuple(a for f in tracks if (a := f.at(k)) is not None)
        state, values = elevator._step_one(state, 1.0, active, float(u[k]), z[k].tolist(), detail, t)
        slow.append(values)
    assert sum(1 for v in slow if v["running"]) > 100 or hour == 2
    for channel in elevator_block.CHANNELS:
        got = fast[channel]
        want = np.array([float(v[channel]) for v in slow])
        quantum = 10.0 ** -SPECS[channel].decimals if channel in SPECS else 0.0
        assert np.abs(got - want).max() <= quantum * 1.01, channel
    assert (fast_end.phase, fast_end.landing, fast_end.waiting) == (state.phase, state.landing, state.waiting)
