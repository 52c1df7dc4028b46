"""Validation: (topic, payload, now) in, readings and dead letters out. Pure: no I/O, no clock.

What a bad message costs (the granularity of a dead letter):

- the whole message: a topic outside the scheme, a payload over the size limit, another site, an unknown
  asset or one whose kind differs from the topic's, a payload that is not JSON or line protocol at all;
- a retained telemetry or event message (``retained``): the broker replays an old value to every new
  subscription, so it is no measurement of now (a retained ``status`` is the device's presence and stays valid);
- one item of a batch: an item that is malformed, has a wrong type or a non-finite number, a timestamp older
  than ``max_skew_s`` (``timestamp_skew``) or more than ``max_future_s`` ahead of the gateway's clock
  (``future_timestamp``). The other items of the batch still land;
- one value of an item: an unknown channel (when ``unknown_channels = "reject"``), a boolean channel whose
  value is not 0/1, a value outside the channel's physical range. The item's other channels still land,
  and one dead letter per item names every rejected channel.

Status messages (``online``/``offline``) become presence; events become readings on the channel
``event.{type}`` with the event's numeric ``code`` as value (1.0 without one).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from facwatch.config import MqttSettings
from facwatch.model import STANDARD_CHANNELS, AssetKind, DeadLetter, DeadLetterReason, Reading, Site
from gateway import codec, topics
from gateway.topics import Stream

PAYLOAD_KEEP_BYTES = 1024
"""A dead letter keeps at most this much of its payload."""

# Plausible physical ranges of the standard channels (inclusive). Small negative margins leave room for
# sensor noise around zero; anything outside is a broken sensor or a unit error, never a reading.
PHYSICAL_RANGES: Mapping[str, tuple[float, float]] = {
    "floor": (-10, 300),
    "speed_mps": (-20, 20),
    "motor_current_a": (-5, 5_000),
    "vibration_rms_g": (-0.5, 50),
    "load_kg": (-200, 20_000),
    "discharge_pressure_bar": (-1.5, 100),
    "suction_pressure_bar": (-1.5, 100),
    "flow_m3h": (-5, 10_000),
    "vibration_rms_mms": (-1, 200),
    "bearing_temp_c": (-40, 200),
    "voltage_l1_v": (-5, 500),
    "voltage_l2_v": (-5, 500),
    "voltage_l3_v": (-5, 500),
    "current_l1_a": (-5, 10_000),
    "current_l2_a": (-5, 10_000),
    "current_l3_a": (-5, 10_000),
    "frequency_hz": (0, 100),
    "power_factor": (-1.01, 1.01),
    "transformer_temp_c": (-40, 250),
}

_Dead = Callable[[DeadLetterReason, str], DeadLetter]
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one message amounts to."""

    readings: tuple[Reading, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = ()
    asset: str | None = None
    """The known asset this message came from, whatever else was wrong (presence counts it as heard from
    only when it brought a reading or had nothing refused: gateway/presence.py ``refused``)."""
    online: bool | None = None
    """From a status message: True for ``online``, False for ``offline``; None otherwise."""


class Validator:
    """Checks messages against one site and the MQTT settings. ``check`` never raises on any input."""

    def __init__(self, site: Site, settings: MqttSettings, *, fast: bool = True) -> None:
        self._site = site
        self._settings = settings
        self._skew_ms = int(settings.max_skew_s * 1000)
        self._future_ms = int(settings.max_future_s * 1000)
        self._fast = fast
        self._accepted: dict[str, set[str]] = {}
        """Unknown channels accepted per asset (``unknown_channels = "accept"``), bounded per asset."""
        # Per kind: numeric standard channels with their range, and the boolean ones (the fast path's tables).
        self._ranges = {
            kind: {
                ch: PHYSICAL_RANGES[ch]
                for ch, is_bool in chans.items()
                if not is_bool and ch in PHYSICAL_RANGES
            }
            for kind, chans in STANDARD_CHANNELS.items()
        }
        self._bools = {
            kind: {ch for ch, is_bool in chans.items() if is_bool}
            for kind, chans in STANDARD_CHANNELS.items()
        }

    def check(self, topic: str, payload: bytes, now_ms: int, retained: bool = False) -> Verdict:
        """``retained``: the broker's retain flag (set when it replays a stored message to a subscription)."""

        def dead(reason: DeadLetterReason, detail: str) -> DeadLetter:
            return dead_letter(topic, reason, detail, payload, now_ms)

        try:
            where = topics.parse(topic)
        except topics.TopicError as exc:
            return Verdict(dead_letters=(dead(DeadLetterReason.BAD_TOPIC, str(exc)),))
        if len(payload) > self._settings.max_payload_bytes:
            detail = f"{len(payload)} bytes over the limit of {self._settings.max_payload_bytes}"
            return Verdict(dead_letters=(dead(DeadLetterReason.TOO_LARGE, detail),))
        if where.site != self._site.id:
            detail = f"site {where.site!r} is not {self._site.id!r}"
            return Verdict(dead_letters=(dead(DeadLetterReason.UNKNOWN_SITE, detail),))
        asset = self._site.asset(where.asset)
        if asset is None:
            detail = f"no asset {where.asset!r} at site {self._site.id!r}"
            return Verdict(dead_letters=(dead(DeadLetterReason.UNKNOWN_ASSET, detail),))
        if where.kind != asset.kind:
            detail = f"asset {asset.id!r} is a {asset.kind}, the topic says {where.kind!r}"
            return Verdict(dead_letters=(dead(DeadLetterReason.UNKNOWN_ASSET, detail),))
        if where.stream is Stream.STATUS:
            return self._status(payload, asset.id, dead)
        if retained:
            # Not presence either: the broker replays it, the device may be long gone.
            detail = f"a retained {where.stream} message is an old value, not a measurement"
            return Verdict(dead_letters=(dead(DeadLetterReason.RETAINED, detail),))
        if where.stream is Stream.EVENT:
            return self._event(payload, asset.id, now_ms, dead)
        return self._telemetry(payload, asset.id, asset.kind, now_ms, dead)

    def _status(self, payload: bytes, asset: str, dead: _Dead) -> Verdict:
        text = payload.decode("utf-8", errors="replace").strip().strip('"').lower()
        if text in ("online", "offline"):
            return Verdict(asset=asset, online=text == "online")
        letter = dead(DeadLetterReason.MALFORMED, f"status must be online or offline, got {text[:40]!r}")
        return Verdict(dead_letters=(letter,), asset=asset)

    def _event(self, payload: bytes, asset: str, now_ms: int, dead: _Dead) -> Verdict:
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return Verdict(dead_letters=(dead(DeadLetterReason.MALFORMED, f"not JSON: {exc}"),), asset=asset)
        try:
            if not isinstance(doc, dict):
                raise codec.DecodeError("malformed", "an event must be a JSON object")
            ts_ms = codec.parse_ts(doc.get("ts"))
            kind, code = doc.get("type"), doc.get("code", 1.0)
            if not isinstance(kind, str) or not _EVENT_TYPE.match(kind):
                raise codec.DecodeError("malformed", "event type must match [A-Za-z0-9_-]{1,64}")
            if isinstance(code, bool) or not isinstance(code, int | float):
                raise codec.DecodeError("wrong_type", "event code must be a number")
        except codec.DecodeError as exc:
            return Verdict(dead_letters=(dead(DeadLetterReason(exc.reason), exc.detail),), asset=asset)
        skew = self._time_problem(ts_ms, now_ms)
        if skew is not None:
            return Verdict(dead_letters=(dead(*skew),), asset=asset)
        reading = Reading(self._site.id, asset, f"event.{kind}", ts_ms, float(code))
        return Verdict(readings=(reading,), asset=asset)

    def _clean_json(self, payload: bytes, asset: str, kind: AssetKind, now_ms: int) -> Verdict | None:
        """The fast path: a JSON payload in which every item and value is fine, else None.

        Most traffic is clean, so this checks it in one tight loop with the kind's tables and gives up at
        the first doubt (an ISO timestamp, an unknown channel, anything out of range); the general path
        then decides, with the exact reason. Both paths agree on every input (tests/gateway/test_validate.py).
        """
        if payload[:1] not in (b"{", b"["):
            return None
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        items = doc if type(doc) is list else [doc]
        if not items:
            return None
        ranges, bools = self._ranges.get(kind, {}), self._bools.get(kind, set())
        earliest, latest = now_ms - self._skew_ms, now_ms + self._future_ms
        site = self._site.id
        out: list[Reading] = []
        append = out.append
        for item in items:
            if type(item) is not dict:
                return None
            ts, seq, values = item.get("ts"), item.get("seq"), item.get("values")
            if type(ts) is not int or not earliest <= ts <= latest or type(values) is not dict or not values:
                return None
            if seq is not None and type(seq) is not int:
                return None
            for channel, value in values.items():
                kind_of = type(value)
                if kind_of is float or kind_of is int:
                    bounds = ranges.get(channel)
                    if bounds is None:
                        if channel not in bools:
                            return None
                        if value != 0 and value != 1:
                            return None
                    elif not bounds[0] <= value <= bounds[1]:
                        return None
                    append(Reading(site, asset, channel, ts, float(value), seq))
                elif kind_of is bool:
                    if channel not in bools and channel not in ranges:
                        return None
                    number = 1.0 if value else 0.0
                    bounds = ranges.get(channel)
                    if bounds is not None and not bounds[0] <= number <= bounds[1]:
                        return None
                    append(Reading(site, asset, channel, ts, number, seq))
                else:
                    return None
        return Verdict(readings=tuple(out), asset=asset)

    def _telemetry(self, payload: bytes, asset: str, kind: AssetKind, now_ms: int, dead: _Dead) -> Verdict:
        if self._fast:
            clean = self._clean_json(payload, asset, kind, now_ms)
            if clean is not None:
                return clean
        readings: list[Reading] = []
        letters: list[DeadLetter] = []
        standard = STANDARD_CHANNELS.get(kind, {})
        for index, item in enumerate(codec.decode_items(payload, now_ms)):
            if isinstance(item, codec.DecodeError):
                letters.append(dead(DeadLetterReason(item.reason), item.detail))
                continue
            skew = self._time_problem(item.ts_ms, now_ms)
            if skew is not None:
                where = f"item {index}: " if index else ""
                letters.append(dead(skew[0], where + skew[1]))
                continue
            problems: list[tuple[DeadLetterReason, str]] = []
            for channel, value in item.values.items():
                problem = self._value_problem(asset, channel, value, standard)
                if problem is None:
                    readings.append(Reading(self._site.id, asset, channel, item.ts_ms, value, item.seq))
                else:
                    problems.append(problem)
            if problems:
                where = f"item {index}: " if index else ""
                letters.append(dead(problems[0][0], where + "; ".join(detail for _, detail in problems)))
        return Verdict(readings=tuple(readings), dead_letters=self._bounded(letters, dead), asset=asset)

    def _bounded(self, letters: list[DeadLetter], dead: _Dead) -> tuple[DeadLetter, ...]:
        """At most ``max_dead_letters_per_message``: one huge bad message cannot evict everyone's history."""
        cap = self._settings.max_dead_letters_per_message
        if len(letters) <= cap:
            return tuple(letters)
        rest = letters[cap - 1 :]
        reasons = Counter(letter.reason for letter in rest)
        counted = ", ".join(f"{reason.value} {n}" for reason, n in reasons.most_common())
        summary = dead(reasons.most_common(1)[0][0], f"and {len(rest)} more refused items ({counted})")
        return (*letters[: cap - 1], summary)

    def _time_problem(self, ts_ms: int, now_ms: int) -> tuple[DeadLetterReason, str] | None:
        """Too far ahead of the gateway's clock, or too old; None when the time is fine."""
        if ts_ms - now_ms > self._future_ms:
            return DeadLetterReason.FUTURE_TIMESTAMP, _skew_detail(ts_ms, now_ms)
        if now_ms - ts_ms > self._skew_ms:
            return DeadLetterReason.TIMESTAMP_SKEW, _skew_detail(ts_ms, now_ms)
        return None

    def _value_problem(
        self, asset: str, channel: str, value: float, standard: Mapping[str, bool]
    ) -> tuple[DeadLetterReason, str] | None:
        name = channel[:64]
        if not math.isfinite(value):
            return DeadLetterReason.NOT_FINITE, f"{name} is not finite"
        if channel not in standard:
            if self._settings.unknown_channels == "reject" or not _CHANNEL.match(channel):
                return DeadLetterReason.UNKNOWN_CHANNEL, f"unknown channel {name!r}"
            accepted = self._accepted.setdefault(asset, set())
            if channel not in accepted:
                if len(accepted) >= self._settings.max_unknown_channels:
                    limit = self._settings.max_unknown_channels
                    return DeadLetterReason.UNKNOWN_CHANNEL, f"unknown channel {name!r}: {limit} already kept"
                accepted.add(channel)
            return None
        if standard[channel]:
            if value not in (0.0, 1.0):
                return DeadLetterReason.WRONG_TYPE, f"{name} is boolean, got {value:g}"
            return None
        low, high = PHYSICAL_RANGES.get(channel, (-math.inf, math.inf))
        if not low <= value <= high:
            return DeadLetterReason.OUT_OF_RANGE, f"{name}={value:g} outside [{low:g}, {high:g}]"
        return None


# A channel name that is safe to store and to put in a URL; accepted unknown channels must still match it.
_CHANNEL = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def dead_letter(topic: str, reason: DeadLetterReason, detail: str, payload: bytes, now_ms: int) -> DeadLetter:
    """A dead letter with its topic and payload truncated (topics are device input too)."""
    return DeadLetter(
        topic=topic[:256],
        reason=reason,
        detail=detail[:500],
        payload=payload[:PAYLOAD_KEEP_BYTES],
        received_ms=now_ms,
    )


def _skew_detail(ts_ms: int, now_ms: int) -> str:
    ahead = (ts_ms - now_ms) / 1000
    return f"timestamp {abs(ahead):.0f} s {'ahead of' if ahead > 0 else 'behind'} the clock"
