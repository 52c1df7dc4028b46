"""A threshold with hysteresis and a minimum duration, on event time.

The condition is *breached* when the value is above ``above`` (or below ``below``). Once the detector
is active, it stays active until the value is back inside by more than ``hysteresis`` (so a value that
hovers at the threshold does not flap). A breach counts only once it has lasted ``min_duration_s`` of
event time (the readings' ``ts_ms``), so one noisy sample raises nothing.

Score: how long the breach has lasted, as a fraction of ``min_duration_s`` (0 when inside or just
breached; 1 or more when the breach has lasted long enough; with no minimum duration, 1 or more
whenever breached). ``classify(score)`` is ``score >= 1``. The state is three
numbers, so it is bounded and picklable.
"""

from __future__ import annotations

import math


class ThresholdDetector:
    def __init__(
        self,
        *,
        above: float | None = None,
        below: float | None = None,
        hysteresis: float = 0.0,
        min_duration_s: float = 0.0,
    ) -> None:
        if above is None and below is None:
            raise ValueError("a threshold needs `above`, `below` or both")
        if hysteresis < 0 or min_duration_s < 0:
            raise ValueError("hysteresis and min_duration_s must not be negative")
        self.above = above
        self.below = below
        self.hysteresis = hysteresis
        self.min_duration_s = min_duration_s
        # learned state
        self.active = False
        self._breach_since_ms: int | None = None
        self._last_ts_ms: int | None = None

    # --- the two verbs ---------------------------------------------------------------------------------

    def score_one(self, value: float, ts_ms: int) -> float | None:
        """The score this reading would have, without learning from it; None for a non-finite value."""
        if not math.isfinite(value):
            return None
        if not self._breached(value, self.active):
            return 0.0
        since = self._breach_since_ms if self._breach_since_ms is not None else ts_ms
        held_s = max(0, ts_ms - since) / 1000
        if self.min_duration_s == 0:
            return 1.0 + held_s
        return held_s / self.min_duration_s

    def learn_one(self, value: float, ts_ms: int) -> None:
        if not math.isfinite(value):
            return
        if self._last_ts_ms is not None and ts_ms < self._last_ts_ms:
            return  # late reading: event time only moves forward for this detector
        if self._breached(value, self.active):
            if self._breach_since_ms is None:
                self._breach_since_ms = ts_ms
            self.active = self.classify(self.score_one(value, ts_ms))
        else:
            self._breach_since_ms = None
            self.active = False
        self._last_ts_ms = ts_ms

    @staticmethod
    def classify(score: float | None) -> bool:
        return score is not None and score >= 1.0

    # --- helpers ---------------------------------------------------------------------------------------

    def _breached(self, value: float, active: bool) -> bool:
        margin = self.hysteresis if active else 0.0
        if self.above is not None and value > self.above - margin:
            return True
        return self.below is not None and value < self.below + margin
