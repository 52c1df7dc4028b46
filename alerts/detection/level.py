"""Per-channel adaptive level: what each channel reads *now* when nothing is wrong, so slow drift is not a fault.

A temperature with a time constant of tens of minutes, a vibration level that settles as a machine warms
up, a daily pattern: each moves a channel's level by many times its short-term noise while the machine is
healthy, so a model of "normal" fitted once reads every drift as an anomaly. ``LevelTracker`` keeps, per
channel, an exponentially weighted level of the rows it learned from, and hands the detector the
*residual* (the reading minus that level): drift becomes a small, slowly varying offset, while a fault
(a valve closing, a bearing starting to knock) is a step the level does not follow, because the caller
does not let it learn from rows under alarm.

The time constant is one figure in rows for every channel (``DetectConfig.level_rows``); nothing is chosen
per channel by hand. The level moves only when ``learn_block`` is called, so a block of rows is judged
against one level (the same rule as the detector's refits: the vectorised run equals the streaming one).

State: one number per channel.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

Vector = NDArray[np.float64]


class LevelTracker:
    def __init__(self, *, rows: float) -> None:
        if rows < 1:
            raise ValueError("the level's time constant must be at least one row")
        self.weight = 1.0 / rows
        """EWMA weight of one learned row (time constant ``rows``)."""
        self.level: Vector | None = None

    def residuals(self, rows: Vector) -> Vector:
        """The rows minus the current level (the level is the rows' first row before anything is learned)."""
        if self.level is None:
            return rows - rows[:1]
        return rows - self.level

    def causal_residuals(self, rows: Vector) -> Vector:
        """Each row minus the level learned from the rows *before* it, learning them all (for fit rows)."""
        if len(rows) == 0:
            return rows.copy()
        if self.level is None:
            self.level = rows[0].copy()
        a = self.weight
        zi = ((1.0 - a) * self.level)[None, :]
        filtered, _ = lfilter([a], [1.0, -(1.0 - a)], rows, axis=0, zi=zi)
        before = np.vstack([self.level[None, :], filtered[:-1]])
        self.level = np.asarray(filtered[-1], dtype=np.float64)
        return np.asarray(rows - before, dtype=np.float64)

    def learn_block(self, rows: Vector) -> None:
        """Learn finite rows in order: the level after them is the EWMA run over them (vectorised)."""
        if len(rows) == 0:
            return
        if self.level is None:
            self.level = rows[0].copy()
            rows = rows[1:]
            if len(rows) == 0:
                return
        a = self.weight
        filtered, _ = lfilter([a], [1.0, -(1.0 - a)], rows, axis=0, zi=((1.0 - a) * self.level)[None, :])
        self.level = np.asarray(filtered[-1], dtype=np.float64)
