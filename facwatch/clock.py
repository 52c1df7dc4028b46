"""Time as an argument: the wall clock in production, a settable clock in tests and simulations.

The pure core never reads the clock; the shell reads it once per batch and passes ``now`` down.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: for tests and event-time simulation."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


class ScaledClock:
    """Simulated time that runs ``speed`` times faster than the wall clock, from ``start`` on.

    ``facwatch demo --speed X`` runs the whole system on it, so that SLA clocks and the simulator's
    timestamps agree.
    """

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._monotonic = time.monotonic
        self._speed = speed
        self._start = start or datetime.now(UTC)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(self._monotonic() - self._t0) * self._speed)
