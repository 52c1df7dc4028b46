"""Drift and change detection: Page-Hinkley and a two-sided CUSUM.

Slow wear and sensor drift move a channel's mean by less than its noise per reading but consistently;
summing small deviations catches that long before a threshold does. Both keep O(1) state.

``PageHinkley`` (Page 1954, Hinkley 1971) tracks the running mean and the cumulative deviation from it
minus a tolerance ``delta``; the score is how far the sum has climbed above its minimum (or fallen below
its maximum), in units of ``threshold``: 1.0 means a change. ``Cusum`` does the same against a fixed
reference learned during ``warmup`` (mean and standard deviation), in units of that σ, so its
``threshold`` (h) and ``slack`` (k) are the textbook ones (k = 0.5, h = 5 detect a 1 σ shift quickly with
a long in-control run length).
"""

from __future__ import annotations

import math


class PageHinkley:
    def __init__(
        self, *, delta: float = 0.005, threshold: float = 50.0, alpha: float = 0.9999, warmup: int = 30
    ):
        if threshold <= 0 or delta < 0 or not 0 < alpha <= 1 or warmup < 1:
            raise ValueError("threshold > 0, delta ≥ 0, 0 < alpha ≤ 1, warmup ≥ 1")
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.warmup = warmup
        # learned state
        self.n = 0
        self._mean = 0.0
        self._up = 0.0
        self._up_min = 0.0
        self._down = 0.0
        self._down_max = 0.0

    def score_one(self, value: float, ts_ms: int = 0) -> float | None:
        if self.n < self.warmup or not math.isfinite(value):
            return None
        up, down = self._sums(value)
        return max(up - min(self._up_min, up), max(self._down_max, down) - down) / self.threshold

    def learn_one(self, value: float, ts_ms: int = 0) -> None:
        if not math.isfinite(value):
            return
        self.n += 1
        self._mean += (value - self._mean) / min(self.n, 10_000)
        self._up, self._down = self._sums(value)
        self._up_min = min(self._up_min, self._up)
        self._down_max = max(self._down_max, self._down)

    def reset(self) -> None:
        """After a confirmed change: the new level is the new normal."""
        self._up = self._up_min = self._down = self._down_max = 0.0

    def _sums(self, value: float) -> tuple[float, float]:
        dev = value - self._mean
        return self.alpha * self._up + dev - self.delta, self.alpha * self._down + dev + self.delta


class Cusum:
    def __init__(self, *, slack: float = 0.5, threshold: float = 5.0, warmup: int = 60):
        if slack < 0 or threshold <= 0 or warmup < 2:
            raise ValueError("slack ≥ 0, threshold > 0, warmup ≥ 2")
        self.slack = slack
        self.threshold = threshold
        self.warmup = warmup
        # learned state: Welford moments during warm-up, then the two sums
        self.n = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._high = 0.0
        self._low = 0.0

    @property
    def ready(self) -> bool:
        return self.n >= self.warmup

    def _z(self, value: float) -> float:
        sigma = math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else 0.0
        return (value - self._mean) / max(sigma, 1e-12)

    def score_one(self, value: float, ts_ms: int = 0) -> float | None:
        if not self.ready or not math.isfinite(value):
            return None
        z = self._z(value)
        high = max(0.0, self._high + z - self.slack)
        low = max(0.0, self._low - z - self.slack)
        return max(high, low) / self.threshold

    def learn_one(self, value: float, ts_ms: int = 0) -> None:
        if not math.isfinite(value):
            return
        if not self.ready:
            self.n += 1
            delta = value - self._mean
            self._mean += delta / self.n
            self._m2 += delta * (value - self._mean)
            return
        z = self._z(value)
        self._high = max(0.0, self._high + z - self.slack)
        self._low = max(0.0, self._low - z - self.slack)
