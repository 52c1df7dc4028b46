"""The elevator car's motion: its state, trips with a trapezoidal speed profile, door cycles, stops.

Pure: functions of the state and a time step, no randomness. Position is measured from the lowest landing;
floor ``n`` (1-based) is at ``(n - 1) * FLOOR_HEIGHT_M``. ``simulator.elevator`` adds the calls, the faults
and the sensors; ``simulator.elevator_field`` the faults of Chinese elevator-IoT practice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from facwatch.model import Asset

FLOOR_HEIGHT_M = 3.0
DOOR_ZONE_M = 0.1
DOOR_MOVE_S = 2.0
G = 9.81
BALANCE = 0.45
"""The counterweight balances the car plus this fraction of the rated load."""
STUCK_CLEARANCE_M = 0.6
"""Under the entrapment fault the car stops at least this far from the nearest landing."""

Rider = tuple[int, float]
"""A passenger group in the car: destination floor, weight in kg."""
Call = tuple[int, int, float]
"""A passenger group waiting: origin floor, destination floor, weight in kg."""


class Phase(StrEnum):
    IDLE = "idle"
    MOVING = "moving"
    DOORS = "doors"
    STUCK = "stuck"


@dataclass(frozen=True, slots=True)
class ElevatorParams:
    floors: int
    rated_speed: float
    accel: float
    rated_load: float
    rated_current: float

    @staticmethod
    def of(asset: Asset) -> ElevatorParams:
        floors = max(2, int(asset.rated.get("floors", 10)))
        speed = float(asset.rated.get("speed_mps", 1.6))
        load = float(asset.rated.get("load_kg", 1000.0))
        # Without a rated current: the motor's share of lifting the unbalanced part at rated speed.
        power_w = (1 - BALANCE) * load * G * speed / 0.8
        current = float(asset.rated.get("current_a", 3.0 + power_w / (math.sqrt(3) * 380 * 0.85)))
        accel = 0.8 if speed <= 2.0 else 1.0
        return ElevatorParams(floors, speed, accel, load, current)


@dataclass(frozen=True, slots=True)
class ElevatorState:
    params: ElevatorParams
    phase: Phase = Phase.IDLE
    pos_m: float = 0.0
    vel_mps: float = 0.0
    acc_mps2: float = 0.0
    trip_from_m: float = 0.0
    trip_to_m: float = 0.0
    trip_t: float = 0.0
    trip_vmax: float = 0.0
    door_t: float = 0.0
    door_total_s: float = 0.0
    riders: tuple[Rider, ...] = ()
    waiting: tuple[Call, ...] = ()

    @property
    def load_kg(self) -> float:
        return sum(kg for _, kg in self.riders)

    @property
    def landing(self) -> int:
        """The nearest floor, 1-based."""
        n = round(self.pos_m / FLOOR_HEIGHT_M) + 1
        return min(max(n, 1), self.params.floors)

    @property
    def in_door_zone(self) -> bool:
        return abs(self.pos_m - floor_pos(self.landing)) <= DOOR_ZONE_M


def floor_pos(floor: int) -> float:
    return (floor - 1) * FLOOR_HEIGHT_M


def profile(dist: float, vmax: float, a: float, t: float) -> tuple[float, float, float, float]:
    """Trapezoidal (or triangular) speed profile over ``dist``: distance, speed, acceleration at ``t``,
    and the trip's total duration."""
    t_acc = vmax / a
    if a * t_acc * t_acc > dist:
        t_acc = math.sqrt(dist / a)
    v_peak = a * t_acc
    t_cruise = (dist - a * t_acc * t_acc) / v_peak if v_peak > 0 else 0.0
    total = 2 * t_acc + t_cruise
    if t <= 0:
        return 0.0, 0.0, a, total
    if t < t_acc:
        return 0.5 * a * t * t, a * t, a, total
    if t < t_acc + t_cruise:
        return 0.5 * a * t_acc * t_acc + v_peak * (t - t_acc), v_peak, 0.0, total
    if t < total:
        left = total - t
        return dist - 0.5 * a * left * left, a * left, -a, total
    return dist, 0.0, 0.0, total


def next_stop(state: ElevatorState) -> int | None:
    if state.riders:
        return state.riders[0][0]
    if state.waiting:
        return state.waiting[0][0]
    return None


def start(state: ElevatorState, target: int, vmax: float | None = None) -> ElevatorState:
    """From rest at a landing (or stuck): open the doors here, or start a trip to ``target``."""
    if target == state.landing and state.in_door_zone:
        return arrive(state)
    return replace(
        state,
        phase=Phase.MOVING,
        trip_from_m=state.pos_m,
        trip_to_m=floor_pos(target),
        trip_t=0.0,
        trip_vmax=vmax or state.params.rated_speed,
    )


