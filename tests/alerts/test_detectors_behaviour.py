"""What each detector is for: it catches its kind of trouble and stays quiet on normal operation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alerts.detection import (
    AdaptiveBaseline,
    Cusum,
    PageHinkley,
    PCADetector,
    RateOfChangeDetector,
    RepeatDetector,
    SpectralDetector,
    StuckDetector,
    TrendDetector,
)
from alerts.detection.decide import EwmaHysteresis, calibrate, switch

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def daily(hour: float) -> float:
    """A pump's flow over the day: quiet at night, a morning peak."""
    return 5.0 + 20.0 * math.exp(-((hour - 7.0) ** 2) / 2.0)


def test_baseline_learns_the_daily_pattern() -> None:
    rng = np.random.default_rng(0)
    det = AdaptiveBaseline(buckets=24, min_count=20)
    for minute in range(7 * 24 * 60):  # a week, one reading a minute
        ts = minute * 60_000
        det.learn_one(daily(ts / HOUR_MS % 24) + rng.normal(0, 0.5), ts)
    week = 7 * DAY_MS
    at_7am, at_3am = week + 7 * HOUR_MS, week + 3 * HOUR_MS
    # 25 at 7 a.m. is the usual peak; 25 at 3 a.m. is far out of pattern
    assert (det.score_one(25.0, at_7am) or 0) < 0.9
    assert (det.score_one(25.0, at_3am) or 0) > 0.9999
    # the score is calibrated: about 2 σ scores about 0.95 whatever the units
    median, sigma = det.expected(at_3am) or (0.0, 0.0)
    assert det.score_one(median + 2 * sigma, at_3am) == pytest.approx(0.954, abs=0.01)


def test_baseline_is_robust_to_outliers() -> None:
    det = AdaptiveBaseline(buckets=1, min_count=10)
    rng = np.random.default_rng(1)
    for i in range(2000):
        value = 1000.0 if i % 50 == 0 else 10 + rng.normal(0, 1)  # 2 % wild spikes
        det.learn_one(value, i * 1000)
    median, sigma = det.expected(0) or (0.0, 0.0)
    assert median == pytest.approx(10, abs=0.3)
    assert sigma == pytest.approx(1, rel=0.3)


def test_baseline_says_when_it_cannot_score_yet() -> None:
    det = AdaptiveBaseline(min_count=5)
    for i in range(4):
        det.learn_one(1.0, i)
    assert det.score_one(1.0, 5) is None


@pytest.mark.parametrize(
    "make", [lambda: PageHinkley(delta=0.5, threshold=25, warmup=50), lambda: Cusum(warmup=500, threshold=10)]
)
def test_drift_detectors_catch_a_small_shift_and_stay_quiet_without_one(make: object) -> None:
    rng = np.random.default_rng(2)
    quiet, shifted = make(), make()  # type: ignore[operator]
    alarms_quiet = alarms_shift = 0
    first_alarm = None
    for i in range(3000):
        noise = rng.normal(0, 1)
        for det, value in ((quiet, noise), (shifted, noise + (1.0 if i >= 1000 else 0.0))):
            score = det.score_one(value)
            if score is not None and score >= 1:
                if det is quiet:
                    alarms_quiet += 1
                else:
                    alarms_shift += 1
                    first_alarm = first_alarm if first_alarm is not None else i
            det.learn_one(value)
    assert alarms_quiet == 0
    assert first_alarm is not None and 1000 <= first_alarm < 1100  # a 1 σ shift within 100 points


def test_stuck_sensor_is_flagged_but_a_constant_channel_is_not() -> None:
    rng = np.random.default_rng(3)
    live, constant = StuckDetector(min_duration_s=60, warmup=50), StuckDetector(min_duration_s=60, warmup=50)
    for i in range(300):
        live.learn_one(round(5 + rng.normal(0, 0.1), 2), i * 1000)
        constant.learn_one(0.0, i * 1000)
    for i in range(300, 400):
        live.learn_one(5.05, i * 1000)  # frozen
        constant.learn_one(0.0, i * 1000)
    assert (live.score_one(5.05, 400_000) or 0) >= 1
    assert constant.score_one(0.0, 400_000) is None  # it never saw it move: it cannot call it stuck


