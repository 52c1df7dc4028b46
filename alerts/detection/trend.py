"""Predictive: a robust trend over a long, downsampled window and the time until the channel reaches its limit.

Wear shows as a slow climb of a channel (vibration, bearing temperature) under the day's ups and downs.
The detector averages the readings into buckets of ``bucket_s`` (an hour by default) and keeps the last
``window`` bucket means (48: two days), so the state is bounded whatever the reading rate. On each closed
bucket it fits a Theil-Sen line (the median of the pairwise slopes: robust to a third of the points being
outliers, and to the daily cycle when the window spans whole days) and extrapolates to ``limit``.

A prediction needs evidence: at least ``min_points`` buckets, a slope whose lower quartile of pairwise
slopes is above zero as well (most pairs agree it climbs), and a crossing inside ``horizon_s`` (7 days).
``score_one`` is 1.0 while such a prediction stands and 0.0 otherwise; ``prediction`` gives the predicted
time (epoch ms), the slope per day and the current level for the finding's detail.

A prediction carries an interval too: Sen's distribution-free confidence bounds of the slope (the order
statistics of the pairwise slopes at ranks ``(N ∓ z·sqrt(Var S)) / 2``, Var S the Mann-Kendall variance
``n(n-1)(2n+5)/18``, z = 1.96) give the earliest crossing (steepest slope) and the latest (flattest); a
flattest slope that is not above zero leaves the latest at the horizon's end. ``limit_in_h`` and its
``_low``/``_high`` are the hours from the prediction's time to the crossing and its bounds.

Wear speeds up as it goes (the simulator's wear grows with the square of the time since onset), and a
straight line over two days then predicts days too late. When the newer half of the window climbs faster
than the older half, the two halves' slopes give an acceleration and the prediction follows the bent line
(earlier, never later, than the straight one); the newer half's steep slope bound gives the earliest
crossing. Whether to predict at all is still decided by the straight line alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DAY_S = 86_400.0


Z_95 = 1.96
"""The two-sided 95 % normal quantile for Sen's slope bounds."""


@dataclass(frozen=True, slots=True)
class Prediction:
    predicted_at_ms: int
    slope_per_day: float
    level: float
    limit: float
    earliest_ms: int
    """The crossing with the steepest slope of the 95 % interval."""
    latest_ms: int
    """The crossing with the flattest slope of the interval (the horizon's end when it does not climb)."""
    made_at_ms: int

    def hours(self) -> tuple[float, float, float]:
        """Hours from the prediction's time to the predicted crossing, its earliest and its latest."""

        def h(at_ms: int) -> float:
            return (at_ms - self.made_at_ms) / 3_600_000

        return h(self.predicted_at_ms), h(self.earliest_ms), h(self.latest_ms)


def slope_bounds(sorted_slopes: npt.NDArray[np.float64], n: int, z: float = Z_95) -> tuple[float, float]:
    """Sen's confidence bounds of the Theil-Sen slope: order statistics of the sorted pairwise slopes."""
    pairs = len(sorted_slopes)
    c = z * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    lo = max(0, min(pairs - 1, math.floor((pairs - c) / 2)))
    hi = max(0, min(pairs - 1, math.ceil((pairs + c) / 2)))
    return float(sorted_slopes[lo]), float(sorted_slopes[hi])


