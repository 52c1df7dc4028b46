"""Deciding, separately from scoring: smooth a raw score over the past and switch with hysteresis.

A single point far from normal is usually noise; a fault is a condition that persists. An exponentially
weighted moving average over the past only (causal) turns the raw score into evidence that accumulates,
and a decision that switches on above ``on`` and off only below ``on × off_ratio`` does not flap around
the threshold. ``calibrate`` sets ``on`` from scores of normal operation: a margin above a high quantile,
so the threshold is in the units of the machine's own normal variability, not a magic number. With
``rise_rows`` the switch also needs an onset: the smoothed score ``rise_ratio`` times its own slow
background, so evidence that creeps up (drift) does not open an alarm and is learned as normal. The
hysteresis is then around the bar that was actually crossed, max(``on``, ``rise_ratio`` × background) as
of the onset: an alarm opened well above a raised background ends when the evidence falls back to
``off_ratio`` of that bar, not only when it falls far below the background itself (see ``switch``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


class EwmaHysteresis:
    """Smoothed score and an on/off decision; the state is two numbers and a flag."""

    def __init__(
        self,
        *,
        alpha: float = 0.1,
        on: float = 1.0,
        off_ratio: float = 0.7,
        rise_rows: int | None = None,
        rise_ratio: float = 3.0,
    ) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        if on <= 0 or not 0 < off_ratio <= 1:
            raise ValueError("on must be positive and off_ratio in (0, 1]")
        if rise_rows is not None and rise_rows < 1:
            raise ValueError("rise_rows must be at least 1")
        self.alpha = alpha
        self.on = on
        self.off_ratio = off_ratio
        self.background_weight = 0.0 if rise_rows is None else 1.0 / rise_rows
        """With ``rise_rows``: the decision switches on only when the smoothed score is also ``rise_ratio``
        times its slow background (an EWMA over about ``rise_rows`` points): an onset, not a creep."""
        self.rise_ratio = rise_ratio
        # learned state
        self.level: float | None = None
        self.active = False
        self.background = 0.0
        self.bar = on
        """The bar the current (or last) alarm crossed when it opened; its hysteresis is ``off_ratio`` × it."""

    def update(self, raw: float | None) -> tuple[float | None, bool]:
        """Take one raw score (None or NaN: no evidence, state unchanged); the smoothed score and decision."""
        if raw is None or not math.isfinite(raw):
            return self.level, self.active
        level = raw if self.level is None else self.level + self.alpha * (raw - self.level)
        self.active, self.bar = switch(
            level, self.active, self.bar, self.on, self.off_ratio, self.rise_ratio * self.background
        )
        self.level = level
        self.background += self.background_weight * (raw - self.background)
        return self.level, self.active

    def unit_score(self) -> float:
        """The smoothed score mapped to [0, 1): 0.5 exactly at the ``on`` threshold."""
        if self.level is None or self.level <= 0:
            return 0.0
        return self.level / (self.level + self.on)


def switch(
    level: float, active: bool, bar: float, on: float, off_ratio: float, rise_bar: float
) -> tuple[bool, float]:
    """The decision on one smoothed score: (active, the bar of the alarm).

    Off → on when ``level`` is above both ``on`` and ``rise_bar`` (the onset test; 0 without it); the bar
    is the higher of the two at that moment. On → off when ``level`` falls to ``off_ratio`` × that bar.
    Hysteresis around the static ``on`` alone kept an alarm opened over a raised background on for as
    long as the background stayed raised (a channel lagging the model by a σ or two keeps the evidence
    near ``on`` on normal rows): on SKAB's anomaly-free file, two minutes of a healthy pump per alarm.
    """
    if active:
        return level > off_ratio * bar, bar
    if level > on and level > rise_bar:
        return True, max(on, rise_bar)
    return False, bar


def smooth(raw: Iterable[float], alpha: float) -> list[float]:
    """The causal EWMA of a finite series, starting at its first value (as ``EwmaHysteresis`` does)."""
    out: list[float] = []
    level: float | None = None
    for value in raw:
        level = value if level is None else level + alpha * (value - level)
        out.append(level)
    return out


def calibrate(normal_raw: Iterable[float], *, alpha: float, quantile: float, margin: float) -> float:
    """The ``on`` threshold: ``margin`` × the ``quantile`` of the smoothed scores of normal operation."""
    finite = [v for v in normal_raw if math.isfinite(v)]
    if not finite:
        raise ValueError("no finite scores of normal operation to calibrate on")
    level = float(np.quantile(np.asarray(smooth(finite, alpha)), quantile)) * margin
    return max(level, 1e-9)
