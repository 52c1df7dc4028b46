"""A building's low-voltage panel: three phases of about 230 V, currents following the daily load.

Each panel has a small fixed imbalance between its phases (drawn once, from its own generator). The
transformer's temperature follows the load's square with a two-hour lag. Under ``power_outage`` the meter
(on its own battery) reports voltages, currents, frequency and power factor of about zero.

Other faults: ``phase_loss`` (L3's voltage and current drop to zero, the other phases' currents rise),
``voltage_sag`` / ``voltage_swell`` (all phases about 20 % low / 12 % high), ``overload`` (the load rises
to about 120 % of rated and the transformer heats), ``transformer_overheat`` (its cooling fails: about
55 °C more, with a 20-minute lag).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facwatch.model import Asset
from simulator.faults import ActiveFault, FaultTrack, track, tracks_of
from simulator.signals import (
    AMBIENT,
    Array,
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

TRANSFORMER_TAU_S = 7200.0
OVERHEAT_TAU_S = 1200.0
OVERHEAT_C = 55.0
SAG = 0.2
SWELL = 0.12
OVERLOAD = 1.2
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
    overheat_c: float = 0.0
    """Extra transformer heat from a cooling fault, lagging behind it."""


@by_minute
def load(hour: float) -> float:
    """A residential compound's load as a fraction of the panel's rated current."""
    return 0.18 + 0.22 * bump(hour, 7.5, 1.2) + 0.15 * bump(hour, 12.5, 1.5) + 0.5 * bump(hour, 20.0, 2.0)


LOAD = minute_table(load)


def _transformer_target(fraction: float, hour: float) -> float:
    return ambient_c(hour) + 8.0 + 50.0 * fraction * fraction


def initial(asset: Asset, rng: np.random.Generator, t_s: float) -> PowerState:
    params = PowerParams.of(asset, rng)
    hour = hour_of_day(t_s)
    return PowerState(params=params, transformer_c=_transformer_target(load(hour), hour))


def step(
    state: PowerState, dt: float, faults: tuple[ActiveFault, ...], rng: np.random.Generator, t_s: float
) -> tuple[PowerState, dict[str, float | bool]]:
    """One step of ``dt`` seconds at local time ``t_s``: ``block`` over a single step."""
    state, cols = block(state, dt, tracks_of(faults), rng, np.array([t_s]))
    return state, {k: float(v[0]) for k, v in cols.items()}


def block(
    state: PowerState, dt: float, faults: tuple[FaultTrack, ...], rng: np.random.Generator, t_s: Array
) -> tuple[PowerState, dict[str, Array]]:
    """``len(t_s)`` steps of ``dt`` seconds at local times ``t_s``, vectorised: the next state and each
    channel's readings. Draws eleven normals a step, whatever the faults."""
    p = state.params
    n = len(t_s)
    z = rng.standard_normal((n, 11))
    wiggle = wander_series(state.wiggle, z[:, 0], dt, 300.0, 0.04)
    freq_dev = wander_series(state.freq_dev, z[:, 1], dt, 30.0, 0.02)
    outage_track = track(faults, "power_outage")
    outage = outage_track.on if outage_track is not None else np.zeros(n, dtype=bool)
    fraction = np.where(outage, 0.0, np.maximum(0.02, at_minutes(LOAD, t_s) * (1.0 + wiggle)))
    volt_scale = np.ones((3, n))
    amp_scale = np.ones((3, n))
    pf_drop = np.zeros(n)
    extra_heat = np.zeros(n)
    live = ~outage
    overload = track(faults, "overload")
    if overload is not None:
        k = overload.ramp(60.0) * live
        fraction = fraction + (OVERLOAD * overload.severity - fraction) * k
    for kind, size in (("voltage_sag", -SAG), ("voltage_swell", SWELL)):
        fault = track(faults, kind)
        if fault is not None:
            volt_scale *= np.where(fault.on & live, 1.0 + size * min(fault.severity, 1.5), 1.0)
    lost = track(faults, "phase_loss")
    if lost is not None:
        # The lost phase's loads stop; three-phase motors left on two phases draw more on those.
        gone = lost.on & live
        volt_scale[2] = np.where(gone, 0.0, volt_scale[2])
        amp_scale[2] = np.where(gone, 0.0, amp_scale[2])
        amp_scale[:2] = np.where(gone, 1.18, amp_scale[:2])
        pf_drop = np.where(gone, 0.06, pf_drop)
    hot = track(faults, "transformer_overheat")
    if hot is not None:
        extra_heat = np.where(hot.on & live, OVERHEAT_C * hot.severity, 0.0)
    overheat = lag_series(state.overheat_c, extra_heat, dt, OVERHEAT_TAU_S)
    ambient = at_minutes(AMBIENT, t_s)
    transformer = lag_series(
        state.transformer_c, ambient + 8.0 + 50.0 * fraction * fraction, dt, TRANSFORMER_TAU_S
    )
    cols: dict[str, Array] = {}
    for i, (volt_key, _) in enumerate(PHASES):
        volts = np.where(
            outage, 0.0, (p.voltage + p.voltage_skew[i] - 0.015 * p.voltage * fraction) * volt_scale[i]
        )
        cols[volt_key] = read_series(volts, z[:, 2 + i], np.where(volts == 0.0, 0.2, 0.4), 1)
    for i, (_, amp_key) in enumerate(PHASES):
        amps = np.where(outage, 0.0, p.rated_current * fraction * p.current_skew[i] * amp_scale[i])
        sigma = np.where(amps == 0.0, 0.1, 0.005 * p.rated_current)
        cols[amp_key] = read_series(amps, z[:, 5 + i], sigma, 1)
    cols["frequency_hz"] = np.where(outage, 0.0, read_series(50.0 + freq_dev, z[:, 8], 0.002, 3))
    pf = np.minimum(0.99, 0.88 + 0.08 * np.minimum(fraction, 1.0)) - pf_drop
    cols["power_factor"] = np.where(outage, 0.0, read_series(pf, z[:, 9], 0.004, 3))
    cols["transformer_temp_c"] = read_series(transformer + overheat, z[:, 10], 0.1, 1)
    end = PowerState(p, float(transformer[-1]), float(wiggle[-1]), float(freq_dev[-1]), float(overheat[-1]))
    return end, cols