def theil_sen(t: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    """The Theil-Sen slope of ``y`` over ``t``, its intercept, and the steep end of its 95 % interval."""
    i, j = np.triu_indices(len(t), k=1)
    slopes = np.sort((y[j] - y[i]) / (t[j] - t[i]))
    slope = float(np.median(slopes))
    return slope, float(np.median(y - slope * t)), slope_bounds(slopes, len(t))[1]


def accelerating(
    t: npt.NDArray[np.float64], y: npt.NDArray[np.float64], limit: float, now_s: float
) -> tuple[float, float] | None:
    """Seconds until a climbing ``y`` reaches ``limit`` on a bent line, and the earliest such, or None.

    The slopes of the older and the newer half of the window give the acceleration; the newer half's line
    gives the level and slope now. None unless the newer half climbs faster than the older one (wear that
    speeds up: the straight line over the whole window would predict too late).
    """
    half = len(t) // 2
    if half < 3:
        return None
    s_old, _, _ = theil_sen(t[:half], y[:half])
    s_new, b_new, steep_new = theil_sen(t[half:], y[half:])
    mid_old, mid_new = float(np.mean(t[:half])), float(np.mean(t[half:]))
    acc = (s_new - s_old) / (mid_new - mid_old)
    if acc <= 0 or s_new <= 0:
        return None
    level = s_new * now_s + b_new + 0.5 * acc * (now_s - mid_new) ** 2
    remaining = limit - level
    if remaining <= 0:
        return None

    def crossing(slope_mid: float) -> float:
        a = (slope_mid - s_old) / (mid_new - mid_old)  # a steeper newer half: a faster acceleration too
        slope_now = slope_mid + a * (now_s - mid_new)
        return (-slope_now + math.sqrt(slope_now**2 + 2 * a * remaining)) / a

    return crossing(s_new), crossing(max(steep_new, s_new))


class TrendDetector:
    def __init__(
        self,
        *,
        limit: float,
        bucket_s: float = 3600.0,
        window: int = 48,
        min_points: int = 12,
        horizon_s: float = 7 * DAY_S,
        rising: bool = True,
        phase_s: float = 0.0,
    ) -> None:
        if bucket_s <= 0 or window < 3 or not 3 <= min_points <= window or horizon_s <= 0:
            raise ValueError("bucket_s > 0, window ≥ 3, 3 ≤ min_points ≤ window, horizon_s > 0")
        self.limit = limit
        self.bucket_s = bucket_s
        self.window = window
        self.min_points = min_points
        self.horizon_s = horizon_s
        self.rising = rising
        self.phase_s = phase_s
        """Where buckets start: assets with different phases do not all refit in the same second."""
        # learned state: the open bucket and the closed bucket means (bounded by `window`)
        self._bucket: int | None = None
        self._sum = 0.0
        self._count = 0
        self._points: list[tuple[float, float]] = []
        self.prediction: Prediction | None = None

    def score_one(self, value: float, ts_ms: int) -> float | None:
        if len(self._points) < self.min_points or not math.isfinite(value):
            return None
        return 1.0 if self.prediction is not None else 0.0

    def learn_one(self, value: float, ts_ms: int) -> None:
        if not math.isfinite(value):
            return
        bucket = int((ts_ms - self.phase_s * 1000) // (self.bucket_s * 1000))
        if self._bucket is not None and bucket < self._bucket:
            return  # a late reading for a closed bucket: ignore
        if self._bucket is not None and bucket != self._bucket and self._count:
            mid_s = (self._bucket + 0.5) * self.bucket_s + self.phase_s
            self._points.append((mid_s, self._sum / self._count))
            del self._points[: -self.window]
            self._sum, self._count = 0.0, 0
            self.prediction = self._predict(ts_ms)
        self._bucket = bucket
        self._sum += value
        self._count += 1

    def _predict(self, now_ms: int) -> Prediction | None:
        if len(self._points) < self.min_points:
            return None
        pts = np.asarray(self._points)
        t, y = pts[:, 0], pts[:, 1]
        i, j = np.triu_indices(len(t), k=1)
        sign = 1.0 if self.rising else -1.0
        slopes = np.sort((y[j] - y[i]) / (t[j] - t[i]) * sign)
        slope = float(np.median(slopes))
        lower = float(np.quantile(slopes, 0.25))
        if slope <= 0 or lower <= 0:
            return None
        level = float(np.median(y - sign * slope * t)) + sign * slope * (now_ms / 1000)
        remaining = (self.limit - level) * sign
        if remaining <= 0:
            return None  # already over the limit: that is the limit rule's finding, not a prediction
        seconds = remaining / slope
        if seconds > self.horizon_s:
            return None
        flat, steep = slope_bounds(slopes, len(t))
        earliest = remaining / max(steep, slope)
        latest = min(remaining / flat, self.horizon_s) if flat > 0 else self.horizon_s
        curved = accelerating(t, y * sign, self.limit * sign, now_ms / 1000)
        if curved is not None:
            # wear accelerates: the bent line's crossing is the prediction, its steep bound the earliest
            seconds, earliest = min(curved[0], seconds), min(curved[1], earliest)
        return Prediction(
            predicted_at_ms=int(now_ms + seconds * 1000),
            slope_per_day=sign * slope * DAY_S,
            level=level,
            limit=self.limit,
            earliest_ms=int(now_ms + earliest * 1000),
            latest_ms=int(now_ms + max(latest, seconds) * 1000),
            made_at_ms=now_ms,
        )
