"""A traction elevator: calls by time of day, trips with a trapezoidal speed profile, door cycles.

Pure: ``step`` takes the state, the time step, the active faults, the asset's random generator and the
local time, and returns the next state with what the car's sensors report. Position is measured from the
lowest landing; floor ``n`` (1-based) is at ``(n - 1) * FLOOR_HEIGHT_M``.

Normal operation keeps one invariant the entrapment detector relies on: the car stands still only at a
landing (inside the door zone), and its doors open only there. Trips start and end at landings; the only
way to stop between floors is the ``entrapment`` fault.

Faults: ``entrapment`` (stopped outside the door zone, doors closed, someone inside, then the alarm),
``abnormal_vibration`` (sudden rattle, strongest at speed), ``wear`` (vibration at speed creeping up to the
0.35 g limit at ``limit_after_s``), ``door_fault`` (the doors keep reopening at a landing and the car does
not leave), ``overspeed`` (trips at about 118 % of rated speed), ``out_of_service`` (parked, doors closed,
no calls answered).

``step`` is one step; ``simulator.elevator_block.block`` runs many at once (what the simulation uses),
skipping through the stretches where nothing but the clock changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from facwatch.model import Asset
from simulator.faults import LIMITS, ActiveFault, active, ramp
from simulator.signals import bump, by_minute, hour_of_day, minute_table, read

FLOOR_HEIGHT_M = 3.0
DOOR_ZONE_M = 0.1
DOOR_MOVE_S = 2.0
G = 9.81
BALANCE = 0.45
"""The counterweight balances the car plus this fraction of the rated load."""
CAR_MASS_KG = 1100.0
ALARM_AFTER_S = 20.0
STUCK_CLEARANCE_M = 0.6
"""Under the entrapment fault the car stops at least this far from the nearest landing."""
OVERSPEED = 0.18
"""Under the overspeed fault a trip runs this fraction over rated speed (× severity)."""
REOPEN_PERIOD_S = 6.0
REOPEN_CLOSED_S = 1.5
CREEP_MPS = 0.15
"""Under ``moving_doors_open`` the car creeps away from its landing at this speed, doors open."""
INSPECTION_MPS = 0.3
"""On inspection the car moves at this speed (EN 81-20 allows at most 0.63 m/s)."""
OVERTRAVEL_M = 0.45
"""Under ``overtravel_*`` the car stops this far past the end landing."""
FINAL_LIMIT_M = 0.3
"""The final limit switch operates once the car is this far past an end landing."""
TECHNICIAN_KG = 75.0
CHATTER_Z = 1.0
"""Under ``door_chatter`` the door contact reads open when the step's spare normal draw exceeds this (16 %)."""
WAIT_EMPTY = frozenset({"stopped_outside_door_zone", "overtravel_top", "overtravel_bottom"})
"""Faults that strike once the car is empty: calls are cancelled, riders get out at their stops first."""
AT_RATED_G = 0.004 + 0.012
"""A sound car's vibration cruising at rated speed."""
"""Under the door fault the doors close for 1.5 s of every 6 s, hit the obstruction and reopen."""

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


def initial(asset: Asset, rng: np.random.Generator, t_s: float) -> ElevatorState:
    params = ElevatorParams.of(asset)
    floor = 1 if rng.random() < 0.5 else int(rng.integers(1, params.floors + 1))
    return ElevatorState(params=params, pos_m=floor_pos(floor))


@by_minute
def calls_per_hour(hour: float) -> float:
    """Hall calls per hour for one car of a residential building: morning and evening peaks."""
    day = 10.0 * (bump(hour, 14.0, 3.5))
    return 2.0 + day + 38.0 * bump(hour, 7.7, 1.0) + 42.0 * bump(hour, 18.8, 1.6)


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


CALLS = minute_table(calls_per_hour)


