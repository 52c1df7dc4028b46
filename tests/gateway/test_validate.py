"""Validation: every kind of bad input becomes a dead letter with the right reason; good input becomes readings."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facwatch.config import MqttSettings, load_site
from facwatch.model import DeadLetterReason, Reading
from gateway.validate import PAYLOAD_KEEP_BYTES, Validator

SITE = load_site("demo", {"data_dir": "unused"})
NOW = 1_700_000_000_000
ELEV = "fw/lakeside/elevator/b1-elev-1/telemetry"
PUMP = "fw/lakeside/pump/b1-pump-1/telemetry"
R = DeadLetterReason


def check(topic: str, payload: bytes, **overrides: object) -> tuple[list[Reading], list[R]]:
    validator = Validator(SITE, MqttSettings(**overrides))
    verdict = validator.check(topic, payload, NOW)
    return list(verdict.readings), [letter.reason for letter in verdict.dead_letters]


def body(values: str, ts: int = NOW) -> bytes:
    return f'{{"ts": {ts}, "values": {{{values}}}}}'.encode()


@pytest.mark.parametrize(
    ("topic", "payload", "overrides", "stored", "reasons"),
    [
        # a good elevator reading: every channel lands
        (ELEV, body('"floor": 3, "door_open": false'), {}, 2, []),
        # a topic outside the scheme
        ("fw/lakeside/elevator/telemetry", body('"floor": 3'), {}, 0, [R.BAD_TOPIC]),
        # an unknown stream
        ("fw/lakeside/elevator/b1-elev-1/gossip", body('"floor": 3'), {}, 0, [R.BAD_TOPIC]),
        # another site's message
        ("fw/other/elevator/b1-elev-1/telemetry", body('"floor": 3'), {}, 0, [R.UNKNOWN_SITE]),
        # an asset the site does not have
        ("fw/lakeside/elevator/b9-elev-9/telemetry", body('"floor": 3'), {}, 0, [R.UNKNOWN_ASSET]),
        # a known asset under the wrong kind
        ("fw/lakeside/pump/b1-elev-1/telemetry", body('"floor": 3'), {}, 0, [R.UNKNOWN_ASSET]),
        # a payload over the size limit
        (ELEV, body('"floor": 3') + b" " * 200, {"max_payload_bytes": 64}, 0, [R.TOO_LARGE]),
        # not JSON, not line protocol
        (ELEV, b"\x00\x01garbage", {}, 0, [R.MALFORMED]),
        # a string where a number belongs
        (ELEV, body('"floor": "third"'), {}, 0, [R.WRONG_TYPE]),
        # a boolean channel with a value other than 0/1
        (ELEV, body('"door_open": 7, "floor": 2'), {}, 1, [R.WRONG_TYPE]),
        # a number too large for a double is not finite
        (ELEV, b"m floor=1e999", {}, 0, [R.NOT_FINITE]),
        # a pump bearing at 900 °C is a broken sensor; the good channel still lands
        (PUMP, body('"bearing_temp_c": 900, "flow_m3h": 20'), {}, 1, [R.OUT_OF_RANGE]),
        # a negative voltage far below noise is out of range
        ("fw/lakeside/power/b1-panel/telemetry", body('"voltage_l1_v": -230'), {}, 0, [R.OUT_OF_RANGE]),
        # a timestamp a year ahead
        (ELEV, body('"floor": 3', ts=NOW + 365 * 86_400_000), {}, 0, [R.FUTURE_TIMESTAMP]),
        # six days ahead: it would blind the machine's detectors for six days
        (ELEV, body('"floor": 3', ts=NOW + 6 * 86_400_000), {}, 0, [R.FUTURE_TIMESTAMP]),
        # a device clock 30 s fast is within the default 60 s
        (ELEV, body('"floor": 3', ts=NOW + 30_000), {}, 1, []),
        # two minutes fast is not, unless configured so
        (ELEV, body('"floor": 3', ts=NOW + 120_000), {}, 0, [R.FUTURE_TIMESTAMP]),
        (ELEV, body('"floor": 3', ts=NOW + 120_000), {"max_future_s": 300}, 1, []),
        # one item of a batch ahead of the clock: the other lands
        (
            ELEV,
            f"[{body(chr(34) + 'floor' + chr(34) + ': 1').decode()},"
            f" {body(chr(34) + 'floor' + chr(34) + ': 2', ts=NOW + 3_600_000).decode()}]".encode(),
            {},
            1,
            [R.FUTURE_TIMESTAMP],
        ),
        # an event far ahead of the clock
        (
            "fw/lakeside/elevator/b1-elev-1/event",
            f'{{"ts": {NOW + 86_400_000}, "type": "fault"}}'.encode(),
            {},
            0,
            [R.FUTURE_TIMESTAMP],
        ),
        # a timestamp an hour back is within a one-day skew
        (ELEV, body('"floor": 3', ts=NOW - 3_600_000), {"max_skew_s": 86_400}, 1, []),
        # a timestamp two days back is not
        (ELEV, body('"floor": 3', ts=NOW - 2 * 86_400_000), {"max_skew_s": 86_400}, 0, [R.TIMESTAMP_SKEW]),
        # an unknown channel is a dead letter by default (the rest of the item lands)...
        (ELEV, body('"cabin_temp_c": 24, "floor": 1'), {}, 1, [R.UNKNOWN_CHANNEL]),
        # ...and stored when configured so
        (ELEV, body('"cabin_temp_c": 24'), {"unknown_channels": "accept"}, 1, []),
        # an accepted unknown channel must still have a sane name
        (ELEV, body('"a b/c": 1'), {"unknown_channels": "accept"}, 0, [R.UNKNOWN_CHANNEL]),
        # a batch with one bad item: the two good items land, the bad one is a dead letter
        (
            ELEV,
            f'[{body(chr(34) + "floor" + chr(34) + ": 1").decode()}, {{"ts": {NOW}, "values": {{"floor": "x"}}}},'
            f" {body(chr(34) + 'floor' + chr(34) + ': 2', ts=NOW + 1).decode()}]".encode(),
            {},
            2,
            [R.WRONG_TYPE],
        ),
        # line protocol is accepted on the telemetry topic
        (ELEV, f"elevator floor=4i,running=t {NOW}".encode(), {}, 2, []),
        # an event becomes a reading on event.{type}
        (
            "fw/lakeside/elevator/b1-elev-1/event",
            f'{{"ts": {NOW}, "type": "fault", "code": 42}}'.encode(),
            {},
            1,
            [],
        ),
        # an event without a type
        ("fw/lakeside/elevator/b1-elev-1/event", f'{{"ts": {NOW}}}'.encode(), {}, 0, [R.MALFORMED]),
        # a status that is neither online nor offline
        ("fw/lakeside/elevator/b1-elev-1/status", b"sleepy", {}, 0, [R.MALFORMED]),
    ],
)
def test_validation_table(
    topic: str, payload: bytes, overrides: dict[str, object], stored: int, reasons: list[R]
) -> None:
    readings, letters = check(topic, payload, **overrides)
    assert (len(readings), letters) == (stored, reasons)


@pytest.mark.parametrize(
    ("topic", "payload", "stored", "reasons", "online"),
    [
        # retained telemetry: an old value the broker replays, never a measurement
        (ELEV, body('"floor": 3'), 0, [R.RETAINED], None),
        # a retained event would replay an alarm at every restart
        (
            "fw/lakeside/elevator/b1-elev-1/event",
            f'{{"ts": {NOW}, "type": "fault"}}'.encode(),
            0,
            [R.RETAINED],
            None,
        ),
        # a retained status is the device's presence: valid
        ("fw/lakeside/elevator/b1-elev-1/status", b"offline", 0, [], False),
    ],
)
def test_retained_messages(
    topic: str, payload: bytes, stored: int, reasons: list[R], online: bool | None
) -> None:
    verdict = Validator(SITE, MqttSettings()).check(topic, payload, NOW, retained=True)
    assert len(verdict.readings) == stored
    assert [letter.reason for letter in verdict.dead_letters] == reasons
    # only a status is presence: a replayed reading says nothing about whether the device is there now
    assert (verdict.asset, verdict.online) == (("b1-elev-1", online) if online is not None else (None, None))


def test_readings_carry_site_asset_time_and_seq() -> None:
    validator = Validator(SITE, MqttSettings())
    payload = f'{{"ts": {NOW}, "seq": 12, "values": {{"door_open": true}}}}'.encode()
    verdict = validator.check(ELEV, payload, NOW + 5)
    assert verdict.readings == (Reading("lakeside", "b1-elev-1", "door_open", NOW, 1.0, 12),)
    assert verdict.asset == "b1-elev-1"


def test_event_code_becomes_the_value() -> None:
    verdict = Validator(SITE, MqttSettings()).check(
        "fw/lakeside/elevator/b1-elev-1/event", f'{{"ts": {NOW}, "type": "fault", "code": 42}}'.encode(), NOW
    )
    assert [(r.channel, r.value) for r in verdict.readings] == [("event.fault", 42.0)]


@pytest.mark.parametrize(
    ("payload", "online"), [(b"online", True), (b"offline", False), (b" OFFLINE\n", False)]
)
def test_status_messages_report_presence(payload: bytes, online: bool) -> None:
    verdict = Validator(SITE, MqttSettings()).check("fw/lakeside/pump/b1-pump-1/status", payload, NOW)
    assert (verdict.online, verdict.asset, verdict.dead_letters) == (online, "b1-pump-1", ())


def test_dead_letters_keep_a_truncated_payload_and_the_receive_time() -> None:
    payload = b"x" * 10_000
    [letter] = Validator(SITE, MqttSettings()).check(ELEV, payload, NOW).dead_letters
    assert len(letter.payload) == PAYLOAD_KEEP_BYTES
    assert letter.received_ms == NOW
    assert letter.topic == ELEV


@settings(max_examples=300, deadline=None)
@given(
    topic=st.sampled_from([ELEV, PUMP, "fw/lakeside/elevator/b1-elev-1/event", "x/y"]), payload=st.binary()
)
def test_arbitrary_bytes_never_crash_and_always_yield_an_outcome(topic: str, payload: bytes) -> None:
    verdict = Validator(SITE, MqttSettings()).check(topic, payload, NOW)
    assert verdict.readings or verdict.dead_letters


json_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.dictionaries(
        st.sampled_from(["floor", "door_open", "speed_mps", "zz"]), json_value, max_size=4
    ),
    ts=st.one_of(st.integers(), st.text(max_size=8), st.none()),
)
def test_arbitrary_json_shapes_never_crash(values: dict[str, object], ts: object) -> None:
    payload = json.dumps({"ts": ts, "values": values}).encode()
    verdict = Validator(SITE, MqttSettings()).check(ELEV, payload, NOW)
    assert verdict.readings or verdict.dead_letters


# --- the fast path for clean JSON agrees with the general path on every input ----------------------------

_ELEVATOR_CHANNELS = ["floor", "door_open", "speed_mps", "load_kg", "running", "vibration_rms_g", "made_up"]
_values = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 0.0, 1.0, 0.5, -11, 301, 20_001]),
    st.text(max_size=3),
    st.none(),
)
_items = st.fixed_dictionaries(
    {
        "ts": st.one_of(
            st.integers(NOW - 10 * 24 * 3600 * 1000, NOW + 10 * 24 * 3600 * 1000),
            st.just("2023-11-14T22:13:20Z"),
            st.booleans(),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        "values": st.dictionaries(st.sampled_from(_ELEVATOR_CHANNELS), _values, max_size=4),
    },
    optional={"seq": st.one_of(st.integers(0, 10**6), st.booleans(), st.text(max_size=2))},
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_items, st.lists(_items, max_size=4)), st.sampled_from(["reject", "accept"]))
def test_the_fast_path_gives_the_same_verdict_as_the_general_path(doc: object, unknown: str) -> None:
    payload = json.dumps(doc).encode()
    settings_ = MqttSettings(unknown_channels=unknown)  # type: ignore[arg-type]
    fast = Validator(SITE, settings_, fast=True).check(ELEV, payload, NOW)
    slow = Validator(SITE, settings_, fast=False).check(ELEV, payload, NOW)
    assert fast == slow


@pytest.mark.parametrize("fast", [True, False])
def test_both_paths_store_a_clean_batch(fast: bool) -> None:
    payload = json.dumps(
        [{"ts": NOW + i, "seq": i, "values": {"floor": i, "door_open": True}} for i in range(3)]
    )
    verdict = Validator(SITE, MqttSettings(), fast=fast).check(ELEV, payload.encode(), NOW)
    assert [(r.channel, r.ts_ms, r.value, r.seq) for r in verdict.readings] == [
        (ch, NOW + i, v, i) for i in range(3) for ch, v in (("floor", float(i)), ("door_open", 1.0))
    ]
    assert verdict.dead_letters == ()


def test_accepted_unknown_channels_are_capped_per_asset() -> None:
    """20 messages with 5,000 new names each must not become 100,000 series: past the cap, dead letters."""
    validator = Validator(SITE, MqttSettings(unknown_channels="accept", max_unknown_channels=3))
    names = ", ".join(f'"extra_{i}": {i}' for i in range(5))
    verdict = validator.check(ELEV, body(names), NOW)
    assert sorted(r.channel for r in verdict.readings) == ["extra_0", "extra_1", "extra_2"]
    assert [letter.reason for letter in verdict.dead_letters] == [R.UNKNOWN_CHANNEL]
    assert "3 already kept" in verdict.dead_letters[0].detail
    again = validator.check(ELEV, body('"extra_1": 7, "floor": 2'), NOW)  # a kept name stays welcome
    assert len(again.readings) == 2 and again.dead_letters == ()
    other = validator.check(PUMP, body('"extra_9": 1'), NOW)  # another asset has its own allowance
    assert len(other.readings) == 1


def test_one_message_yields_a_bounded_number_of_dead_letters() -> None:
    """A 100,000-item batch of bad items is 20 dead letters, the last one counting the rest by reason."""
    items = [{"ts": NOW, "values": {"door_open": 5} if i % 2 else {"floor": 1e9}} for i in range(100_000)]
    payload = json.dumps(items).encode()
    verdict = Validator(SITE, MqttSettings(max_payload_bytes=10_000_000)).check(ELEV, payload, NOW)
    assert len(verdict.dead_letters) == 20
    summary = verdict.dead_letters[-1].detail
    assert summary.startswith("and 99981 more refused items (")
    assert "out_of_range" in summary and "wrong_type" in summary
