"""Line protocol built by our own code: escaping per the spec, one line per (asset, ts), ms timestamps."""

from __future__ import annotations

import pytest

from facwatch.config import load_site
from facwatch.model import Reading
from ingest.lineproto import LineEncoder, LineProtocolError, escape_key, escape_measurement, format_float

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


def test_bodies_are_cut_at_the_line_limit_in_order() -> None:
    encoder = LineEncoder(SITE)
    readings = [Reading(SITE.id, ELEV.id, "floor", ts, float(ts)) for ts in range(1, 8)]
    bodies = [body.decode().splitlines() for body in encoder.bodies(readings, 3)]
    assert [len(b) for b in bodies] == [3, 3, 1]
    assert [int(line.rsplit(" ", 1)[1]) for b in bodies for line in b] == list(range(1, 8))


def test_a_non_finite_value_is_refused_even_in_a_batch_but_an_asset_named_inf_is_fine() -> None:
    encoder = LineEncoder(SITE)
    with pytest.raises(LineProtocolError):
        encoder.lines([Reading(SITE.id, ELEV.id, "floor", 1, float("inf"))])
    assert encoder.lines([Reading(SITE.id, "inf", "floor", 1, 2.0)])[0].endswith("floor=2.0 1")
