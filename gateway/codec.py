"""Payload codecs for the MQTT contract: pure bytes in, samples out (and back, for devices and the simulator).

A telemetry payload is a JSON object ``{"ts": <epoch ms | ISO-8601>, "seq": <int, optional>,
"values": {channel: number | bool}}``, or a JSON array of such objects (a device's buffered batch).
A payload in InfluxDB line protocol is accepted too (``decode_line_protocol``); ``decode_items`` picks the
format by the first byte and decodes each item on its own: one bad item of a batch does not sink the rest.
Decoding checks shape and types only; whether an asset or channel is known, or a value in range, is the
validator's job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson


@dataclass(frozen=True, slots=True)
class Sample:
    """One timestamped set of channel values from one device message."""

    ts_ms: int
    values: Mapping[str, float]
    seq: int | None = None


class DecodeError(ValueError):
    """A payload that does not follow the contract. ``reason`` is a DeadLetterReason value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def encode(ts_ms: int, values: Mapping[str, float | bool], seq: int | None = None) -> bytes:
    body: dict[str, object] = {"ts": ts_ms, "values": dict(values)}
    if seq is not None:
        body["seq"] = seq
    return orjson.dumps(body)


def encode_batch(samples: list[tuple[int, Mapping[str, float | bool], int | None]]) -> bytes:
    return orjson.dumps(
        [{"ts": ts, "values": dict(v), **({"seq": s} if s is not None else {})} for ts, v, s in samples]
    )


def decode_json(payload: bytes) -> list[Sample]:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("malformed", f"not JSON: {exc}") from None
    if isinstance(doc, dict):
        return [_sample(doc, 0)]
    if isinstance(doc, list):
        if not doc:
            raise DecodeError("malformed", "empty batch")
        return [_sample(item, i) for i, item in enumerate(doc)]
    raise DecodeError("malformed", f"expected an object or an array, got {type(doc).__name__}")


def decode_items(payload: bytes, now_ms: int) -> list[Sample | DecodeError]:
    """Every item of a payload, each a Sample or the DecodeError that item alone raised.

    A payload whose first non-blank byte is ``{`` or ``[`` is JSON; anything else is line protocol, whose
    lines without a timestamp take ``now_ms``. A payload that cannot be split into items at all (not JSON,
    an empty batch, not UTF-8) is one DecodeError.
    """
    head = payload.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return [DecodeError("malformed", f"not JSON: {exc}")]
        if isinstance(doc, list):
            if not doc:
                return [DecodeError("malformed", "empty batch")]
            return [_try_sample(item, i) for i, item in enumerate(doc)]
        return [_try_sample(doc, 0)]
    return _line_items(payload, now_ms)


def decode_line_protocol(payload: bytes, now_ms: int) -> list[Sample]:
    """InfluxDB line protocol: ``measurement[,tag=v] field=value[,field=value] [timestamp]``, one a line.

    Measurement and tags are ignored (the topic names the asset), except a ``seq`` tag. Integers (``12i``,
    ``12u``), floats and booleans (``t``/``true``/``f``/``false``) are accepted; string fields are a wrong
    type. The timestamp's precision is read from its size (seconds, ms, µs or ns since the epoch), since
    devices rarely agree on one; a line without a timestamp takes ``now_ms``.
    """
    return [item if isinstance(item, Sample) else _raise(item) for item in _line_items(payload, now_ms)]


def _raise(exc: DecodeError) -> Sample:
    raise exc


def _line_items(payload: bytes, now_ms: int) -> list[Sample | DecodeError]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return [DecodeError("malformed", "neither JSON nor UTF-8 line protocol")]
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return [DecodeError("malformed", "empty payload")]
    out: list[Sample | DecodeError] = []
    for i, line in enumerate(lines):
        try:
            out.append(_line_sample(line, now_ms, f"line {i + 1}: "))
        except DecodeError as exc:
            out.append(exc)
    return out


def _try_sample(doc: object, index: int) -> Sample | DecodeError:
    try:
        return _sample(doc, index)
    except DecodeError as exc:
        return exc


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes and not preceded by a backslash."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return text.replace("\\,", ",").replace("\\=", "=").replace("\\ ", " ")


