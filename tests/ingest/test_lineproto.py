"""Line protocol built by our own code: escaping per the spec, one line per (asset, ts), ms timestamps."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facwatch.config import load_site
from facwatch.model import Reading
from ingest.lineproto import (
    LineEncoder,
    LineProtocolError,
    escape_key,
    escape_measurement,
    format_float,
    format_values,
)

SITE = load_site("demo", {"data_dir": "unused"})
ELEV = SITE.assets[0]


@pytest.mark.parametrize(
    ("raw", "key", "measurement"),
    [
        ("plain", "plain", "plain"),  # nothing to escape
        ("a b", r"a\ b", r"a\ b"),  # spaces everywhere
        ("a,b", r"a\,b", r"a\,b"),  # commas everywhere
        ("a=b", r"a\=b", "a=b"),  # equals signs only in keys and tag values
        ("a\\b", "a\\\\b", "a\\\\b"),  # backslashes doubled
    ],
)
def test_escaping_follows_the_spec(raw: str, key: str, measurement: str) -> None:
    assert escape_key(raw) == key
    assert escape_measurement(raw) == measurement


def test_newlines_and_non_finite_values_are_refused() -> None:
    with pytest.raises(LineProtocolError):
        escape_key("a\nb")
    with pytest.raises(LineProtocolError):
        format_float(float("nan"))


def test_floats_round_trip_and_keep_their_type() -> None:
    assert format_float(1.0) == "1.0"  # never "1", which InfluxDB would read as a float too, but say so
    assert float(format_float(0.1 + 0.2)) == 0.1 + 0.2


def test_channels_of_one_asset_and_time_share_a_line_with_sorted_tags() -> None:
    encoder = LineEncoder(SITE)
    readings = [
        Reading(SITE.id, ELEV.id, "floor", 1000, 3.0),
        Reading(SITE.id, ELEV.id, "speed_mps", 1000, 1.25),
        Reading(SITE.id, ELEV.id, "floor", 2000, 4.0),
    ]
    lines = encoder.lines(readings)
    prefix = f"elevator,asset={ELEV.id},building={ELEV.building},kind=elevator,site={SITE.id} "
    assert lines == [prefix + "floor=3.0,speed_mps=1.25 1000", prefix + "floor=4.0 2000"]


def test_bodies_are_cut_at_the_line_limit_in_order_and_the_last_one_says_so() -> None:
    encoder = LineEncoder(SITE)
    readings = [Reading(SITE.id, ELEV.id, "floor", ts, float(ts)) for ts in range(1, 8)]
    bodies = [(body.decode().splitlines(), last) for body, last in encoder.bodies(readings, 3)]
    assert [(len(b), last) for b, last in bodies] == [(3, False), (3, False), (1, True)]
    assert [int(line.rsplit(" ", 1)[1]) for b, _ in bodies for line in b] == list(range(1, 8))
    # a batch that fills its last body exactly: that body is still marked last
    assert [last for _, last in encoder.bodies(readings[:6], 3)] == [False, True]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=50))
def test_batch_formatted_values_give_back_the_same_doubles(values: list[float]) -> None:
    texts = format_values(values)
    assert [float(t) for t in texts] == values
    assert [math.copysign(1, float(t)) for t in texts] == [math.copysign(1, v) for v in values]  # -0.0
    assert all("." in t or "e" in t for t in texts)  # a float to InfluxDB, never an integer-looking "3"


@pytest.mark.parametrize(
    ("values", "texts"),
    [
        ([3.0, 0.1, -2.5], ["3.0", "0.1", "-2.5"]),  # the plain fast path
        ([1e-7, 1e20], ["1e-7", "1e+20"]),  # exponents, as Go's ParseFloat and InfluxDB read them
        ([True, 2], ["1.0", "2.0"]),  # a stray bool or int takes the exact path and is coerced
        ([], []),  # an empty batch
    ],
)
def test_batch_formatting(values: list[float], texts: list[str]) -> None:
    assert format_values(values) == texts


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_value_in_a_batch_is_refused(bad: float) -> None:
    with pytest.raises(LineProtocolError):
        format_values([1.0, bad, 2.0])


def test_a_non_finite_value_is_refused_even_in_a_batch_but_an_asset_named_inf_is_fine() -> None:
    encoder = LineEncoder(SITE)
    with pytest.raises(LineProtocolError):
        encoder.lines([Reading(SITE.id, ELEV.id, "floor", 1, float("inf"))])
    assert encoder.lines([Reading(SITE.id, "inf", "floor", 1, 2.0)])[0].endswith("floor=2.0 1")
