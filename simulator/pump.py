"""A centrifugal water pump at a fixed speed: demand sets the flow, the pump curve sets the pressure.

``discharge = suction + head(flow)`` with ``head`` falling with the square of the flow from the shut-off
head (1.3 × the rated head) through the rated point (``rated["pressure_bar"]`` at ``rated["flow_m3h"]``).
Motor current rises with flow, bearing temperature follows load with a 15-minute lag. A standby pump (a fire
pump: ``rated["standby"] = 1``, or an id containing ``fire``) stays stopped with its main held at pressure,
and starts by itself when that pressure collapses. A pump of a duty/standby pair (``rated["duty_hours"]``,
``rated["duty_group"]``) takes turns with its partner: off duty it stands still while the partner holds the
header it shares.

Faults: ``pipe_burst``; ``dry_run`` (no water: flow, current and pressures fall); ``cavitation`` (suction
pressure low, vibration and a pressure ripple up); ``bearing_wear`` (vibration and bearing temperature
creep up, vibration crossing 7.1 mm/s at ``limit_after_s``); ``overheating`` (bearing temperature climbs
past 90 °C); ``trip`` (this pump stops; the standby set keeps the header, so its discharge pressure dips
and recovers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from facwatch.model import Asset
from simulator.faults import LIMITS, ActiveFault, FaultTrack, track, tracks_of
from simulator.signals import (
    AMBIENT,
    Array,
    Mask,
    ambient_c,
    at_minutes,
    bump,
    by_minute,
    hour_of_day,
    lag_series,
    minute_table,
    read_series,
    wander_series,
)

SHUTOFF = 1.3
"""Shut-off head as a multiple of the rated head."""
BEARING_TAU_S = 900.0
BURST_FLOW = 1.8
"""Flow under a pipe burst, as a multiple of the rated flow (the pump runs out its curve)."""
BURST_RAMP_S = 3.0
TRIP_DIP_S = 20.0
"""After a trip the header pressure sags until the standby set has run up (about 20 s)."""
F = TypeVar("F", float, Array)


@dataclass(frozen=True, slots=True)
class PumpParams:
    rated_pressure: float
    rated_flow: float
    rated_current: float
    suction: float
    standby: bool
    duty_s: float = 0.0
    """A duty/standby pair (``rated["duty_hours"]``): this pump is duty for that long, then standby while
    its partner runs, and so on; 0 for a pump that is always duty."""
    duty_first: bool = True
    """Whether it is duty in the first period of the day (``rated["duty_group"]`` 0) or the second (1)."""

    @property
    def rated_head(self) -> float:
        return self.rated_pressure - self.suction

    def head(self, flow: F) -> F:
        """The pump curve: head in bar at ``flow`` m³/h."""
        q = flow / self.rated_flow
        return self.rated_head * (SHUTOFF - (SHUTOFF - 1.0) * q * q)

    def current(self, flow: F) -> F:
        """Motor current: the no-load share plus a share rising with the hydraulic work."""
        return self.rated_current * (0.45 + 0.55 * flow / self.rated_flow)

    def suction_at(self, flow: F) -> F:
        """Suction pressure sags with the square of the flow (losses in the inlet)."""
        q = flow / self.rated_flow
        return self.suction - 0.15 * self.suction * q * q

    @staticmethod
    def of(asset: Asset) -> PumpParams:
        pressure = float(asset.rated.get("pressure_bar", 6.0))
        standby = bool(asset.rated.get("standby", 0)) or "fire" in asset.id.lower()
        return PumpParams(
            rated_pressure=pressure,
            rated_flow=float(asset.rated.get("flow_m3h", 30.0)),
            rated_current=float(asset.rated.get("current_a", 20.0)),
            suction=float(asset.rated.get("suction_bar", min(1.5, pressure / 3))),
            standby=standby,
            duty_s=3600.0 * float(asset.rated.get("duty_hours", 0.0)),
            duty_first=not bool(asset.rated.get("duty_group", 0)),
        )


@dataclass(frozen=True, slots=True)
class PumpState:
    params: PumpParams
    bearing_c: float
    wiggle: float = 0.0
    """Slow random variation of demand, a fraction of it."""


@by_minute
def demand(hour: float) -> float:
    """Domestic water demand as a fraction of rated flow: morning and evening peaks, a quiet night."""
    return min(
        1.0, 0.12 + 0.5 * bump(hour, 7.3, 1.1) + 0.25 * bump(hour, 12.2, 1.5) + 0.65 * bump(hour, 19.6, 1.8)
    )


DEMAND = minute_table(demand)


def _bearing_target(params: PumpParams, flow: float, running: bool, hour: float) -> float:
    if not running:
        return ambient_c(hour)
    q = flow / params.rated_flow
    return ambient_c(hour) + 12.0 + 18.0 * q * q


def initial(asset: Asset, rng: np.random.Generator, t_s: float) -> PumpState:
    params = PumpParams.of(asset)
    hour = hour_of_day(t_s)
    flow = 0.0 if params.standby else params.rated_flow * demand(hour)
    return PumpState(params=params, bearing_c=_bearing_target(params, flow, not params.standby, hour))


def step(
    state: PumpState, dt: float, faults: tuple[ActiveFault, ...], rng: np.random.Generator, t_s: float
) -> tuple[PumpState, dict[str, float | bool]]:
    """One step of ``dt`` seconds at local time ``t_s``: ``block`` over a single step."""
    state, cols = block(state, dt, tracks_of(faults), rng, np.array([t_s]))
    return state, {k: bool(v[0]) if k == "running" else float(v[0]) for k, v in cols.items()}


def block(
    state: PumpState, dt: float, faults: tuple[FaultTrack, ...], rng: np.random.Generator, t_s: Array
) -> tuple[PumpState, dict[str, Array]]:
    """``len(t_s)`` steps of ``dt`` seconds at local times ``t_s``, vectorised: the next state and each
    channel's readings (``running`` as 0/1). Draws seven normals a step, whatever the faults."""
    p = state.params
    n = len(t_s)
    z = rng.standard_normal((n, 7))
    wiggle = wander_series(state.wiggle, z[:, 0], dt, 120.0, 0.06)
    burst = track(faults, "pipe_burst")
    running = np.full(n, not p.standby) | (burst.on if burst is not None else False)
    flow = np.zeros(n) if p.standby else p.rated_flow * at_minutes(DEMAND, t_s) * (1.0 + wiggle)
    discharge = np.where(running, p.suction + p.head(flow), p.suction + 0.9 * p.rated_head * SHUTOFF)
    suction = p.suction_at(flow)
    vibration = np.where(running, 1.1 + 0.9 * (flow / p.rated_flow) ** 2, 0.1)
    if burst is not None:
        k = burst.ramp(BURST_RAMP_S)
        flow = flow + (BURST_FLOW * p.rated_flow - flow) * k
        suction = p.suction_at(flow)
        # The leak is near: the sensor reads little more than the suction side.
        discharge = discharge + (suction + 0.15 * p.rated_head - discharge) * k
        vibration = np.where(burst.on, 1.1 + 0.9 * BURST_FLOW**2 + 2.5 * k, vibration)
    current = np.where(running, p.current(flow), 0.0)
    op = _Point(running, flow, discharge, suction, vibration, current, np.zeros(n))
    if p.duty_s > 0 and not p.standby:
        # Duty/standby: turns of duty_s, counted from local midnight; off duty the partner feeds the header.
        period = (t_s // p.duty_s).astype(np.int64) % 2 == 0
        off = period != p.duty_first
        if burst is not None:
            off &= ~burst.on  # a burst starts every pump of the set
        _stand_by(op, off, t_s % p.duty_s)
    if faults:
        _faulted(p, faults, op, z[:, 0])
    q = op.flow / p.rated_flow
    ambient = at_minutes(AMBIENT, t_s)
    target = np.where(op.running, ambient + 12.0 + 18.0 * q * q, ambient) + op.heat
    bearing = lag_series(state.bearing_c, target, dt, BEARING_TAU_S)
    on = op.running
    cols = {
        "discharge_pressure_bar": read_series(op.discharge, z[:, 1], 0.03, 2),
        "suction_pressure_bar": read_series(op.suction, z[:, 2], 0.02, 2),
        "flow_m3h": np.where(on, read_series(op.flow, z[:, 3], 0.01 * p.rated_flow, 1), 0.0),
        "motor_current_a": np.where(on, read_series(op.current, z[:, 4], 0.01 * p.rated_current, 1), 0.0),
        "vibration_rms_mms": read_series(op.vibration, z[:, 5], 0.08, 2),
        "bearing_temp_c": read_series(bearing, z[:, 6], 0.1, 1),
        "running": on.astype(np.float64),
    }
    return PumpState(p, float(bearing[-1]), float(wiggle[-1])), cols


class _Point:
    """The operating point over a block, which the faults bend in place."""

    def __init__(
        self, running: Mask, flow: Array, discharge: Array, suction: Array, vibration: Array,
        current: Array, heat: Array,
    ) -> None:  # fmt: skip
        self.running = running.astype(bool)
        self.flow = flow
        self.discharge = discharge
        self.suction = suction
        self.vibration = vibration
        self.current = current
        self.heat = heat
        """The bearing's extra heat, °C above its normal target."""


def _faulted(p: PumpParams, faults: tuple[FaultTrack, ...], op: _Point, z: Array) -> None:
    """The operating point under the machine faults (each where it is in force and the pump runs)."""
    dry = track(faults, "dry_run")
    if dry is not None:
        # No water: the impeller spins in air, so little power and no head at all.
        k = dry.ramp(5.0) * op.running
        op.flow = op.flow * (1.0 - 0.97 * k)
        op.discharge = op.discharge * (1.0 - 0.97 * k)
        op.suction = op.suction * (1.0 - 0.95 * k)
        op.current = op.current + (0.3 * p.rated_current - op.current) * k
        op.vibration = op.vibration + 1.5 * k
        op.heat = op.heat + 25.0 * k
    cav = track(faults, "cavitation")
    if cav is not None:
        k = cav.ramp(10.0) * cav.severity * op.running
        op.suction = np.where(
            k > 0, np.maximum(0.05, op.suction * (1.0 - 0.85 * np.minimum(k, 1.0))), op.suction
        )
        op.flow = op.flow * (1.0 - 0.08 * k)
        # Collapsing vapour bubbles: a broadband rattle and a pressure ripple on the discharge.
        op.vibration = op.vibration + 3.5 * k * (1.0 + 0.4 * np.abs(z))
        op.discharge = op.discharge + 0.35 * k * z
        op.current = op.current * (1.0 - 0.05 * k)
    wear = track(faults, "bearing_wear")
    if wear is not None:
        w = np.minimum(wear.wear, 3.0) * op.running
        # Whatever the operating point, the reading reaches the limit when the wear reaches 1.
        op.vibration = op.vibration + w * (LIMITS["vibration_rms_mms"] - op.vibration)
        op.heat = op.heat + 15.0 * w
    hot = track(faults, "overheating")
    if hot is not None:
        op.heat = op.heat + 65.0 * hot.severity * (hot.on & op.running)
    trip = track(faults, "trip")
    if trip is not None:
        # This pump stops; the standby set runs up and restores the header it shares with this sensor.
        _stand_by(op, trip.on & op.running, np.nan_to_num(trip.elapsed, nan=0.0))


def _stand_by(op: _Point, stopped: Mask, since_s: Array) -> None:
    """Where ``stopped``, the pump stands still while another one feeds the header its pressure sensor is
    on: no flow or current through it, and a header pressure that sags for ``TRIP_DIP_S`` after the
    changeover (``since_s`` seconds ago) until the other pump has run up."""
    dip = np.maximum(0.0, 1.0 - since_s / TRIP_DIP_S)
    op.discharge = np.where(stopped, op.discharge - (op.discharge - op.suction) * 0.6 * dip, op.discharge)
    op.flow = np.where(stopped, 0.0, op.flow)
    op.current = np.where(stopped, 0.0, op.current)
    op.vibration = np.where(stopped, 0.1, op.vibration)
    op.running = op.running & ~stopped