_BOOLS = {"t": 1.0, "T": 1.0, "true": 1.0, "True": 1.0, "TRUE": 1.0}
_BOOLS.update({"f": 0.0, "F": 0.0, "false": 0.0, "False": 0.0, "FALSE": 0.0})


def _line_sample(line: str, now_ms: int, where: str) -> Sample:
    sections = [part for part in _split_unescaped(line.strip(), " ") if part]
    if len(sections) not in (2, 3):
        raise DecodeError("malformed", f"{where}expected 'measurement[,tags] fields [timestamp]'")
    head, fields = sections[0], sections[1]
    seq: int | None = None
    for tag in _split_unescaped(head, ",")[1:]:
        key, _, value = tag.partition("=")
        if _unescape(key) == "seq":
            try:
                seq = int(value)
            except ValueError:
                raise DecodeError("wrong_type", f"{where}seq tag must be an integer") from None
    values: dict[str, float] = {}
    for field in _split_unescaped(fields, ","):
        key, eq, raw = field.partition("=")
        if not eq or not key:
            raise DecodeError("malformed", f"{where}field {field[:40]!r} is not key=value")
        values[_unescape(key)] = _field_value(raw, f"{where}{_unescape(key)[:40]}")
    ts_ms = now_ms if len(sections) == 2 else _line_ts(sections[2], where)
    return Sample(ts_ms=ts_ms, values=values, seq=seq)


def _field_value(raw: str, where: str) -> float:
    if raw in _BOOLS:
        return _BOOLS[raw]
    if raw.startswith('"'):
        raise DecodeError("wrong_type", f"{where} is a string; expected a number or a bool")
    text = raw[:-1] if raw.endswith(("i", "u")) else raw
    try:
        value = int(text) if raw.endswith(("i", "u")) else float(text)
    except ValueError:
        raise DecodeError("malformed", f"{where} value {raw[:40]!r} is not a number") from None
    fvalue = float(value)
    if not math.isfinite(fvalue):
        raise DecodeError("not_finite", f"{where} is not finite")
    return fvalue


def _line_ts(raw: str, where: str) -> int:
    try:
        ts = int(raw)
    except ValueError:
        raise DecodeError("malformed", f"{where}timestamp {raw[:40]!r} is not an integer") from None
    magnitude = abs(ts)
    if magnitude >= 10**17:  # nanoseconds (line protocol's default precision)
        return ts // 1_000_000
    if magnitude >= 10**14:  # microseconds
        return ts // 1_000
    if magnitude >= 10**11:  # milliseconds
        return ts
    return ts * 1_000  # seconds


def _sample(doc: object, index: int) -> Sample:
    where = f"item {index}: " if index else ""
    if not isinstance(doc, dict):
        raise DecodeError("malformed", f"{where}expected an object")
    ts_ms = parse_ts(doc.get("ts"), where)
    seq = doc.get("seq")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
        raise DecodeError("wrong_type", f"{where}seq must be an integer")
    raw = doc.get("values")
    if not isinstance(raw, dict) or not raw:
        raise DecodeError("malformed", f"{where}values must be a non-empty object")
    values: dict[str, float] = {}
    for channel, value in raw.items():
        if isinstance(value, bool):
            values[channel] = 1.0 if value else 0.0
        elif isinstance(value, int | float):
            fvalue = float(value)
            if not math.isfinite(fvalue):
                raise DecodeError("not_finite", f"{where}{channel} is not finite")
            values[channel] = fvalue
        else:
            raise DecodeError("wrong_type", f"{where}{channel} must be a number or a bool")
    return Sample(ts_ms=ts_ms, values=values, seq=seq)


def parse_ts(raw: object, where: str = "") -> int:
    """Epoch milliseconds from an integer (epoch ms) or an ISO-8601 string (UTC when no offset)."""
    if isinstance(raw, bool) or raw is None:
        raise DecodeError("malformed", f"{where}ts is missing")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise DecodeError("not_finite", f"{where}ts is not finite")
        return int(raw)
    if isinstance(raw, str):
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise DecodeError("malformed", f"{where}ts {raw[:40]!r} is not ISO-8601") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1000)
    raise DecodeError("wrong_type", f"{where}ts must be epoch ms or an ISO-8601 string")