def test_a_gap_in_watching_is_not_a_freeze() -> None:
    det = StuckDetector(min_duration_s=60, warmup=20, max_gap_s=10)
    for i in range(100):
        det.learn_one(float(i % 3), i * 1000)
    det.learn_one(7.0, 100_000)
    # the watch was gated off for 10 minutes (the car stood still); the next reading happens to be equal
    assert det.score_one(7.0, 700_000) == 0.0


def test_trend_predicts_when_a_climbing_channel_reaches_its_limit() -> None:
    rng = np.random.default_rng(4)
    det = TrendDetector(limit=7.1, bucket_s=3600, window=48, min_points=12)
    # vibration 2 mm/s with a daily swing, climbing 1 mm/s per day from day 2
    for minute in range(4 * 24 * 60):
        ts = minute * 60_000
        days = ts / DAY_MS
        value = 2 + 0.4 * math.sin(2 * math.pi * days) + max(0.0, days - 2) + rng.normal(0, 0.1)
        det.learn_one(value, ts)
    assert det.prediction is not None
    true_cross_days = 2 + (7.1 - 2) / 1.0
    predicted_days = det.prediction.predicted_at_ms / DAY_MS
    # within a day and a half of the truth (the daily swing biases a two-day window), days ahead of it
    assert predicted_days == pytest.approx(true_cross_days, abs=1.5)
    assert det.prediction.slope_per_day == pytest.approx(1.0, rel=0.3)
    # the interval: the earliest crossing before the point prediction, the latest after it, truth inside
    p = det.prediction
    assert p.earliest_ms <= p.predicted_at_ms <= p.latest_ms
    in_h, low_h, high_h = p.hours()
    assert low_h <= in_h <= high_h and in_h == pytest.approx((p.predicted_at_ms - p.made_at_ms) / 3_600_000)


def test_trend_interval_narrows_as_the_noise_falls() -> None:
    def width(noise: float) -> float:
        rng = np.random.default_rng(7)
        det = TrendDetector(limit=7.1, bucket_s=3600, window=48, min_points=12)
        for minute in range(3 * 24 * 60):
            ts = minute * 60_000
            det.learn_one(2 + 1.0 * ts / DAY_MS + rng.normal(0, noise), ts)
        p = det.prediction
        assert p is not None
        assert p.earliest_ms / DAY_MS <= 5.1 <= p.latest_ms / DAY_MS  # a straight climb: the truth is inside
        return p.latest_ms - p.earliest_ms

    assert width(0.05) < width(2.0)


def test_trend_predicts_nothing_for_a_healthy_daily_cycle() -> None:
    rng = np.random.default_rng(5)
    det = TrendDetector(limit=7.1, bucket_s=3600, window=48, min_points=12)
    for minute in range(10 * 24 * 60):
        ts = minute * 60_000
        det.learn_one(2 + 0.9 * math.sin(2 * math.pi * ts / DAY_MS) + rng.normal(0, 0.1), ts)
        assert det.prediction is None


def test_pca_flags_a_broken_relationship_inside_every_range() -> None:
    rng = np.random.default_rng(6)
    det = PCADetector(warmup=500, variance_kept=0.95)
    for _ in range(500):
        flow = rng.uniform(0, 1)
        det.learn_one([flow, 2 * flow + rng.normal(0, 0.02), 1 - flow + rng.normal(0, 0.02)])
    consistent = det.score_one([0.5, 1.0, 0.5]) or 0
    broken = det.score_one([0.5, 1.0, 0.9]) or 0  # each value inside its range, the relation broken
    assert broken > 20 * max(consistent, 1.0)


def test_pca_block_learning_equals_point_by_point() -> None:
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(1000, 4))
    one, block = PCADetector(warmup=100, refit_every=64), PCADetector(warmup=100, refit_every=64)
    for row in rows:
        one.learn_one(row)
    block.fit_block(rows)
    probe = rng.normal(size=(5, 4))
    assert np.allclose(one.score_many(probe), block.score_many(probe))


def test_rate_of_change_in_units_of_its_limit() -> None:
    det = RateOfChangeDetector(max_per_s=0.5, direction="down")
    det.learn_one(6.0, 0)
    assert det.score_one(4.0, 1000) == pytest.approx(4.0)  # fell 2 bar in 1 s: 4 × the limit
    assert det.score_one(8.0, 1000) == 0.0  # rising is not watched


