"""An adaptive baseline per channel with a daily pattern: robust median and MAD per hour-of-day bucket.

A pump at 7 a.m. is not a pump at 3 a.m.: demand, load and temperatures follow the day. The baseline
keeps, for each of ``buckets`` slices of the local day, a running median and a running median absolute
deviation, updated by the "frugal" streaming quantile rule (a step towards the sample, proportional to
the current spread): two numbers per bucket, no reservoir, robust to outliers (a spike moves the median
by one step, not by its size). The score is calibrated: the robust z = |x - median| / (1.4826 · MAD)
mapped through the two-sided normal probability, so 0.99 means "as unusual as a 2.6 σ normal value"
whatever the channel's units. A bucket scores only once it has seen ``min_count`` samples (warm-up says
None, not 0).
"""

from __future__ import annotations

import math

DAY_MS = 86_400_000
MAD_TO_SIGMA = 1.4826


class AdaptiveBaseline:
    def __init__(
        self,
        *,
        buckets: int = 24,
        utc_offset_s: float = 0.0,
        rate: float = 0.02,
        min_count: int = 30,
        floor: float = 1e-6,
    ) -> None:
        if buckets < 1 or not 0 < rate < 1 or min_count < 1 or floor <= 0:
            raise ValueError("buckets ≥ 1, 0 < rate < 1, min_count ≥ 1, floor > 0")
        self.buckets = buckets
        self.utc_offset_s = utc_offset_s
        self.rate = rate
        self.min_count = min_count
        self.floor = floor
        """The smallest spread believed: a channel that never moves is not infinitely sensitive."""
        # learned state: per bucket [median, mad, count]
        self._median: list[float] = [0.0] * buckets
        self._mad: list[float] = [0.0] * buckets
        self._count: list[int] = [0] * buckets

    def bucket(self, ts_ms: int) -> int:
        local = (ts_ms + int(self.utc_offset_s * 1000)) % DAY_MS
        return local * self.buckets // DAY_MS

    def expected(self, ts_ms: int) -> tuple[float, float] | None:
        """(median, robust σ) of the bucket of this time; None while it warms up."""
        b = self.bucket(ts_ms)
        if self._count[b] < self.min_count:
            return None
        return self._median[b], max(self.floor, MAD_TO_SIGMA * self._mad[b])

    def z_one(self, value: float, ts_ms: int) -> float | None:
        """The signed robust z of a value; None while warming up or for a non-finite value."""
        expected = self.expected(ts_ms)
        if expected is None or not math.isfinite(value):
            return None
        median, sigma = expected
        return (value - median) / sigma

    def score_one(self, value: float, ts_ms: int) -> float | None:
        z = self.z_one(value, ts_ms)
        return None if z is None else math.erf(abs(z) / math.sqrt(2.0))

    def learn_one(self, value: float, ts_ms: int) -> None:
        if not math.isfinite(value):
            return
        b = self.bucket(ts_ms)
        n = self._count[b]
        deviation = value - self._median[b]
        if n < 10:
            # warm start: running mean and mean absolute deviation of the first samples
            self._median[b] += deviation / (n + 1)
            self._mad[b] += (abs(deviation) - self._mad[b]) / (n + 1)
        else:
            # frugal streaming quantiles: a step of `rate` × the spread towards the sample
            spread = max(self._mad[b], self.floor)
            self._median[b] += self.rate * spread * _sign(deviation)
            self._mad[b] += self.rate * spread * _sign(abs(deviation) - self._mad[b])
        self._count[b] = min(n + 1, 1_000_000)


def _sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0
