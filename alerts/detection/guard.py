"""What the rules hold detectors by: the ``Detector`` protocol, and a watch that decides and protects.

Every detector has the two river verbs, ``score_one(x, ts_ms)`` (higher is more anomalous, None while it
warms up) and ``learn_one(x, ts_ms)``; ``x`` is a float for most of them and a sequence of floats for the
multivariate (``pca``) and spectral ones. The rules never hold a bare detector: they hold a ``Watched``,
which puts the decision (a ``ThresholdDetector`` on the score, with hysteresis and a minimum duration) and
the protection ("a detector that learns what normal is does not learn while its own decision is active, so
a fault is not learned as the new normal") in one place, like river's ``ThresholdFilter``. A threshold
detector decides by itself. tests/alerts/test_detector_conformance.py runs every detector and the wrapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from alerts.detection.baseline import AdaptiveBaseline
from alerts.detection.drift import Cusum, PageHinkley
from alerts.detection.multivariate import PCADetector
from alerts.detection.spectral import SpectralDetector
from alerts.detection.threshold import ThresholdDetector
from alerts.detection.trend import Prediction, TrendDetector

X = TypeVar("X", contravariant=True)
Y = TypeVar("Y")

LEARNS_NORMAL = (AdaptiveBaseline, Cusum, PageHinkley, PCADetector, SpectralDetector)
"""Detectors that learn what normal is: they do not learn while their own decision says abnormal."""


class Detector(Protocol[X]):
    """The two verbs every detector has (positional: the first argument's name differs by detector)."""

    def score_one(self, x: X, ts_ms: int, /) -> float | None: ...

    def learn_one(self, x: X, ts_ms: int, /) -> None: ...


ScalarDetector = Detector[float]
VectorDetector = Detector[Sequence[float]]


class Watched(Generic[Y]):
    """One detector with its decision: ``step`` scores, decides, then learns unless protected."""

    __slots__ = ("decision", "detector", "learns_normal")

    def __init__(self, detector: Detector[Y], decision: ThresholdDetector | None) -> None:
        """``decision`` None: the detector decides by itself, so it must be a ``ThresholdDetector``."""
        if decision is None and not isinstance(detector, ThresholdDetector):
            raise TypeError(f"{type(detector).__name__} needs a decision on its score")
        self.detector = detector
        self.decision = decision
        self.learns_normal = isinstance(detector, LEARNS_NORMAL)

    @property
    def active(self) -> bool:
        if self.decision is not None:
            return self.decision.active
        return isinstance(self.detector, ThresholdDetector) and self.detector.active

    @property
    def prediction(self) -> Prediction | None:
        """A trend detector's standing prediction (for the finding's detail); None for every other one."""
        return self.detector.prediction if isinstance(self.detector, TrendDetector) else None

    def step(self, x: Y, ts_ms: int) -> None:
        if self.decision is None:
            self.detector.learn_one(x, ts_ms)
            return
        score = self.detector.score_one(x, ts_ms)
        if score is not None:
            self.decision.learn_one(score, ts_ms)
        if not (self.decision.active and self.learns_normal):
            self.detector.learn_one(x, ts_ms)


class ScalarWatch(Watched[float]):
    """A watch on one value per reading: a channel or a composite signal."""

    __slots__ = ()


class VectorWatch(Watched[Sequence[float]]):
    """A watch on several channels together (multivariate or spectral detectors)."""

    __slots__ = ()
