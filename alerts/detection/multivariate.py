"""Multivariate consistency: PCA on standardised channels with Hotelling's T² and the residual Q (SPE).

Channels of one machine move together (a pump's pressure, flow and current; a panel's three phases). A
model of normal operation — the mean, the scale of every channel and the principal axes of their
correlation — flags a point whose *relationship* between channels is unusual even when every channel is
inside its own range. T² measures the distance inside the retained principal subspace (each component
scaled by its variance); Q is the squared residual outside it, scaled by the mean residual variance, so
both are in "units of normal variance" and can be added. With ``variance_kept=1.0`` every component is
kept, Q is zero and the score is the Mahalanobis distance on the standardised channels.

State is bounded: the running mean and co-moment matrix (Welford, so learning costs O(p²) per point) and
the fitted model (p² numbers); the eigen-decomposition is redone every ``refit_every`` learned points,
not per point. ``fit_block`` learns a whole block at once with Chan's parallel update and gives exactly
the same state as ``learn_one`` point by point, which is what lets ``facwatch detect`` run vectorised
and still causal (alerts/detection/detect.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float64]


class PCADetector:
    """Score = T² + Q/σ²_res of a point against the model fitted on the points learned so far."""

    def __init__(
        self,
        *,
        variance_kept: float = 1.0,
        warmup: int = 50,
        refit_every: int = 256,
        ridge: float = 1e-3,
        memory: int | None = None,
    ) -> None:
        if not 0 < variance_kept <= 1:
            raise ValueError("variance_kept must be in (0, 1]")
        if warmup < 2 or refit_every < 1:
            raise ValueError("warmup must be at least 2 and refit_every at least 1")
        self.variance_kept = variance_kept
        self.warmup = warmup
        self.refit_every = refit_every
        self.ridge = ridge
        self.memory = memory
        # learned state
        self.n = 0
        self._mean: Vector | None = None
        self._comoment: Vector | None = None
        self._fitted_at = 0
        self._model: tuple[Vector, Vector, Vector, Vector, float] | None = None
        """(mean, scale, components (p×k), eigenvalues (k), residual variance) of the last refit."""

    @property
    def ready(self) -> bool:
        return self._model is not None

    # --- the two verbs ---------------------------------------------------------------------------------

    def score_one(self, x: Sequence[float] | Vector, ts_ms: int = 0) -> float | None:
        """T² + scaled Q of one point; None while warming up or for a non-finite point."""
        row = np.asarray(x, dtype=np.float64)
        if self._model is None or not np.all(np.isfinite(row)):
            return None
        return float(self.score_many(row[None, :])[0])

    def learn_one(self, x: Sequence[float] | Vector, ts_ms: int = 0) -> None:
        row = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(row)):
            return
        self.fit_block(row[None, :])

    # --- blocks (same state as point by point) ---------------------------------------------------------

    def score_many(self, rows: Vector) -> Vector:
        """Scores of many points against the current model (NaN rows give NaN); needs ``ready``."""
        if self._model is None:
            raise ValueError("the model is not fitted yet (see `ready`)")
        mean, scale, components, eigvals, resid_var = self._model
        z = (rows - mean) / scale
        t = z @ components
        t2 = np.sum(t * t / eigvals, axis=1)
        if components.shape[1] == z.shape[1]:
            return np.asarray(t2, dtype=np.float64)
        resid = z - t @ components.T
        q = np.sum(resid * resid, axis=1) / resid_var
        return np.asarray(t2 + q, dtype=np.float64)

    def contributions(self, rows: Vector) -> Vector:
        """Each channel's share of each row's score (rows × channels; a row's shares sum to its score).

        T² = zᵀ S⁻¹ z splits as Σᵢ zᵢ (S⁻¹ z)ᵢ, Q as Σᵢ rᵢ² / σ²_res: which channels made a point unusual.
        """
        if self._model is None:
            raise ValueError("the model is not fitted yet (see `ready`)")
        mean, scale, components, eigvals, resid_var = self._model
        z = (rows - mean) / scale
        t = z @ components
        share = z * ((t / eigvals) @ components.T)
        if components.shape[1] < z.shape[1]:
            resid = z - t @ components.T
            share = share + resid * resid / resid_var
        return np.asarray(share, dtype=np.float64)

    def fit_block(self, rows: Vector) -> None:
        """Learn a block of finite points, refitting at the same counts as ``learn_one`` would."""
        start = 0
        while start < len(rows):
            due = self._next_refit_at() - self.n
            block = rows[start : start + max(1, due)]
            self._merge(block)
            start += len(block)
            if self.n >= self._next_refit_at():
                self._refit()

    def until_refit(self) -> int:
        """Points still to learn before the next refit (a block this long sees one model throughout)."""
        return self._next_refit_at() - self.n

    def _next_refit_at(self) -> int:
        return self.warmup if self._model is None else self._fitted_at + self.refit_every

    def _merge(self, block: Vector) -> None:
        """Chan et al.'s parallel update of the mean and co-moment matrix."""
        m = len(block)
        b_mean = block.mean(axis=0)
        centred = block - b_mean
        b_comoment = centred.T @ centred
        if self._mean is None or self._comoment is None:
            self._mean, self._comoment, self.n = b_mean, b_comoment, m
            return
        if b_mean.shape != self._mean.shape:
            raise ValueError(f"expected {self._mean.shape[0]} channels, got {b_mean.shape[0]}")
        total = self.n + m
        delta = b_mean - self._mean
        self._mean = self._mean + delta * (m / total)
        self._comoment = self._comoment + b_comoment + np.outer(delta, delta) * (self.n * m / total)
        self.n = total

    def _refit(self) -> None:
        assert self._mean is not None and self._comoment is not None
        cov = self._comoment / max(1, self.n - 1)
        scale = np.sqrt(np.maximum(np.diag(cov), 0.0))
        scale = np.where(scale > 1e-12, scale, 1.0)
        corr = cov / np.outer(scale, scale) + self.ridge * np.eye(len(scale))
        eigvals, eigvecs = np.linalg.eigh(corr)
        order = np.argsort(eigvals)[::-1]
        eigvals, eigvecs = eigvals[order], eigvecs[:, order]
        share = np.cumsum(eigvals) / np.sum(eigvals)
        k = int(np.searchsorted(share, self.variance_kept - 1e-12) + 1)
        k = min(k, len(eigvals))
        resid_var = float(np.mean(eigvals[k:])) if k < len(eigvals) else 1.0
        self._model = (self._mean.copy(), scale, eigvecs[:, :k].copy(), eigvals[:k].copy(), resid_var)
        self._fitted_at = self.n
        if self.memory is not None and self.n > self.memory:
            # forget: the past counts as `memory` points from now on, so the model follows slow change
            self._comoment = self._comoment * (self.memory / self.n)
            self.n = self._fitted_at = self.memory
