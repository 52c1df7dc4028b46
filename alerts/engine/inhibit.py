"""Topology-aware inhibition (pure): a building's power failure explains the alerts it causes there.

While a ``power.outage`` or ``power.phase_loss`` alert fires on a power asset of a building, new
``device.offline`` alerts and pump and elevator alerts in that building are recorded as suppressed by it
(no ticket, nobody told): the outage's ticket is the one to work. Safety comes first, so entrapments are
never suppressed, and an elevator that was moving when the power went (a speed of at least
``MOVING_MPS`` seen within ``MOVING_LOOKBACK_MS`` before the outage was confirmed) raises a RED
``elevator.possible_entrapment`` of its own: someone may be in a car stopped between floors.
"""

from __future__ import annotations

from collections.abc import Iterable

from facwatch.model import Asset, AssetKind, Reading

INHIBITORS = frozenset({"power.outage", "power.phase_loss"})
POSSIBLE_ENTRAPMENT = "elevator.possible_entrapment"
NEVER_SUPPRESSED = frozenset(
    {
        "elevator.entrapment",
        "elevator.entrapment_at_landing",
        "elevator.moving_doors_open",
        POSSIBLE_ENTRAPMENT,
    }
)
MOVING_MPS = 0.05
MOVING_LOOKBACK_MS = 10_000
"""The outage rule confirms after a couple of seconds, and a car without power stops within a few more."""


def is_inhibitor(asset: Asset, kind: str) -> bool:
    return asset.kind is AssetKind.POWER and kind in INHIBITORS


def suppressible(asset: Asset, kind: str) -> bool:
    """Whether a building's power failure explains this alert (rectification tasks stay: they are work)."""
    if kind in NEVER_SUPPRESSED or kind.endswith(".recurrence"):
        return False
    return kind == "device.offline" or asset.kind in (AssetKind.PUMP, AssetKind.ELEVATOR)


class Motion:
    """The last time each elevator was seen moving (bounded: one entry per elevator of the site)."""

    def __init__(self) -> None:
        self._moving: dict[str, tuple[int, float]] = {}

    def observe(self, readings: Iterable[Reading], now_ms: int | None = None) -> None:
        """Take the moving cars' speeds; a reading dated after ``now_ms`` counts as of ``now_ms``."""
        for reading in readings:
            if reading.channel == "speed_mps" and abs(reading.value) >= MOVING_MPS:
                ts_ms = reading.ts_ms if now_ms is None else min(reading.ts_ms, now_ms)
                last = self._moving.get(reading.asset)
                if last is None or ts_ms >= last[0]:
                    self._moving[reading.asset] = (ts_ms, reading.value)

    def state(self) -> dict[str, tuple[int, float]]:
        """The last moving speed per elevator (for the checkpoint)."""
        return dict(self._moving)

    def restore(self, moving: dict[str, tuple[int, float]]) -> None:
        for asset, (ts_ms, speed) in moving.items():
            last = self._moving.get(asset)
            if last is None or ts_ms > last[0]:
                self._moving[asset] = (int(ts_ms), float(speed))

    def moving_at(self, asset: str, ts_ms: int) -> float | None:
        """The speed it was last seen moving at, when that was within the lookback before ``ts_ms``."""
        last = self._moving.get(asset)
        if last is None or not ts_ms - MOVING_LOOKBACK_MS <= last[0] <= ts_ms:
            return None
        return last[1]
