"""A centrifugal water pump at a fixed speed: demand sets the flow, the pump curve sets the pressure.

``discharge = suction + head(flow)`` with ``head`` falling with the square of the flow from the shut-off
head (1.3 × the rated head) through the rated point (``rated["pressure_bar"]`` at ``rated["flow_m3h"]``).
Motor current rises with flow, bearing temperature follows load with a 15-minute lag. A standby pump (a fire
pump: ``rated["standby"] = 1``, or an id containing ``fire``) stays stopped with its main held at pressure,
and starts by itself when that pressure collapses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facwatch.model import Asset
from simulator.faults import ActiveFault, active
from simulator.signals import ambient_c, bump, by_minute, hour_of_day, lag, read, wander

SHUTOFF = 1.3
"""Shut-off head as a multiple of the rated head."""
BEARING_TAU_S = 900.0
BURST_FLOW = 1.8
"""Flow under a pipe burst, as a multiple of the rated flow (the pump runs out its curve)."""
BURST_RAMP_S = 3.0


@dataclass(frozen=True, slots=True)
class PumpParams:
    rated_pressure: float
    rated_flow: float
    rated_current: float
    suction: float
    standby: bool

    @property
    def rated_head(self) -> float:
        return self.rated_pressure - self.suction

    def head(self, flow: float) -> float:
        """The pump curve: head in bar at ``flow`` m³/h."""
        q = flow / self.rated_flow
        return self.rated_head * (SHUTOFF - (SHUTOFF - 1.0) * q * q)

    def current(self, flow: float) -> float:
        return self.rated_current * (0.45 + 0.55 * flow / self.rated_flow)

    def suction_at(self, flow: float) -> float:
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
    p = state.params
    hour = hour_of_day(t_s)
    z = rng.standard_normal(7).tolist()
    wiggle = wander(state.wiggle, z[0], dt, 120.0, 0.06)
    burst = active(faults, "pipe_burst")
    running = not p.standby or burst is not None
    flow = 0.0 if p.standby else p.rated_flow * demand(hour) * (1.0 + wiggle)
    discharge = p.suction + p.head(flow) if running else p.suction + 0.9 * p.rated_head * SHUTOFF
    suction = p.suction_at(flow)
    vibration = 1.1 + 0.9 * (flow / p.rated_flow) ** 2 if running else 0.1
    if burst is not None:
        ramp = min(1.0, burst.elapsed_s / BURST_RAMP_S)
        flow = flow + (BURST_FLOW * p.rated_flow - flow) * ramp
        suction = p.suction_at(flow)
        # The leak is near: the sensor reads little more than the suction side.
        discharge = discharge + (suction + 0.15 * p.rated_head - discharge) * ramp
        vibration = 1.1 + 0.9 * BURST_FLOW**2 + 2.5 * ramp
    current = p.current(flow) if running else 0.0
    bearing = lag(state.bearing_c, _bearing_target(p, flow, running, hour), dt, BEARING_TAU_S)
    values: dict[str, float | bool] = {
        "discharge_pressure_bar": read(discharge, z[1], 0.03, 2),
        "suction_pressure_bar": read(suction, z[2], 0.02, 2),
        "flow_m3h": read(flow, z[3], 0.01 * p.rated_flow, 1) if running else 0.0,
        "motor_current_a": read(current, z[4], 0.01 * p.rated_current, 1) if running else 0.0,
        "vibration_rms_mms": read(vibration, z[5], 0.08, 2),
        "bearing_temp_c": read(bearing, z[6], 0.1, 1),
        "running": running,
    }
    return PumpState(p, bearing, wiggle), values
