"""What the sensors make of the truth: per-sensor calibration errors and sensor faults (stuck, drift, dropout).

The asset models report what an ideal instrument with noise and a resolution would read; this module adds
what differs from one real instrument to the next — a gain error (a current transformer's ratio, a load
cell's span) and a zero offset (a pressure transducer, a temperature probe) drawn once per sensor — and
the faults of a sensor rather than of the machine. Both work on a block's columns (numpy arrays, one per
channel). Pure but for the columns they are given: the held value of a stuck sensor is state passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.faults import SENSOR_CHANNEL, Array, FaultTrack


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    decimals: int
    """The instrument's resolution, as the models round it."""
    span: float
    """A typical full scale: a drift of severity 1 moves the reading 3 % of it per hour."""
    gain_sigma: float = 0.0
    offset_sigma: float = 0.0


SPECS: Mapping[str, ChannelSpec] = {
    "floor": ChannelSpec(0, 20.0),
    "speed_mps": ChannelSpec(2, 2.5),
    "motor_current_a": ChannelSpec(1, 60.0, gain_sigma=0.005),
    "vibration_rms_g": ChannelSpec(4, 0.1, gain_sigma=0.03),
    "load_kg": ChannelSpec(0, 1000.0, gain_sigma=0.01),
    "discharge_pressure_bar": ChannelSpec(2, 10.0, offset_sigma=0.02),
    "suction_pressure_bar": ChannelSpec(2, 3.0, offset_sigma=0.02),
    "flow_m3h": ChannelSpec(1, 40.0, gain_sigma=0.01),
    "vibration_rms_mms": ChannelSpec(2, 10.0, gain_sigma=0.03),
    "bearing_temp_c": ChannelSpec(1, 100.0, offset_sigma=0.4),
    "voltage_l1_v": ChannelSpec(1, 250.0, gain_sigma=0.002),
    "voltage_l2_v": ChannelSpec(1, 250.0, gain_sigma=0.002),
    "voltage_l3_v": ChannelSpec(1, 250.0, gain_sigma=0.002),
    "current_l1_a": ChannelSpec(1, 500.0, gain_sigma=0.004),
    "current_l2_a": ChannelSpec(1, 500.0, gain_sigma=0.004),
    "current_l3_a": ChannelSpec(1, 500.0, gain_sigma=0.004),
    "frequency_hz": ChannelSpec(3, 50.0),
    "power_factor": ChannelSpec(3, 1.0),
    "transformer_temp_c": ChannelSpec(1, 120.0, offset_sigma=0.5),
}

DRIFT_PER_HOUR = 0.03
"""A drift of severity 1 moves the reading by this fraction of the channel's span per hour."""

Calibration = Mapping[str, tuple[float, float]]
"""channel → (gain, offset) of one asset's instruments."""


def calibration(channels: Sequence[str], rng: np.random.Generator) -> Calibration:
    """Each instrument's gain and zero offset, drawn once from the asset's calibration generator."""
    out: dict[str, tuple[float, float]] = {}
    for channel in channels:
        spec = SPECS.get(channel)
        if spec is None or (spec.gain_sigma == 0.0 and spec.offset_sigma == 0.0):
            continue
        gain = 1.0 + float(rng.normal(0.0, spec.gain_sigma)) if spec.gain_sigma else 1.0
        offset = round(float(rng.normal(0.0, spec.offset_sigma)), spec.decimals) if spec.offset_sigma else 0.0
        out[channel] = (gain, offset)
    return out


def calibrate(cols: dict[str, Array], cal: Calibration) -> None:
    """Apply the instruments' errors to a block's columns in place (a reading of exactly zero — a stopped
    machine — stays zero)."""
    for channel, (gain, offset) in cal.items():
        col = cols[channel]
        cols[channel] = np.where(
            col == 0.0, col, np.round(col * gain + offset, SPECS[channel].decimals) + 0.0
        )


def sensor_faults(
    cols: dict[str, Array],
    faults: Sequence[tuple[int, FaultTrack]],
    default_channel: str,
    held: dict[int, float],
) -> None:
    """Apply stuck, drift and dropout faults to a block's columns in place.

    ``faults`` are (fault number, track) pairs; ``default_channel`` is the asset kind's sensor-fault channel
    (``SENSOR_CHANNEL``). A stuck sensor repeats the reading it had at the fault's onset (``held``, by fault
    number, carries it from block to block); a drifting one adds an error growing with time; a dropped-out
    one reads NaN: missing from the device's messages.
    """
    for number, fault in faults:
        channel = fault.channel or default_channel
        col = cols.get(channel)
        if col is None:
            continue
        on = fault.on
        if not on.any():
            held.pop(number, None)
            continue
        if fault.kind == "stuck":
            value = held.setdefault(number, float(col[int(np.argmax(on))]))
            cols[channel] = np.where(on, value, col)
            if not on[-1]:
                held.pop(number, None)
        elif fault.kind == "drift":
            spec = SPECS.get(channel, ChannelSpec(3, 1.0))
            error = (
                DRIFT_PER_HOUR * spec.span * fault.severity * np.nan_to_num(fault.elapsed, nan=0.0) / 3600.0
            )
            cols[channel] = np.where(on, np.round(col + error, spec.decimals) + 0.0, col)
        elif fault.kind == "dropout":
            cols[channel] = np.where(on, np.nan, col)


__all__ = ["SENSOR_CHANNEL", "SPECS", "calibrate", "calibration", "sensor_faults"]
