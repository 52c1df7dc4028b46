"""Spectral features of a vibration waveform, and kurtosis and crest factor, against their learned normal.

Where a device publishes a waveform block (or a fast series of band values), the shape of the signal says
more than its RMS: bearing defects add impulsive energy (kurtosis and crest factor rise before the RMS
does), looseness and cavitation add broadband energy in the upper bands. ``features`` computes the
relative energy in ``bands`` (Welch's method, scipy.signal.welch), the kurtosis and the crest factor of
one block; the detector keeps an exponentially weighted mean and variance of each feature (bounded: two
numbers per feature) and scores a block by its largest z, mapped to [0, 1] like the baseline's score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import signal, stats


def features(
    block: Sequence[float] | NDArray[np.float64], fs: float, bands: Sequence[tuple[float, float]]
) -> NDArray[np.float64]:
    """Relative band energies, then kurtosis (Pearson, 3 for Gaussian noise) and crest factor."""
    x = np.asarray(block, dtype=np.float64)
    x = x - x.mean()
    freqs, power = signal.welch(x, fs=fs, nperseg=min(len(x), 256))
    total = float(np.sum(power)) or 1.0
    energies = [float(np.sum(power[(freqs >= lo) & (freqs < hi)])) / total for lo, hi in bands]
    rms = float(np.sqrt(np.mean(x * x))) or 1e-12
    kurt = float(stats.kurtosis(x, fisher=False)) if np.ptp(x) > 0 else 3.0
    crest = float(np.max(np.abs(x))) / rms
    return np.asarray([*energies, kurt, crest])


class SpectralDetector:
    def __init__(
        self,
        *,
        fs: float,
        bands: Sequence[tuple[float, float]] = ((0.0, 100.0), (100.0, 1000.0), (1000.0, 5000.0)),
        alpha: float = 0.05,
        warmup: int = 20,
        min_block: int = 64,
    ) -> None:
        if fs <= 0 or not 0 < alpha <= 1 or warmup < 2 or min_block < 8:
            raise ValueError("fs > 0, 0 < alpha ≤ 1, warmup ≥ 2, min_block ≥ 8")
        self.fs = fs
        self.bands = tuple((float(lo), float(hi)) for lo, hi in bands)
        self.alpha = alpha
        self.warmup = warmup
        self.min_block = min_block
        # learned state
        self.n = 0
        self._mean: NDArray[np.float64] | None = None
        self._var: NDArray[np.float64] | None = None

    def _features(self, block: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64] | None:
        x = np.asarray(block, dtype=np.float64)
        if x.ndim != 1 or len(x) < self.min_block or not np.all(np.isfinite(x)):
            return None
        return features(x, self.fs, self.bands)

    def score_one(self, block: Sequence[float] | NDArray[np.float64], ts_ms: int = 0) -> float | None:
        f = self._features(block)
        if f is None or self.n < self.warmup or self._mean is None or self._var is None:
            return None
        z = np.abs(f - self._mean) / np.sqrt(np.maximum(self._var, 1e-12))
        return math.erf(float(np.max(z)) / math.sqrt(2.0))

    def learn_one(self, block: Sequence[float] | NDArray[np.float64], ts_ms: int = 0) -> None:
        f = self._features(block)
        if f is None:
            return
        self.n += 1
        if self._mean is None or self._var is None:
            self._mean, self._var = f, np.zeros_like(f)
            return
        rate = max(self.alpha, 1.0 / self.n)
        delta = f - self._mean
        self._mean = self._mean + rate * delta
        self._var = (1 - rate) * (self._var + rate * delta * delta)