def _new_calls(
    state: ElevatorState, dt: float, u: float, rng: np.random.Generator, t_s: float
) -> tuple[Call, ...]:
    """Hall calls arriving in this step: one or more groups when the uniform draw ``u`` falls under the
    hour's call rate; who they are and where they go comes from ``rng``."""
    hour = hour_of_day(t_s)
    rate = calls_per_hour(hour) * dt / 3600.0
    if u >= rate:
        return state.waiting
    n = 1 + int(rng.poisson(rate))
    calls = list(state.waiting)
    top = state.params.floors
    for _ in range(n):
        if len(calls) >= 8:
            break
        u = rng.random()
        going_out = 0.75 if hour < 12 else 0.25
        upper = int(rng.integers(2, top + 1))
        if u < 0.85 * going_out:
            origin, dest = upper, 1
        elif u < 0.85:
            origin, dest = 1, upper
        else:
            origin = int(rng.integers(1, top + 1))
            dest = origin % top + 1
        people = 1 + int(rng.poisson(0.6))
        calls.append((origin, dest, float(rng.uniform(55.0, 90.0, size=people).sum())))
    return tuple(calls)


def _next_stop(state: ElevatorState) -> int | None:
    if state.riders:
        return state.riders[0][0]
    if state.waiting:
        return state.waiting[0][0]
    return None


def _start(state: ElevatorState, target: int, vmax: float | None = None) -> ElevatorState:
    """From rest at a landing (or stuck): open the doors here, or start a trip to ``target``."""
    if target == state.landing and state.in_door_zone:
        return _arrive(state)
    return replace(
        state,
        phase=Phase.MOVING,
        trip_from_m=state.pos_m,
        trip_to_m=floor_pos(target),
        trip_t=0.0,
        trip_vmax=vmax or state.params.rated_speed,
    )


def _arrive(state: ElevatorState) -> ElevatorState:
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


