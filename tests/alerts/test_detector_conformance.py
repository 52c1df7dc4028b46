"""One conformance test for every detector class (STYLE.md, "Streaming detectors"): it does not mutate its
input, works before the first ``learn_one``, keeps bounded memory over a long stream, survives a pickle
round trip with identical subsequent scores, is deterministic, and ignores non-finite input."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

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
    ThresholdDetector,
    TrendDetector,
)
from alerts.detection.guard import ScalarWatch, VectorWatch
from alerts.detection.profile import DETECTORS, VECTOR_DETECTORS


def scalars(seed: int) -> Iterator[float]:
    """A noisy daily-ish signal with occasional excursions and exact repeats (so every detector acts)."""
    rng = np.random.default_rng(seed)
    i = 0
    while True:
        base = 10 + 3 * math.sin(i / 500) + rng.normal(0, 0.5)
        if i % 997 < 20:
            base += 8  # an excursion
        if i % 1499 < 30:
            base = 7.0  # a frozen stretch
        yield float(round(base, 2))
        i += 1


def flags(seed: int) -> Iterator[float]:
    rng = np.random.default_rng(seed)
    while True:
        yield float(rng.choice([-1.0, 0.0, 1.0], p=[0.1, 0.5, 0.4]))


def vectors(seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    mix = np.array([[1.0, 0.5, 0.2], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    while True:
        yield rng.normal(size=3) @ mix


def blocks(seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(128) / 1000
    while True:
        yield np.sin(2 * np.pi * 50 * t) + rng.normal(0, 0.3, size=128)


@dataclass(frozen=True)
class Case:
    make: Callable[[], Any]
    stream: Callable[[int], Iterator[Any]]
    short: int = 10_000
    long: int = 100_000


CASES = {
    "threshold": Case(lambda: ThresholdDetector(above=15, hysteresis=1, min_duration_s=3), scalars),
    "rate": Case(lambda: RateOfChangeDetector(max_per_s=2.0), scalars),
    "baseline": Case(lambda: AdaptiveBaseline(buckets=24, min_count=5), scalars),
    "page_hinkley": Case(lambda: PageHinkley(threshold=20), scalars),
    "cusum": Case(lambda: Cusum(warmup=30), scalars),
    "stuck": Case(lambda: StuckDetector(min_duration_s=10, warmup=20), scalars),
    "trend": Case(lambda: TrendDetector(limit=30, bucket_s=60, window=24, min_points=6), scalars),
    "repeat": Case(lambda: RepeatDetector(window_s=30, edges=3), flags),
    "pca": Case(
        lambda: PCADetector(warmup=30, refit_every=100, variance_kept=0.8, memory=2000),
        vectors,
        2_000,
        20_000,
    ),
    "spectral": Case(
        lambda: SpectralDetector(fs=1000, bands=((0, 100), (100, 500)), warmup=5), blocks, 100, 1_000
    ),
}


def test_every_registered_detector_has_a_conformance_case() -> None:
    covered = {type(case.make()) for case in CASES.values()}
    assert set(DETECTORS.values()) <= covered


def run(det: Any, stream: Iterator[Any], n: int, start: int = 0) -> list[float | None]:
    """Score then learn each point (the river order), 1 s apart; the scores."""
    out = []
    for i in range(start, start + n):
        x = next(stream)
        out.append(det.score_one(x, 1_700_000_000_000 + i * 1000))
        det.learn_one(x, 1_700_000_000_000 + i * 1000)
    return out


def same(a: list[float | None], b: list[float | None]) -> bool:
    return all(
        (x is None and y is None) or (x is not None and y is not None and x == y)
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("name", list(CASES))
def test_scores_before_the_first_learn_without_failing(name: str) -> None:
    case = CASES[name]
    score = case.make().score_one(next(case.stream(0)), 1_700_000_000_000)
    assert score is None or (isinstance(score, float) and math.isfinite(score))


@pytest.mark.parametrize("name", list(CASES))
def test_does_not_mutate_its_input(name: str) -> None:
    case = CASES[name]
    det, stream = case.make(), case.stream(1)
    for i in range(300):
        x = next(stream)
        before = copy.deepcopy(x)
        det.score_one(x, i * 1000)
        det.learn_one(x, i * 1000)
        assert np.array_equal(np.asarray(x), np.asarray(before))


@pytest.mark.parametrize("name", list(CASES))
def test_memory_stays_bounded_over_a_long_stream(name: str) -> None:
    case = CASES[name]
    det, stream = case.make(), case.stream(2)
    run(det, stream, case.short)
    size_short = len(pickle.dumps(det))
    run(det, stream, case.long - case.short, start=case.short)
    size_long = len(pickle.dumps(det))
    assert size_long <= size_short * 1.1 + 256, (size_short, size_long)


@pytest.mark.parametrize("name", list(CASES))
def test_a_pickled_detector_continues_exactly(name: str) -> None:
    case = CASES[name]
    det, stream = case.make(), case.stream(3)
    run(det, stream, case.short // 10)
    clone = pickle.loads(pickle.dumps(det))
    tail = [next(stream) for _ in range(case.short // 10)]
    a = run(det, iter(tail), len(tail), start=case.short // 10)
    b = run(clone, iter(tail), len(tail), start=case.short // 10)
    assert same(a, b)
    assert any(s is not None for s in a), "the detector never scored: the case does not exercise it"


@pytest.mark.parametrize("name", list(CASES))
def test_is_deterministic(name: str) -> None:
    case = CASES[name]
    n = case.short // 5
    assert same(run(case.make(), case.stream(4), n), run(case.make(), case.stream(4), n))


@pytest.mark.parametrize("name", [n for n in CASES if n not in ("pca", "spectral", "repeat")])
def test_non_finite_input_is_neither_scored_nor_learned(name: str) -> None:
    case = CASES[name]
    det, stream = case.make(), case.stream(5)
    run(det, stream, 500)
    before = pickle.dumps(det)
    for bad in (math.nan, math.inf, -math.inf):
        assert det.score_one(bad, 10**12) is None
        det.learn_one(bad, 10**12)
    assert pickle.dumps(det) == before


def test_multivariate_non_finite_rows_are_ignored() -> None:
    det = PCADetector(warmup=10)
    for x in vectors(6):
        det.learn_one(x)
        if det.ready:
            break
    before = pickle.dumps(det)
    assert det.score_one([1.0, math.nan, 0.0]) is None
    det.learn_one([1.0, math.nan, 0.0])
    assert pickle.dumps(det) == before


def watched(name: str) -> ScalarWatch | VectorWatch:
    """The detector of a case held the way the rules hold it: by the protocol, with its decision."""
    det = CASES[name].make()
    if name in VECTOR_DETECTORS:
        return VectorWatch(det, ThresholdDetector(above=0.99, min_duration_s=2))
    if isinstance(det, ThresholdDetector):
        return ScalarWatch(det, None)
    return ScalarWatch(det, ThresholdDetector(above=0.99, min_duration_s=2))


def steps(watch: ScalarWatch | VectorWatch, stream: Iterator[Any], n: int, start: int = 0) -> list[bool]:
    out = []
    for i in range(start, start + n):
        watch.step(next(stream), 1_700_000_000_000 + i * 1000)
        out.append(watch.active)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_the_watch_wrapper_decides_survives_a_pickle_and_is_deterministic(name: str) -> None:
    case = CASES[name]
    n = case.short // 10
    first, stream = watched(name), case.stream(7)
    a = steps(first, stream, n)
    assert a == steps(watched(name), case.stream(7), n)  # deterministic
    clone = pickle.loads(pickle.dumps(first))
    tail = [next(stream) for _ in range(n)]
    assert steps(first, iter(tail), n, n) == steps(clone, iter(tail), n, n)


def test_a_detector_that_learns_normal_does_not_learn_while_its_decision_is_active() -> None:
    watch = ScalarWatch(AdaptiveBaseline(buckets=1, min_count=5), ThresholdDetector(above=0.99))
    for i in range(50):
        watch.step(10.0 + (i % 3) * 0.1, i * 1000)
    assert not watch.active
    watch.step(50.0, 50_000)
    assert watch.active
    before = pickle.dumps(watch.detector)
    watch.step(50.0, 51_000)  # still abnormal: the fault is not learned as the new normal
    assert watch.active and pickle.dumps(watch.detector) == before


def test_a_scoring_detector_without_a_decision_is_refused() -> None:
    with pytest.raises(TypeError, match="needs a decision"):
        ScalarWatch(AdaptiveBaseline(), None)
