"""The elevator over a block of steps: ``elevator.step``'s behaviour, fast.

Most of an elevator's time is spent in stretches where nothing changes but the clock: resting at a landing
with nothing to do (until a call arrives), gliding through a trip whose profile is fixed, or standing with
its doors open for a dwell of known length. Those stretches are filled in with numpy at once; only the
steps where something happens (a call arrives, a trip or door cycle ends, a fault changes what the car
does) go through ``elevator._step_one``. Calls arriving mid-trip or mid-dwell only join the queue, exactly as
``_step_one`` would add them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simulator.elevator import (
    AT_RATED_G,
    BALANCE,
    CALLS,
    CAR_MASS_KG,
    DOOR_ZONE_M,
    FLOOR_HEIGHT_M,
    ElevatorParams,
    ElevatorState,
    G,
    Phase,
    _new_calls,
    _step_one,
    profile,
)
from simulator.elevator_field import FIELD_FAULTS
from simulator.faults import LIMITS, FaultTrack, track
from simulator.signals import Array, Mask, at_minutes, read_series

STATE_FAULTS = frozenset({"entrapment", "door_fault", "overspeed", "out_of_service"}) | FIELD_FAULTS
"""Faults that change what the car does; the others (wear, abnormal_vibration) only change its readings."""
CHANNELS = ("floor", "in_door_zone", "door_open", "speed_mps", "motor_current_a", "vibration_rms_g",
            "load_kg", "alarm_button", "running", "inspection_mode", "limit_switch")  # fmt: skip


def block(
    state: ElevatorState, dt: float, faults: tuple[FaultTrack, ...], rng: np.random.Generator, t_s: Array
) -> tuple[ElevatorState, dict[str, Array]]:
    """``len(t_s)`` steps of ``dt`` seconds at local times ``t_s``: the next state and each channel's
    readings (booleans as 0/1). Per step one uniform (does a call arrive?) and five normals (sensor noise)
    are drawn up front, so that the draws do not depend on which stretches were skipped through."""
    n = len(t_s)
    u = rng.random(n)
    z = rng.standard_normal((n, 5))
    detail = np.random.default_rng(int(rng.integers(2**63)))
    calls = u < at_minutes(CALLS, t_s) * dt / 3600.0
    busy = np.zeros(n, dtype=bool)
    for fault in faults:
        if fault.kind in STATE_FAULTS:
            busy |= fault.on
    wakes = np.flatnonzero(calls | busy)
    busy_at = np.flatnonzero(busy)
    cols = {channel: np.zeros(n) for channel in CHANNELS}
    plan = _Plan(n)
    zl, ul = z.tolist(), u.tolist()
    k = 0
    while k < n:
        if not busy[k]:
            limit = _next(busy_at, k, n)
            if state.phase is Phase.IDLE and not state.waiting and not state.riders:
                stop = _next(wakes, k, n)
                if stop > k:
                    plan.still(k, stop, state, doors=False)
                    k = stop
                    continue
            if state.phase is Phase.MOVING:
                m = min(_steps_within(_trip_left(state), dt), limit - k)
                if m > 0:
                    state = plan.glide(k, k + m, state, dt)
                    state = _queue(state, dt, calls, k, k + m, detail, t_s)
                    k += m
                    continue
            if state.phase is Phase.DOORS:
                m = min(_steps_within(state.door_total_s - state.door_t, dt), limit - k)
                if m > 0:
                    plan.still(k, k + m, state, doors=True)
                    state = _queue(state, dt, calls, k, k + m, detail, t_s)
                    state = _with(state, door_t=state.door_t + m * dt)
                    k += m
                    continue
        active = tuple(a for f in faults if (a := f.at(k)) is not None)
        state, values = _step_one(state, dt, active, ul[k], zl[k], detail, float(t_s[k]))
        for channel, value in values.items():
            cols[channel][k] = value
        k += 1
    plan.render(cols, state.params, z, faults)
    return state, cols


def _next(indices: npt.NDArray[np.intp], k: int, n: int) -> int:
    """The first of the sorted ``indices`` at or after ``k``, else ``n``."""
    at = int(np.searchsorted(indices, k))
    return int(indices[at]) if at < len(indices) else n


def _steps_within(left_s: float, dt: float) -> int:
    """Whole steps that end strictly before ``left_s`` runs out (as ``_advance`` counts it)."""
    return max(0, int((left_s - 1e-9) // dt))


def _trip_left(state: ElevatorState) -> float:
    p = state.params
    dist = abs(state.trip_to_m - state.trip_from_m)
    return profile(dist, state.trip_vmax or p.rated_speed, p.accel, 0.0)[3] - state.trip_t


def _with(state: ElevatorState, **changes: object) -> ElevatorState:
    from dataclasses import replace

    return replace(state, **changes)  # type: ignore[arg-type]


def _queue(
    state: ElevatorState,
    dt: float,
    calls: Mask,
    k: int,
    stop: int,
    rng: np.random.Generator,
    t_s: Array,
) -> ElevatorState:
    """Calls that arrive during steps ``k``..``stop - 1`` join the queue (``_new_calls`` at each)."""
    for j in np.flatnonzero(calls[k:stop]).tolist():
        waiting = _new_calls(state, dt, 0.0, rng, float(t_s[k + j]))
        state = _with(state, waiting=waiting)
    return state


def _fault_vibration(
    faults: tuple[FaultTrack, ...], span: npt.NDArray[np.intp], speed: Array | float
) -> Array | float:
    """Extra vibration from the faults that only show in it (``elevator._fault_signs``)."""
    extra: Array | float = 0.0
    rattle = track(faults, "abnormal_vibration")
    if rattle is not None:
        extra = extra + rattle.severity * rattle.ramp(2.0)[span] * (0.4 + 0.35 * speed * speed)
    wear = track(faults, "wear")
    if wear is not None:
        excess = LIMITS["vibration_rms_g"] - AT_RATED_G
        extra = extra + np.minimum(wear.wear[span], 3.0) * excess * (0.05 + 0.95 * speed * speed)
    return extra


class _Plan:
    """The stretches skipped through in a block, noted step by step and rendered into readings at the end
    with a handful of numpy operations over the whole block (instead of a handful per stretch)."""

    STEPPED, STILL, GLIDE = 0, 1, 2

    def __init__(self, n: int) -> None:
        self.kind = np.zeros(n, dtype=np.int8)
        self.landing = np.zeros(n)
        self.zone = np.zeros(n)
        self.doors = np.zeros(n)
        self.load = np.zeros(n)
        self.trip_t = np.zeros(n)
        """Glides: time into the trip at the end of the step, its length, top speed, start and direction."""
        self.dist = np.ones(n)
        self.vmax = np.ones(n)
        self.start = np.zeros(n)
        self.sign = np.ones(n)

    def still(self, k: int, stop: int, state: ElevatorState, *, doors: bool) -> None:
        """Steps ``k``..``stop - 1``: the car stands at its landing, doors open or not."""
        self.kind[k:stop] = self.STILL
        self.landing[k:stop] = state.landing
        self.zone[k:stop] = 1.0 if state.in_door_zone else 0.0
        self.doors[k:stop] = 1.0 if doors else 0.0
        self.load[k:stop] = state.load_kg

    def glide(self, k: int, stop: int, state: ElevatorState, dt: float) -> ElevatorState:
        """Steps ``k``..``stop - 1`` of a trip that does not end in them; the car's state after them."""
        p = state.params
        dist = abs(state.trip_to_m - state.trip_from_m)
        sign = 1.0 if state.trip_to_m >= state.trip_from_m else -1.0
        vmax = state.trip_vmax or p.rated_speed
        self.kind[k:stop] = self.GLIDE
        self.trip_t[k:stop] = state.trip_t + dt * np.arange(1, stop - k + 1, dtype=np.float64)
        self.dist[k:stop] = dist
        self.vmax[k:stop] = vmax
        self.start[k:stop] = state.trip_from_m
        self.sign[k:stop] = sign
        self.load[k:stop] = state.load_kg
        t = state.trip_t + dt * (stop - k)
        s, v, a, _ = profile(dist, vmax, p.accel, t)
        return _with(state, trip_t=t, pos_m=state.trip_from_m + sign * s, vel_mps=sign * v, acc_mps2=sign * a)

    def render(
        self, cols: dict[str, Array], p: ElevatorParams, z: Array, faults: tuple[FaultTrack, ...]
    ) -> None:
        """The readings of every skipped step (``elevator._sensors`` over arrays)."""
        still = np.flatnonzero(self.kind == self.STILL)
        if len(still):
            cols["floor"][still] = self.landing[still]
            cols["in_door_zone"][still] = self.zone[still]
            cols["door_open"][still] = self.doors[still]
            vibration = 0.002 + _fault_vibration(faults, still, 0.0)
            cols["vibration_rms_g"][still] = read_series(
                np.broadcast_to(vibration, still.shape), z[still, 2], 0.0008, 4
            )
            cols["load_kg"][still] = read_series(self.load[still], z[still, 3], 2.0, 0)
        glide = np.flatnonzero(self.kind == self.GLIDE)
        if len(glide):
            s, v, a = _profile_series(self.dist[glide], self.vmax[glide], p.accel, self.trip_t[glide])
            sign = self.sign[glide]
            pos, vel, acc = self.start[glide] + sign * s, sign * v, sign * a
            landing = np.clip(np.round(pos / FLOOR_HEIGHT_M) + 1, 1, p.floors)
            load = self.load[glide]
            direction = np.where(vel >= 0, 1.0, -1.0)
            mass = 2 * CAR_MASS_KG + BALANCE * p.rated_load + load + 300.0
            force = (load - BALANCE * p.rated_load) * G * direction + mass * acc
            rated_force = (1 - BALANCE) * p.rated_load * G
            current = 0.3 * p.rated_current + 0.7 * p.rated_current * np.abs(force) / rated_force
            speed = np.abs(vel) / p.rated_speed
            vibration = (
                0.004 + 0.012 * speed**2 + 0.003 * np.abs(acc) + _fault_vibration(faults, glide, speed)
            )
            cols["floor"][glide] = landing
            cols["in_door_zone"][glide] = np.abs(pos - (landing - 1) * FLOOR_HEIGHT_M) <= DOOR_ZONE_M
            cols["speed_mps"][glide] = read_series(np.abs(vel), z[glide, 0], 0.005, 2)
            cols["motor_current_a"][glide] = read_series(current, z[glide, 1], 0.02 * p.rated_current, 1)
            cols["vibration_rms_g"][glide] = read_series(vibration, z[glide, 2], 0.0008, 4)
            cols["load_kg"][glide] = read_series(load, z[glide, 3], 2.0, 0)
            cols["running"][glide] = 1.0


def _profile_series(dist: Array, vmax: Array, a: float, t: Array) -> tuple[Array, Array, Array]:
    """``elevator.profile`` at each of the times ``t`` (all within their trips), trip by trip."""
    t_acc = vmax / a
    t_acc = np.where(a * t_acc * t_acc > dist, np.sqrt(dist / a), t_acc)
    v_peak = a * t_acc
    t_cruise = np.where(v_peak > 0, (dist - a * t_acc * t_acc) / np.where(v_peak > 0, v_peak, 1.0), 0.0)
    total = 2 * t_acc + t_cruise
    left = np.maximum(total - t, 0.0)
    accel, cruise = t < t_acc, t < t_acc + t_cruise
    s = np.where(
        accel,
        0.5 * a * t * t,
        np.where(cruise, 0.5 * a * t_acc * t_acc + v_peak * (t - t_acc), dist - 0.5 * a * left * left),
    )
    v = np.where(accel, a * t, np.where(cruise, v_peak, a * left))
    acc = np.where(accel, a, np.where(cruise, 0.0, -a))
    return s, v, acc
