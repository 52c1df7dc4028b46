"""Repeats: a flag that keeps switching on within a window — doors that reopen again and again.

A door that reopens once at a landing is a passenger holding it; a door that reopens every few seconds
while the car does not leave is an obstruction or a misaligned door. The detector counts rising edges
(0 → 1) of its input within the last ``window_s`` of event time; a negative input (the car moved) starts
the count afresh. Score: edges / ``edges``, so 1.0 means "reopened ``edges`` times within the window". The
state is the last value and at most ``edges`` × 4 edge times, so it stays bounded.
"""

from __future__ import annotations

import math
from collections import deque


class RepeatDetector:
    def __init__(self, *, window_s: float = 60.0, edges: int = 5) -> None:
        if window_s <= 0 or edges < 1:
            raise ValueError("window_s > 0 and edges ≥ 1")
        self.window_s = window_s
        self.edges = edges
        # learned state
        self._last = 0.0
        self._times: deque[int] = deque(maxlen=edges * 4)

    def _count(self, value: float, ts_ms: int) -> int:
        if value < 0:
            return 0
        start = ts_ms - int(self.window_s * 1000)
        count = sum(1 for t in self._times if t > start)
        return count + (1 if value >= 0.5 and self._last < 0.5 else 0)

    def score_one(self, value: float, ts_ms: int) -> float | None:
        if not math.isfinite(value):
            return None
        return self._count(value, ts_ms) / self.edges

    def learn_one(self, value: float, ts_ms: int) -> None:
        if not math.isfinite(value):
            return
        if value < 0:
            self._times.clear()
        elif value >= 0.5 and self._last < 0.5:
            self._times.append(ts_ms)
        self._last = value
