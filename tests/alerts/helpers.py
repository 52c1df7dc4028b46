"""Readings as the gateway hands them over: one Reading per channel, all with the asset's ts_ms."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from facwatch.model import Reading, ms_from_utc

T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)
T0_MS = ms_from_utc(T0)
SITE = "lakeside"
ELEVATOR = "b1-elev-1"

MOVING: Mapping[str, float] = {
    "floor": 5,
    "in_door_zone": 0,
    "door_open": 0,
    "speed_mps": 1.6,
    "motor_current_a": 30,
    "vibration_rms_g": 0.05,
    "load_kg": 150,
    "alarm_button": 0,
    "running": 1,
}
STUCK = {**MOVING, "speed_mps": 0.0, "running": 0, "motor_current_a": 0.5}
"""Stopped between floors, doors closed, two people inside."""
AT_FLOOR = {**STUCK, "in_door_zone": 1}
"""A normal stop at a landing, doors still closed."""
EMPTY_STUCK = {**STUCK, "load_kg": 0}


def frame(values: Mapping[str, float], ts_ms: int, asset: str = ELEVATOR, site: str = SITE) -> list[Reading]:
    return [Reading(site, asset, channel, ts_ms, float(v)) for channel, v in values.items()]


def seconds(
    values: Mapping[str, float], start_s: float, count: int, asset: str = ELEVATOR
) -> Iterator[list[Reading]]:
    """``count`` one-second frames starting ``start_s`` after T0."""
    for i in range(count):
        yield frame(values, T0_MS + int((start_s + i) * 1000), asset)
