"""A stuck sensor: a channel that normally moves repeats exactly the same value for too long.

Real instruments have noise: a reading that does not change by even one least significant digit for
``min_duration_s`` while the channel usually changes every few seconds is a frozen transmitter or a dead
input card, not a quiet machine. The detector learns how long the channel's value usually stays the same
(an exponentially weighted mean of completed runs, each capped at ``min_duration_s`` so one long run
cannot teach it that freezing is normal) and needs ``warmup`` completed runs before it says anything, so a
channel that is constant by nature (a standby pump's zero flow) is never called stuck. A gap of more than
``max_gap_s`` between readings (the watch was gated off: the car stood still) starts a new run, because
the sensor was not being watched in between.

Score: the current run's duration / max(``min_duration_s``, ``ratio`` × the usual run); 1.0 = stuck.
"""

from __future__ import annotations

import math


class StuckDetector:
    def __init__(
        self,
        *,
        min_duration_s: float = 600.0,
        ratio: float = 20.0,
        tolerance: float = 0.0,
        max_gap_s: float = 30.0,
        alpha: float = 0.01,
        warmup: int = 100,
    ) -> None:
        if min_duration_s <= 0 or ratio <= 0 or tolerance < 0 or max_gap_s <= 0 or not 0 < alpha <= 1:
            raise ValueError("min_duration_s, ratio, max_gap_s > 0; tolerance ≥ 0; 0 < alpha ≤ 1")
        self.min_duration_s = min_duration_s
        self.ratio = ratio
        self.tolerance = tolerance
        self.max_gap_s = max_gap_s
        self.alpha = alpha
        self.warmup = warmup
        # learned state
        self.runs = 0
        self._mean_run_s = 0.0
        self._value: float | None = None
        self._since_ms = 0
        self._last_ms = 0

    def score_one(self, value: float, ts_ms: int) -> float | None:
        if self.runs < self.warmup or self._value is None or not math.isfinite(value):
            return None
        if abs(value - self._value) > self.tolerance or (ts_ms - self._last_ms) / 1000 > self.max_gap_s:
            return 0.0
        limit = max(self.min_duration_s, self.ratio * self._mean_run_s)
        return max(0, ts_ms - self._since_ms) / 1000 / limit

    def learn_one(self, value: float, ts_ms: int) -> None:
        if not math.isfinite(value):
            return
        gap = self._value is not None and (ts_ms - self._last_ms) / 1000 > self.max_gap_s
        if self._value is None or gap:
            self._value, self._since_ms = value, ts_ms
        elif abs(value - self._value) > self.tolerance:
            run_s = min(self.min_duration_s, max(0, ts_ms - self._since_ms) / 1000)
            rate = max(self.alpha, 1.0 / (self.runs + 1))
            self._mean_run_s += rate * (run_s - self._mean_run_s)
            self.runs = min(self.runs + 1, 1_000_000)
            self._value, self._since_ms = value, ts_ms
        self._last_ms = ts_ms