def _advance(
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
            target = _next_stop(state)
            if target is None or trapped or jammed or not serving:
                return state
            state = _start(state, target, vmax)
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
                state = _halt(state) if jammed or not _within(state.trip_to_m, p) else _arrive(state)
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
                    state = _start(state, _away_from(state), vmax)
        else:  # STUCK
            if trapped:
                return state
            # Rescued: the car is brought to the nearest landing and everyone gets out there.
            here = state.landing
            state = _start(replace(state, riders=tuple((here, kg) for _, kg in state.riders)), here)
    return state


def _within(pos_m: float, p: ElevatorParams) -> bool:
    return -1e-6 <= pos_m <= floor_pos(p.floors) + 1e-6


def _halt(state: ElevatorState) -> ElevatorState:
    """A trip's end without a door cycle: at a landing the car waits there, doors shut (jammed); past an
    end landing it is stuck on the final limit switch."""
    still = replace(state, pos_m=state.trip_to_m, vel_mps=0.0, acc_mps2=0.0)
    return replace(still, phase=Phase.IDLE if _within(state.trip_to_m, state.params) else Phase.STUCK)


def _away_from(state: ElevatorState) -> int:
    here = state.landing
    return here + 1 if here < state.params.floors else here - 1


def step(
    state: ElevatorState, dt: float, faults: tuple[ActiveFault, ...], rng: np.random.Generator, t_s: float
) -> tuple[ElevatorState, dict[str, float | bool]]:
    """One step of ``dt`` seconds at local time ``t_s``: the next state and what the car's sensors read."""
    u = float(rng.random())
    return _step_one(state, dt, faults, u, rng.standard_normal(5).tolist(), rng, t_s)


def _step_one(
    state: ElevatorState,
    dt: float,
    faults: tuple[ActiveFault, ...],
    u: float,
    z: list[float],
    rng: np.random.Generator,
    t_s: float,
) -> tuple[ElevatorState, dict[str, float | bool]]:
    entrapment = active(faults, "entrapment") if faults else None
    trapped = entrapment is not None
    out_of_service = bool(faults) and active(faults, "out_of_service") is not None
    door_fault = active(faults, "door_fault") if faults else None
    overspeed = active(faults, "overspeed") if faults else None
    vmax = state.params.rated_speed
    if overspeed is not None:
        vmax *= 1.0 + OVERSPEED * overspeed.severity
    if faults and not trapped and any(f.kind in FIELD_FAULTS for f in faults):
        return _step_field_fault(state, dt, faults, u, z, rng, t_s, vmax)
    if out_of_service:
        # Taken out of service: hall calls are cancelled, riders get out at the next stop, the car stays.
        if state.waiting or (state.riders and state.phase is Phase.IDLE):
            state = replace(state, waiting=(), riders=() if state.phase is Phase.IDLE else state.riders)
    elif not trapped:
        waiting = _new_calls(state, dt, u, rng, t_s)
        if waiting is not state.waiting:
            state = replace(state, waiting=waiting)
    elif state.phase is Phase.IDLE:
        state = _start(state, _away_from(state))
    if door_fault is not None and state.phase is Phase.IDLE and state.in_door_zone:
        state = _arrive(state)
    reopen = door_fault is not None and state.phase is Phase.DOORS
    state = _advance(state, dt, trapped, vmax, serving=not out_of_service, reopen=reopen)
    if trapped and state.load_kg < 50.0:
        # An entrapment has someone inside: a resident who had just stepped in.
        state = replace(state, riders=(*state.riders, (state.landing, float(rng.uniform(55.0, 90.0)))))
    return state, _sensors(state, z, faults, entrapment)


def _step_field_fault(
    state: ElevatorState,
    dt: float,
    faults: tuple[ActiveFault, ...],
    u: float,
    z: list[float],
    rng: np.random.Generator,
    t_s: float,
    vmax: float,
) -> tuple[ElevatorState, dict[str, float | bool]]:
    """A step under the faults of Chinese elevator-IoT practice (``FIELD_FAULTS``)."""
    kinds = {f.kind for f in faults}
    jammed = "entrapment_at_landing" in kinds
    inspection = "inspection" in kinds
    trapped = inspection
    if kinds & WAIT_EMPTY or jammed or inspection or "moving_doors_open" in kinds:
        state = replace(state, waiting=()) if state.waiting else state
    else:
        state = replace(state, waiting=_new_calls(state, dt, u, rng, t_s))
    empty = not state.riders
    if kinds & WAIT_EMPTY and state.phase is Phase.STUCK:
        trapped = True
    elif "stopped_outside_door_zone" in kinds and empty:
        trapped = True
        if state.phase is Phase.IDLE:
            state = _start(state, _away_from(state), vmax)
    elif kinds & {"overtravel_top", "overtravel_bottom"} and empty and state.phase is Phase.IDLE:
        end = -OVERTRAVEL_M if "overtravel_bottom" in kinds else floor_pos(state.params.floors) + OVERTRAVEL_M
        state = replace(state, phase=Phase.MOVING, trip_from_m=state.pos_m, trip_to_m=end, trip_t=0.0,
                        trip_vmax=vmax)  # fmt: skip
    if "door_open_running" in kinds:
        trapped = state.phase is Phase.STUCK
        if state.phase is Phase.IDLE and _next_stop(state) is None:
            state = _start(state, _away_from(state), vmax)
    if "moving_doors_open" in kinds:
        creeping = state.phase is Phase.MOVING and state.trip_vmax == CREEP_MPS
        trapped = creeping or state.phase is Phase.STUCK
        if state.phase is Phase.IDLE and state.in_door_zone:
            state = _arrive(state)
        if state.phase is Phase.DOORS and state.door_t >= DOOR_MOVE_S:
            state = replace(state, phase=Phase.MOVING, trip_from_m=state.pos_m, trip_t=0.0,
                            trip_to_m=floor_pos(_away_from(state)), trip_vmax=CREEP_MPS)  # fmt: skip
            trapped = True
    if inspection:
        # The technician steps in once the riders are out, switches to inspection and moves the car slowly.
        if not state.riders and state.phase is not Phase.MOVING:
            state = replace(state, riders=((state.landing, TECHNICIAN_KG),))
        trapped = _technician_aboard(state)
        if trapped and state.phase is Phase.IDLE:
            state = _start(state, _away_from(state), INSPECTION_MPS)
    state = _advance(state, dt, trapped, INSPECTION_MPS if inspection and trapped else vmax, jammed=jammed)
    if "door_open_running" in kinds and state.phase is Phase.MOVING and not state.in_door_zone:
        state = replace(state, phase=Phase.STUCK, vel_mps=0.0, acc_mps2=0.0)  # the safety circuit opens
    if jammed and state.load_kg < 50.0:
        state = replace(state, riders=(*state.riders, (state.landing, float(rng.uniform(55.0, 90.0)))))
    return state, _sensors(state, z, faults, active(faults, "entrapment_at_landing"))


def _technician_aboard(state: ElevatorState) -> bool:
    return len(state.riders) == 1 and state.riders[0][1] == TECHNICIAN_KG


FIELD_FAULTS = frozenset(
    {"entrapment_at_landing", "door_open_running", "moving_doors_open", "door_chatter", "inspection"}
    | WAIT_EMPTY
)


def _sensors(
    state: ElevatorState, z: list[float], faults: tuple[ActiveFault, ...], entrapment: ActiveFault | None
) -> dict[str, float | bool]:
    p = state.params
    moving = state.phase is Phase.MOVING
    load = state.load_kg
    if moving:
        direction = 1.0 if state.vel_mps >= 0 else -1.0
        mass = 2 * CAR_MASS_KG + BALANCE * p.rated_load + load + 300.0
        force = (load - BALANCE * p.rated_load) * G * direction + mass * state.acc_mps2
        rated_force = (1 - BALANCE) * p.rated_load * G
        current = 0.3 * p.rated_current + 0.7 * p.rated_current * abs(force) / rated_force
        vibration = 0.004 + 0.012 * (abs(state.vel_mps) / p.rated_speed) ** 2 + 0.003 * abs(state.acc_mps2)
    else:
        current = 0.0
        vibration = 0.002
    door_open, running = state.phase is Phase.DOORS, moving
    if faults:
        vibration, door_open = _fault_signs(state, faults, vibration, door_open)
        door_open, running = _field_signs(state, faults, z[4], door_open, running)
    alarm = entrapment is not None and entrapment.elapsed_s >= ALARM_AFTER_S
    beyond = max(-state.pos_m, state.pos_m - floor_pos(p.floors))
    return {
        "floor": float(state.landing),
        "in_door_zone": state.in_door_zone,
        "door_open": door_open,
        "speed_mps": read(abs(state.vel_mps), z[0], 0.005, 2) if moving else 0.0,
        "motor_current_a": read(current, z[1], 0.02 * p.rated_current, 1) if moving else 0.0,
        "vibration_rms_g": read(vibration, z[2], 0.0008, 4),
        "load_kg": read(load, z[3], 2.0, 0),
        "alarm_button": alarm,
        "running": running,
        "inspection_mode": bool(faults)
        and active(faults, "inspection") is not None
        and _technician_aboard(state),
        "limit_switch": beyond >= FINAL_LIMIT_M,
    }


def _field_signs(
    state: ElevatorState, faults: tuple[ActiveFault, ...], spare_z: float, door_open: bool, running: bool
) -> tuple[bool, bool]:
    """Door and run readings under the field faults: a chattering door switch while the car runs; a door
    contact open in a car the safety circuit stopped; doors open and the drive off in a car that creeps."""
    moving = state.phase is Phase.MOVING
    if moving and spare_z > CHATTER_Z and active(faults, "door_chatter") is not None:
        door_open = True
    if state.phase is Phase.STUCK and active(faults, "door_open_running") is not None:
        door_open = True
    creeping = moving and state.trip_vmax == CREEP_MPS
    if (creeping or state.phase is Phase.STUCK) and active(faults, "moving_doors_open") is not None:
        door_open, running = True, False
    return door_open, running


def _fault_signs(
    state: ElevatorState, faults: tuple[ActiveFault, ...], vibration: float, door_open: bool
) -> tuple[float, bool]:
    """Vibration and door readings under the faults that show in them."""
    speed = abs(state.vel_mps) / state.params.rated_speed
    rattle = active(faults, "abnormal_vibration")
    if rattle is not None:
        # A loose part: a jump well past the limit while moving, still felt at rest (drive and brake).
        vibration += rattle.severity * ramp(rattle, 2.0) * (0.4 + 0.35 * speed * speed)
    wear = active(faults, "wear")
    if wear is not None:
        # At rated speed the reading reaches the limit when wear reaches 1; it grows with speed squared.
        vibration += (
            min(wear.wear, 3.0) * (LIMITS["vibration_rms_g"] - AT_RATED_G) * (0.05 + 0.95 * speed * speed)
        )
    door = active(faults, "door_fault")
    if (
        door is not None
        and door_open
        and door.elapsed_s % REOPEN_PERIOD_S >= REOPEN_PERIOD_S - REOPEN_CLOSED_S
    ):
        door_open = False
    return vibration, door_open
