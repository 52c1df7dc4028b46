"""Payload codecs: JSON objects and batches, InfluxDB line protocol, per-item errors."""

from __future__ import annotations

import pytest

from gateway import codec
from gateway.codec import DecodeError, Sample

NOW = 1_700_000_000_000


def test_encode_then_decode_round_trips() -> None:
    payload = codec.encode(NOW, {"floor": 3, "door_open": True}, seq=7)
    assert codec.decode_json(payload) == [Sample(NOW, {"floor": 3.0, "door_open": 1.0}, 7)]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # a single JSON object with an epoch-ms timestamp
        (b'{"ts": 1700000000000, "values": {"floor": 2}}', [Sample(NOW, {"floor": 2.0})]),
        # an ISO-8601 timestamp with Z is UTC
        (b'{"ts": "2023-11-14T22:13:20Z", "values": {"floor": 2}}', [Sample(NOW, {"floor": 2.0})]),
        # a batch keeps its order and its sequence numbers
        (
            b'[{"ts": 1700000000000, "seq": 1, "values": {"a": 1}},'
            b' {"ts": 1700000001000, "seq": 2, "values": {"a": 2}}]',
            [Sample(NOW, {"a": 1.0}, 1), Sample(NOW + 1000, {"a": 2.0}, 2)],
        ),
        # line protocol with a nanosecond timestamp, an integer field and a boolean
        (
            b"elevator,asset=e1 floor=3i,door_open=t 1700000000000000000",
            [Sample(NOW, {"floor": 3.0, "door_open": 1.0})],
        ),
        # line protocol with a millisecond timestamp and a seq tag
        (b"m,seq=9 speed_mps=1.5 1700000000000", [Sample(NOW, {"speed_mps": 1.5}, 9)]),
        # line protocol with a timestamp in seconds
        (b"m v=1 1700000000", [Sample(NOW, {"v": 1.0})]),
        # line protocol without a timestamp takes now
        (b"m v=-2.5e1", [Sample(NOW, {"v": -25.0})]),
        # an escaped space in the measurement does not split the line
        (b"my\\ meas v=1 1700000000000", [Sample(NOW, {"v": 1.0})]),
    ],
)
def test_decode_items_accepts(payload: bytes, expected: list[Sample]) -> None:
    assert codec.decode_items(payload, NOW) == expected


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed"),  # broken JSON
        (b"[]", "malformed"),  # an empty batch
        (b'{"values": {"a": 1}}', "malformed"),  # no timestamp
        (b'{"ts": 1, "values": {}}', "malformed"),  # no values
        (b'{"ts": 1, "values": {"a": "high"}}', "wrong_type"),  # a string value
        (b'{"ts": 1, "seq": "x", "values": {"a": 1}}', "wrong_type"),  # a string seq
        (b'{"ts": "yesterday", "values": {"a": 1}}', "malformed"),  # a timestamp that is not ISO-8601
        (b'm v="on" 1700000000000', "wrong_type"),  # a string field in line protocol
        (b"m v=abc", "malformed"),  # a field that is not a number
        (b"m v=1 soon", "malformed"),  # a timestamp that is not an integer
        (b"just-a-word", "malformed"),  # no fields at all
        (b"\xff\xfe", "malformed"),  # not UTF-8
        (b"m v=inf", "not_finite"),  # infinity in line protocol
    ],
)
def test_decode_items_rejects(payload: bytes, reason: str) -> None:
    [item] = codec.decode_items(payload, NOW)
    assert isinstance(item, DecodeError)
    assert item.reason == reason


def test_one_bad_item_of_a_batch_leaves_the_others() -> None:
    payload = (
        b'[{"ts": 1, "values": {"a": 1}}, {"ts": 2, "values": {"a": "x"}}, {"ts": 3, "values": {"a": 3}}]'
    )
    items = codec.decode_items(payload, NOW)
    assert [type(i).__name__ for i in items] == ["Sample", "DecodeError", "Sample"]


def test_decode_line_protocol_raises_on_a_bad_line() -> None:
    assert codec.decode_line_protocol(b"m a=1 1700000000000\nm b=2 1700000000000", NOW) == [
        Sample(NOW, {"a": 1.0}),
        Sample(NOW, {"b": 2.0}),
    ]
    with pytest.raises(DecodeError):
        codec.decode_line_protocol(b"m a=1\nm b=", NOW)
