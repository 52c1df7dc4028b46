"""Streaming detectors, river-style: the constructor is the configuration, ``learn_one`` updates the
state, ``score_one`` scores (higher is more anomalous, None while warming up), ``classify`` decides."""

from alerts.detectors.threshold import ThresholdDetector

__all__ = ["ThresholdDetector"]
