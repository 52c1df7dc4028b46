"""A traction elevator: calls by time of day, trips with a trapezoidal speed profile, door cycles.

Pure: ``step`` takes the state, the time step, the active faults, the asset's random generator and the
local time, and returns the next state with what the car's sensors report. The car's state and motion are
in ``simulator.elevator_motion`` (re-exported here); the faults of Chinese elevator-IoT practice (平层困人,
运行中开门, 开门走车, 门区外停梯, 冲顶/蹲底, chatter, inspection) in ``simulator.elevator_field``.

Normal operation keeps one invariant the entrapment detector relies on: the car stands still only at a
landing (inside the door zone), and its doors open only there. Trips start and end at landings; only a
fault stops the car between floors (``entrapment`` and the field faults).

Faults: ``entrapment`` (stopped outside the door zone, doors closed, someone inside, then the alarm),
``abnormal_vibration`` (sudden rattle, strongest at speed), ``wear`` (vibration at speed creeping up to the
0.35 g limit at ``limit_after_s``), ``door_fault`` (the doors keep reopening at a landing and the car does
not leave), ``overspeed`` (trips at about 118 % of rated speed), ``out_of_service`` (parked, doors closed,
no calls answered).

``step`` is one step; ``simulator.elevator_block.block`` runs many at once (what the simulation uses),
skipping through the stretches where nothing but the clock changes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from facwatch.model import Asset
from simulator.elevator_field import (
    FIELD_FAULTS,
    FINAL_LIMIT_M,
    SERVING,
    field_signs,
    field_step,
    technician_aboard,
)
from simulator.elevator_motion import BALANCE as BALANCE
from simulator.elevator_motion import DOOR_ZONE_M as DOOR_ZONE_M
from simulator.elevator_motion import FLOOR_HEIGHT_M as FLOOR_HEIGHT_M
from simulator.elevator_motion import Call, advance, arrive, away_from, start
from simulator.elevator_motion import ElevatorParams as ElevatorParams
from simulator.elevator_motion import ElevatorState as ElevatorState
from simulator.elevator_motion import G as G
from simulator.elevator_motion import Phase as Phase
from simulator.elevator_motion import floor_pos as floor_pos
from simulator.elevator_motion import profile as profile
from simulator.faults import LIMITS, ActiveFault, active, ramp
from simulator.signals import bump, by_minute, hour_of_day, minute_table, read

CAR_MASS_KG = 1100.0
ALARM_AFTER_S = 20.0
OVERSPEED = 0.18
"""Under the overspeed fault a trip runs this fraction over rated speed (× severity)."""
REOPEN_PERIOD_S = 6.0
REOPEN_CLOSED_S = 1.5
"""Under the door fault the doors close for 1.5 s of every 6 s, hit the obstruction and reopen."""
AT_RATED_G = 0.004 + 0.012
"""A sound car's vibration cruising at rated speed."""


def initial(asset: Asset, rng: np.random.Generator, t_s: float) -> ElevatorState:
    params = ElevatorParams.of(asset)
    floor = 1 if rng.random() < 0.5 else int(rng.integers(1, params.floors + 1))
    return ElevatorState(params=params, pos_m=floor_pos(floor))


@by_minute
def calls_per_hour(hour: float) -> float:
    """Hall calls per hour for one car of a residential building: morning and evening peaks."""
    day = 10.0 * (bump(hour, 14.0, 3.5))
    return 2.0 + day + 38.0 * bump(hour, 7.7, 1.0) + 42.0 * bump(hour, 18.8, 1.6)


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
    kinds = frozenset(f.kind for f in faults) if faults else frozenset()
    if kinds & FIELD_FAULTS and not trapped:
        if kinds & (FIELD_FAULTS - SERVING):
            state = replace(state, waiting=()) if state.waiting else state
        else:
            state = replace(state, waiting=_new_calls(state, dt, u, rng, t_s))
        state = field_step(state, dt, kinds, rng, vmax)
        return state, _sensors(state, z, faults, active(faults, "entrapment_at_landing"))
    if out_of_service:
        # Taken out of service: hall calls are cancelled, riders get out at the next stop, the car stays.
        if state.waiting or (state.riders and state.phase is Phase.IDLE):
            state = replace(state, waiting=(), riders=() if state.phase is Phase.IDLE else state.riders)
    elif not trapped:
        waiting = _new_calls(state, dt, u, rng, t_s)
        if waiting is not state.waiting:
            state = replace(state, waiting=waiting)
    elif state.phase is Phase.IDLE:
        state = start(state, away_from(state))
    if door_fault is not None and state.phase is Phase.IDLE and state.in_door_zone:
        state = arrive(state)
    reopen = door_fault is not None and state.phase is Phase.DOORS
    state = advance(state, dt, trapped, vmax, serving=not out_of_service, reopen=reopen)
    if trapped and state.load_kg < 50.0:
        # An entrapment has someone inside: a resident who had just stepped in.
        state = replace(state, riders=(*state.riders, (state.landing, float(rng.uniform(55.0, 90.0)))))
    return state, _sensors(state, z, faults, entrapment)


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
        door_open, running = field_signs(state, faults, z[4], door_open, running)
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
        and technician_aboard(state),
        "limit_switch": beyond >= FINAL_LIMIT_M,
    }


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