def test_rate_over_a_span_sees_a_slow_climb_through_the_noise() -> None:
    rng = np.random.default_rng(10)
    det = RateOfChangeDetector(max_per_s=0.015, direction="up", span_s=300)
    scores = []
    for i in range(1800):
        heating = 0.03 * max(0, i - 900)  # from 900 s on: 0.03 °C/s, twice the limit
        value = round(60 + heating + rng.normal(0, 0.1), 1)
        scores.append(det.score_one(value, i * 1000) or 0.0)
        det.learn_one(value, i * 1000)
    assert max(scores[:900]) < 0.3  # noise of 0.1 °C per reading, no alarm
    assert min(scores[1300:]) > 1.5


def test_repeat_counts_reopenings_and_starts_afresh_when_the_car_moves() -> None:
    det = RepeatDetector(window_s=60, edges=3)
    t = 0
    for value in [1, 0, 1, 0, -1, 1, 0, 1, 0]:
        det.learn_one(value, t)
        t += 3000
    assert det.score_one(1.0, t) == pytest.approx(3 / 3)  # two reopenings since it stopped, plus this one


def test_spectral_features_see_impulses_before_the_rms_does() -> None:
    rng = np.random.default_rng(8)
    det = SpectralDetector(fs=2000, bands=((0, 200), (200, 1000)), warmup=20)
    t = np.arange(512) / 2000
    for _ in range(60):
        det.learn_one(np.sin(2 * np.pi * 50 * t) + rng.normal(0, 0.2, 512))
    healthy = np.sin(2 * np.pi * 50 * t) + rng.normal(0, 0.2, 512)
    impacts = healthy.copy()
    impacts[::64] += 4.0  # a bearing defect's impacts: little energy, high kurtosis and crest factor
    assert (det.score_one(healthy) or 0) < 0.999
    assert (det.score_one(impacts) or 0) > 0.99999


def test_decision_has_hysteresis_and_calibration_is_in_the_units_of_normal() -> None:
    decide = EwmaHysteresis(alpha=1.0, on=10.0, off_ratio=0.5)
    assert [decide.update(v)[1] for v in (9, 11, 7, 6, 4)] == [False, True, True, True, False]
    assert decide.update(None) == (4, False)
    rng = np.random.default_rng(9)
    normal = rng.chisquare(3, 5000)
    on = calibrate(normal, alpha=0.1, quantile=0.99, margin=1.0)
    assert 3 < on < 8  # near the top of the smoothed χ²₃ (mean 3), far below a single-point max


@pytest.mark.parametrize(
    ("level", "active", "bar", "rise_bar", "expected"),
    [
        (9.0, False, 10.0, 0.0, (False, 10.0)),  # below on: stays off
        (11.0, False, 10.0, 0.0, (True, 10.0)),  # above on, no background: the bar is on
        (11.0, False, 10.0, 12.0, (False, 10.0)),  # above on but not an onset (under 3 × background)
        (20.0, False, 10.0, 15.0, (True, 15.0)),  # an onset over a raised background: that is the bar
        (11.0, True, 15.0, 15.0, (True, 15.0)),  # still above 0.7 × the bar crossed: on
        (10.0, True, 15.0, 15.0, (False, 15.0)),  # back under 0.7 × the bar crossed: off, though above on
        (7.5, True, 10.0, 0.0, (True, 10.0)),  # a plain alarm keeps its hysteresis around on
        (6.5, True, 10.0, 0.0, (False, 10.0)),  # ...and ends below 0.7 × on
    ],
)
def test_the_hysteresis_is_around_the_bar_the_alarm_crossed(
    level: float, active: bool, bar: float, rise_bar: float, expected: tuple[bool, float]
) -> None:
    assert switch(level, active, bar, 10.0, 0.7, rise_bar) == expected


def test_trend_bends_its_line_for_wear_that_speeds_up() -> None:
    # vibration 2 mm/s climbing with the square of the time since onset: 7.1 mm/s four days after it
    rng = np.random.default_rng(8)
    det = TrendDetector(limit=7.1, bucket_s=3600, window=48, min_points=12)
    truth_days = 4.0
    for minute in range(int(2.5 * 24 * 60)):
        ts = minute * 60_000
        days = ts / DAY_MS
        det.learn_one(2 + 5.1 * (days / truth_days) ** 2 + rng.normal(0, 0.05), ts)
    p = det.prediction
    assert p is not None
    # a straight line over the two days would say about day 5.5; the bent one is within a few hours of day 4
    assert p.predicted_at_ms / DAY_MS == pytest.approx(truth_days, abs=0.25)
    assert p.earliest_ms / DAY_MS <= truth_days <= p.latest_ms / DAY_MS
