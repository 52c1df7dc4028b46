"""Payload codecs for the MQTT contract: pure bytes in, samples out (and back, for devices and the simulator).

A telemetry payload is a JSON object ``{"ts": <epoch ms | ISO-8601>, "seq": <int, optional>,
"values": {channel: number | bool}}``, or a JSON array of such objects (a device's buffered batch).
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
