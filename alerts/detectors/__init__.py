"""Streaming detectors, river-style: the constructor is the configuration, ``learn_one`` updates the
state, ``score_one`` scores (higher is more anomalous, None while warming up), ``classify`` or a separate
decision (alerts/detectors/decide.py, or a threshold on the score in a profile) decides. Every class here
passes tests/alerts/test_detector_conformance.py; docs/detectors.md explains each one."""

from alerts.detectors.baseline import AdaptiveBaseline
from alerts.detectors.drift import Cusum, PageHinkley
from alerts.detectors.multivariate import PCADetector
from alerts.detectors.rate import RateOfChangeDetector
from alerts.detectors.repeat import RepeatDetector
from alerts.detectors.spectral import SpectralDetector
from alerts.detectors.stuck import StuckDetector
from alerts.detectors.threshold import ThresholdDetector
from alerts.detectors.trend import TrendDetector

__all__ = [
    "AdaptiveBaseline",
    "Cusum",
    "PCADetector",
    "PageHinkley",
    "RateOfChangeDetector",
    "RepeatDetector",
    "SpectralDetector",
    "StuckDetector",
    "ThresholdDetector",
    "TrendDetector",
]
