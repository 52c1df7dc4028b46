"""The elevator faults of Chinese elevator-IoT practice, in the car's motion and in its readings (pure).

平层困人 (``entrapment_at_landing``), 运行中开门 (``door_open_running``), 开门走车 (``moving_doors_open``), 门区外停梯
(``stopped_outside_door_zone``), 冲顶 / 蹲底 (``overtravel_top`` / ``overtravel_bottom``), a chattering door switch
(``door_chatter``) and an inspection visit (``inspection``, 检修: not a fault). ``simulator.elevator`` calls
``field_step`` for a step under any of them and ``field_signs`` for the readings they change; what each does
is in docs/simulator.md.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from simulator.elevator_motion import (
    DOOR_MOVE_S,
    ElevatorState,
    Phase,
    advance,
    arrive,
    away_from,
    floor_pos,
    next_stop,
    start,
)
from simulator.faults import ActiveFault, active

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
SERVING = frozenset({"door_open_running", "door_chatter"})
"""Field faults under which the car still answers hall calls."""
FIELD_FAULTS = frozenset(
    {"entrapment_at_landing", "door_open_running", "moving_doors_open", "door_chatter", "inspection"}
    | WAIT_EMPTY
)


def field_step(
    state: ElevatorState, dt: float, kinds: frozenset[str], rng: np.random.Generator, vmax: float
) -> ElevatorState:
    """A step of ``dt`` seconds under the field faults ``kinds`` (hall calls already taken or cancelled)."""
    jammed = "entrapment_at_landing" in kinds
    inspection = "inspection" in kinds
    trapped = inspection
    empty = not state.riders
    if kinds & WAIT_EMPTY and state.phase is Phase.STUCK:
        trapped = True
    elif "stopped_outside_door_zone" in kinds and empty:
        trapped = True
        if state.phase is Phase.IDLE:
            state = start(state, away_from(state), vmax)
    elif kinds & {"overtravel_top", "overtravel_bottom"} and empty and state.phase is Phase.IDLE:
        end = -OVERTRAVEL_M if "overtravel_bottom" in kinds else floor_pos(state.params.floors) + OVERTRAVEL_M
        state = replace(state, phase=Phase.MOVING, trip_from_m=state.pos_m, trip_to_m=end, trip_t=0.0,
                        trip_vmax=vmax)  # fmt: skip
    if "door_open_running" in kinds:
        trapped = state.phase is Phase.STUCK
        if state.phase is Phase.IDLE and next_stop(state) is None:
            state = start(state, away_from(state), vmax)
    if "moving_doors_open" in kinds:
        creeping = state.phase is Phase.MOVING and state.trip_vmax == CREEP_MPS
        trapped = creeping or state.phase is Phase.STUCK
        if state.phase is Phase.IDLE and state.in_door_zone:
            state = arrive(state)
        if state.phase is Phase.DOORS and state.door_t >= DOOR_MOVE_S:
            state = replace(state, phase=Phase.MOVING, trip_from_m=state.pos_m, trip_t=0.0,
                            trip_to_m=floor_pos(away_from(state)), trip_vmax=CREEP_MPS)  # fmt: skip
            trapped = True
    if inspection:
        # The technician steps in once the riders are out, switches to inspection and moves the car slowly.
        if not state.riders and state.phase is not Phase.MOVING:
            state = replace(state, riders=((state.landing, TECHNICIAN_KG),))
        trapped = technician_aboard(state)
        if trapped and state.phase is Phase.IDLE:
            state = start(state, away_from(state), INSPECTION_MPS)
    state = advance(state, dt, trapped, INSPECTION_MPS if inspection and trapped else vmax, jammed=jammed)
    if "door_open_running" in kinds and state.phase is Phase.MOVING and not state.in_door_zone:
        state = replace(state, phase=Phase.STUCK, vel_mps=0.0, acc_mps2=0.0)  # the safety circuit opens
    if jammed and state.load_kg < 50.0:
        state = replace(state, riders=(*state.riders, (state.landing, float(rng.uniform(55.0, 90.0)))))
    return state


def technician_aboard(state: ElevatorState) -> bool:
    """The car holds the technician alone (passenger groups weigh a sum of random draws, never 75.0 kg)."""
    return len(state.riders) == 1 and state.riders[0][1] == TECHNICIAN_KG


def field_signs(
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