def arrive(state: ElevatorState) -> ElevatorState:
    """Stopped at a landing: riders for it leave, waiting groups here board while the load allows."""
    here = state.landing
    riders = [r for r in state.riders if r[0] != here]
    moved = len(state.riders) - len(riders)
    waiting: list[Call] = []
    for origin, dest, kg in state.waiting:
        if origin == here and kg + sum(k for _, k in riders) <= state.params.rated_load:
            riders.append((dest, kg))
            moved += 1
        else:
            waiting.append((origin, dest, kg))
    dwell = min(3.0 + 1.5 * moved, 12.0)
    return replace(
        state,
        phase=Phase.DOORS,
        pos_m=floor_pos(here),
        vel_mps=0.0,
        acc_mps2=0.0,
        door_t=0.0,
        door_total_s=2 * DOOR_MOVE_S + dwell,
        riders=tuple(riders),
        waiting=tuple(waiting),
    )


def advance(
    state: ElevatorState,
    dt: float,
    trapped: bool,
    vmax: float,
    serving: bool = True,
    reopen: bool = False,
    jammed: bool = False,
) -> ElevatorState:
    """Let ``dt`` seconds pass: finish trips and door cycles, start what comes next (new trips at ``vmax``;
    none when not ``serving``; with ``reopen`` a door cycle never completes; ``jammed`` doors close at once
    and do not open at the next landing). A trip that ends past an end landing stops there (overtravel)."""
    left = dt
    guard = 0
    while left > 1e-9 and guard < 32:
        guard += 1
        p = state.params
        if state.phase is Phase.IDLE:
            target = next_stop(state)
            if target is None or trapped or jammed or not serving:
                return state
            state = start(state, target, vmax)
        elif state.phase is Phase.MOVING:
            dist = abs(state.trip_to_m - state.trip_from_m)
            sign = 1.0 if state.trip_to_m >= state.trip_from_m else -1.0
            trip_vmax = state.trip_vmax or p.rated_speed
            _, _, _, total = profile(dist, trip_vmax, p.accel, 0.0)
            chunk = min(left, 0.1) if trapped else min(left, total - state.trip_t)
            t = state.trip_t + chunk
            s, v, a, _ = profile(dist, trip_vmax, p.accel, t)
            state = replace(
                state, trip_t=t, pos_m=state.trip_from_m + sign * s, vel_mps=sign * v, acc_mps2=sign * a
            )
            left -= chunk
            if trapped and abs(state.pos_m - floor_pos(state.landing)) >= STUCK_CLEARANCE_M:
                return replace(state, phase=Phase.STUCK, vel_mps=0.0, acc_mps2=0.0)
            if t >= total - 1e-9:
                state = halt(state) if jammed or not within(state.trip_to_m, p) else arrive(state)
                if state.phase is Phase.STUCK:
                    return state  # on the final limit switch: only the end of the fault moves it
        elif state.phase is Phase.DOORS:
            if reopen:
                return replace(state, door_t=state.door_t + left)
            remaining = state.door_total_s - state.door_t
            if trapped or jammed:
                # The doors close at once; the car then moves off and the fault stops it between floors.
                remaining = min(remaining, DOOR_MOVE_S)
                state = replace(state, door_t=state.door_total_s - remaining)
            chunk = min(left, remaining)
            state = replace(state, door_t=state.door_t + chunk)
            left -= chunk
            if state.door_t >= state.door_total_s - 1e-9:
                state = replace(state, phase=Phase.IDLE)
                if trapped:
                    state = start(state, away_from(state), vmax)
        else:  # STUCK
            if trapped:
                return state
            # Rescued: the car is brought to the nearest landing and everyone gets out there.
            here = state.landing
            state = start(replace(state, riders=tuple((here, kg) for _, kg in state.riders)), here)
    return state


def within(pos_m: float, p: ElevatorParams) -> bool:
    return -1e-6 <= pos_m <= floor_pos(p.floors) + 1e-6


def halt(state: ElevatorState) -> ElevatorState:
    """A trip's end without a door cycle: at a landing the car waits there, doors shut (jammed); past an
    end landing it is stuck on the final limit switch."""
    still = replace(state, pos_m=state.trip_to_m, vel_mps=0.0, acc_mps2=0.0)
    return replace(still, phase=Phase.IDLE if within(state.trip_to_m, state.params) else Phase.STUCK)


def away_from(state: ElevatorState) -> int:
    here = state.landing
    return here + 1 if here < state.params.floors else here - 1
