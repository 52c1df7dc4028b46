"""Rate of change: how fast a channel moves, against the fastest a healthy machine moves it.

A pressure that falls 2 bar in a second is a burst even while it is still inside its range; a transformer
that warms a degree a minute has lost its cooling long before it reaches its limit. The score is
|Δvalue / Δt| in units of ``max_per_s`` (1.0 at the limit).

With ``span_s = 0`` the rate is from the previous reading. A slow channel's rate drowns in its noise
from one reading to the next, so with ``span_s > 0`` it is measured against a checkpoint at least
``span_s`` old: the detector keeps one checkpoint per ``span_s / 4`` of event time, at most five (bounded),
and compares with the oldest one that is old enough.
"""

from __future__ import annotations

import math
from collections import deque


class RateOfChangeDetector:
    def __init__(self, *, max_per_s: float, direction: str = "both", span_s: float = 0.0) -> None:
        if max_per_s <= 0 or span_s < 0:
            raise ValueError("max_per_s must be positive and span_s not negative")
        if direction not in ("both", "up", "down"):
            raise ValueError("direction is one of both, up, down")
        self.max_per_s = max_per_s
        self.direction = direction
        self.span_s = span_s
        # learned state: (ts_ms, value) checkpoints, oldest first
        self._points: deque[tuple[int, float]] = deque(maxlen=1 if span_s == 0 else 5)

    def _reference(self, ts_ms: int) -> tuple[int, float] | None:
        if not self._points:
            return None
        if self.span_s == 0:
            return self._points[-1]
        old_enough = [p for p in self._points if (ts_ms - p[0]) / 1000 >= self.span_s]
        return old_enough[-1] if old_enough else None

    def score_one(self, value: float, ts_ms: int) -> float | None:
        """The rate in units of ``max_per_s``; None without a reference or for a non-finite value."""
        ref = self._reference(ts_ms) if math.isfinite(value) else None
        if ref is None:
            return None
        dt_s = (ts_ms - ref[0]) / 1000
        if dt_s <= 0:
            return None
        rate = (value - ref[1]) / dt_s
        if self.direction == "up":
            rate = max(rate, 0.0)
        elif self.direction == "down":
            rate = max(-rate, 0.0)
        return abs(rate) / self.max_per_s

    def learn_one(self, value: float, ts_ms: int) -> None:
        if not math.isfinite(value):
            return
        if self._points and ts_ms <= self._points[-1][0]:
            return  # event time only moves forward
        if self.span_s == 0 or not self._points or (ts_ms - self._points[-1][0]) / 1000 >= self.span_s / 4:
            self._points.append((ts_ms, value))
