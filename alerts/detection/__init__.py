"""Streaming detectors, river-style: the constructor is the configuration, ``learn_one`` updates the
state, ``score_one`` scores (higher is more anomalous, None while warming up), ``classify`` or a separate
decision (alerts/detection/decide.py, or a threshold on the score in a profile) decides. Every class here
passes tests/alerts/test_detector_conformance.py; docs/detectors.md explains each one."""

from alerts.detection.baseline import AdaptiveBaseline
from alerts.detection.drift import Cusum, PageHinkley
from alerts.detection.multivariate import PCADetector
from alerts.detection.rate import RateOfChangeDetector
from alerts.detection.repeat import RepeatDetector
from alerts.detection.spectral import SpectralDetector
from alerts.detection.stuck import StuckDetector
from alerts.detection.threshold import ThresholdDetector
from alerts.detection.trend import TrendDetector

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
