"""The threshold detector: hysteresis and minimum duration on event time, and the shared conformance
checks every detector must pass (pure, bounded, picklable, deterministic, says when it cannot score)."""

from __future__ import annotations

import math
import pickle
import sys

import pytest

from alerts.detection import ThresholdDetector


def run(det: ThresholdDetector, values: list[float], step_ms: int = 1000) -> list[bool]:
    out = []
    for i, v in enumerate(values):
        det.learn_one(v, i * step_ms)
        out.append(det.active)
    return out


@pytest.mark.parametrize(
    ("config", "values", "expected"),
    [
        # one sample over the line is not enough when a duration is asked for
        ({"above": 10, "min_duration_s": 2}, [5, 11, 5, 5], [False, False, False, False]),
        # held for 2 s (three samples 1 s apart) → active on the third
        ({"above": 10, "min_duration_s": 2}, [11, 11, 11, 11], [False, False, True, True]),
        # no duration: active at once
        ({"above": 10}, [5, 11, 9], [False, True, False]),
        # hysteresis: once active it stays active until 2 below the line
        ({"above": 10, "hysteresis": 2}, [11, 9.5, 8.5, 7.9], [True, True, True, False]),
        # hysteresis does not lower the line for starting
        ({"above": 10, "hysteresis": 2}, [9.5, 9.5], [False, False]),
        # a low threshold with hysteresis
        ({"below": 1, "hysteresis": 0.5}, [2, 0.5, 1.2, 1.6], [False, True, True, False]),
        # both bounds
        ({"above": 10, "below": 1}, [5, 0, 5, 12], [False, True, False, True]),
    ],
)
def test_threshold_decisions(config: dict[str, float], values: list[float], expected: list[bool]) -> None:
    assert run(ThresholdDetector(**config), values) == expected


def test_duration_is_event_time_not_sample_count() -> None:
    det = ThresholdDetector(above=10, min_duration_s=4)
    # Ten samples within 1 s: not 4 s of event time.
    assert not any(run(det, [11] * 10, step_ms=100))
    det.learn_one(11, 4000)
    assert det.active


def test_score_grows_with_the_breach_and_classify_decides() -> None:
    det = ThresholdDetector(above=10, min_duration_s=4)
    assert det.score_one(5, 0) == 0.0
    det.learn_one(11, 0)
    det.learn_one(11, 2000)
    assert det.score_one(11, 2000) == pytest.approx(0.5)
    assert det.score_one(11, 4000) == pytest.approx(1.0)
    assert not det.classify(0.5) and det.classify(1.0) and not det.classify(None)


def test_non_finite_values_are_not_scored_and_not_learned() -> None:
    det = ThresholdDetector(above=10)
    assert det.score_one(math.nan, 0) is None
    det.learn_one(math.inf, 0)
    assert not det.active


def test_late_readings_do_not_move_event_time_back() -> None:
    det = ThresholdDetector(above=10, min_duration_s=2)
    run(det, [11, 11, 11])
    det.learn_one(5, 500)  # late sample: ignored
    assert det.active


@pytest.mark.parametrize("config", [{"above": 1.0}, {"below": 0.2, "hysteresis": 0.1, "min_duration_s": 3}])
def test_conformance(config: dict[str, float]) -> None:
    # works before the first learn_one
    assert ThresholdDetector(**config).score_one(0.5, 0) is not None
    # deterministic, picklable mid-stream, bounded state
    values = [math.sin(i / 7) * 2 for i in range(5000)]
    a, b = ThresholdDetector(**config), ThresholdDetector(**config)
    size_early = 0
    for i, v in enumerate(values):
        a.learn_one(v, i * 1000)
        if i == 100:
            size_early = len(pickle.dumps(a))
            b = pickle.loads(pickle.dumps(a))
        elif i > 100:
            b.learn_one(v, i * 1000)
            assert a.active == b.active
    assert len(pickle.dumps(a)) <= size_early + 16
    assert sys.getsizeof(a.__dict__) < 2000


def test_needs_a_threshold() -> None:
    with pytest.raises(ValueError):
        ThresholdDetector()
