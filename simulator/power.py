"""A building's low-voltage panel: three phases of about 230 V, currents following the daily load.

Each panel has a small fixed imbalance between its phases (drawn once, from its own generator). The
transformer's temperature follows the load's square with a two-hour lag. Under ``power_outage`` the meter
(on its own battery) reports voltages, currents, frequency and power factor of about zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facwatch.model import Asset
from simulator.faults import ActiveFault, active
from simulator.signals import ambient_c, bump, by_minute, hour_of_day, lag, read, wander

TRANSFORMER_TAU_S = 7200.0
PHASES = tuple((f"voltage_{p}_v", f"current_{p}_a") for p in ("l1", "l2", "l3"))


@dataclass(frozen=True, slots=True)
class PowerParams:
    voltage: float
    rated_current: float
    voltage_skew: tuple[float, float, float]
    """Each phase's fixed offset from nominal, in volts."""
    current_skew: tuple[float, float, float]
    """Each phase's share of the load relative to the mean (about 1.0)."""

    @staticmethod
    def of(asset: Asset, rng: np.random.Generator) -> PowerParams:
        v = rng.normal(0.0, 1.2, size=3)
        c = 1.0 + rng.normal(0.0, 0.04, size=3)
        c = c / c.mean()
        return PowerParams(
            voltage=float(asset.rated.get("voltage_v", 230.0)),
            rated_current=float(asset.rated.get("current_a", 400.0)),
            voltage_skew=(float(v[0]), float(v[1]), float(v[2])),
            current_skew=(float(c[0]), float(c[1]), float(c[2])),
        )


@dataclass(frozen=True, slots=True)
class PowerState:
    params: PowerParams
    transformer_c: float
    wiggle: float = 0.0
    """Slow random variation of the load, a fraction of it."""
    freq_dev: float = 0.0


@by_minute
def load(hour: float) -> float:
    """A residential compound's load as a fraction of the panel's rated current."""
    return 0.18 + 0.22 * bump(hour, 7.5, 1.2) + 0.15 * bump(hour, 12.5, 1.5) + 0.5 * bump(hour, 20.0, 2.0)


def _transformer_target(fraction: float, hour: float) -> float:
    return ambient_c(hour) + 8.0 + 50.0 * fraction * fraction


def initial(asset: Asset, rng: np.random.Generator, t_s: float) -> PowerState:
    params = PowerParams.of(asset, rng)
    hour = hour_of_day(t_s)
    return PowerState(params=params, transformer_c=_transformer_target(load(hour), hour))


def step(
    state: PowerState, dt: float, faults: tuple[ActiveFault, ...], rng: np.random.Generator, t_s: float
) -> tuple[PowerState, dict[str, float | bool]]:
    p = state.params
    hour = hour_of_day(t_s)
    z = rng.standard_normal(11).tolist()
    wiggle = wander(state.wiggle, z[0], dt, 300.0, 0.04)
    freq_dev = wander(state.freq_dev, z[1], dt, 30.0, 0.02)
    outage = active(faults, "power_outage") is not None
    fraction = 0.0 if outage else max(0.02, load(hour) * (1.0 + wiggle))
    transformer = lag(state.transformer_c, _transformer_target(fraction, hour), dt, TRANSFORMER_TAU_S)
    values: dict[str, float | bool] = {}
    for i, (volt_key, _) in enumerate(PHASES):
        volts = 0.0 if outage else p.voltage + p.voltage_skew[i] - 0.015 * p.voltage * fraction
        values[volt_key] = read(volts, z[2 + i], 0.2 if outage else 0.4, 1)
    for i, (_, amp_key) in enumerate(PHASES):
        amps = 0.0 if outage else p.rated_current * fraction * p.current_skew[i]
        values[amp_key] = read(amps, z[5 + i], 0.1 if outage else 0.005 * p.rated_current, 1)
    values["frequency_hz"] = 0.0 if outage else read(50.0 + freq_dev, z[8], 0.002, 3)
    values["power_factor"] = 0.0 if outage else read(min(0.99, 0.88 + 0.08 * fraction), z[9], 0.004, 3)
    values["transformer_temp_c"] = read(transformer, z[10], 0.1, 1)
    return PowerState(p, transformer, wiggle, freq_dev), values
