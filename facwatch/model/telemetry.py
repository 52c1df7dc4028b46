"""Readings, history points, dead letters, and the ports the gateway writes to and the API reads from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from facwatch.errors import BadQuery


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one channel of one asset at one time. Booleans are stored as 0.0 / 1.0."""

    site: str
    asset: str
    channel: str
    ts_ms: int
    value: float
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Point:
    """A point of a history query: a raw reading or an aggregate over a window starting at ``ts_ms``."""

    ts_ms: int
    channel: str
    value: float


HISTORY_FUNCTIONS = ("mean", "min", "max", "last", "count", "sum")
"""The aggregates every telemetry store answers per window (``TelemetryQuery.fn``)."""


@dataclass(frozen=True, slots=True)
class TelemetryQuery:
    """One history question to a telemetry store, built once where it is asked (the API's readings route, a
    report, the replay of a site's recent history) and passed as it is down to the SQL, InfluxQL or Flux.

    One channel of one asset over the half-open range ``[start_ms, end_ms)``: raw points, or with ``every_ms``
    one aggregate (``fn``) per non-empty window, windows aligned to multiples of ``every_ms`` since the epoch
    and stamped with their start. ``limit``: the first points only (oldest first), so a caller can tell "too
    many" without holding them all. A range that is empty (``end_ms <= start_ms``) answers nothing; an
    unknown ``fn``, a window that is not positive or a ``limit`` under 1 raises ``BadQuery`` here, before any
    store is asked."""

    site: str
    asset: str
    channel: str
    start_ms: int
    end_ms: int
    every_ms: int | None = None
    fn: str = "mean"
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.fn not in HISTORY_FUNCTIONS:
            raise BadQuery(f"fn must be one of {', '.join(HISTORY_FUNCTIONS)}, got {self.fn!r}")
        if self.every_ms is not None and self.every_ms <= 0:
            raise BadQuery(f"every must be positive, got {self.every_ms} ms")
        if self.limit is not None and self.limit < 1:
            raise BadQuery(f"limit must be at least 1, got {self.limit}")

    @property
    def empty(self) -> bool:
        """The range holds no time, so no store holds a point of it."""
        return self.end_ms <= self.start_ms


class DeadLetterReason(StrEnum):
    MALFORMED = "malformed"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_SITE = "unknown_site"
    UNKNOWN_ASSET = "unknown_asset"
    UNKNOWN_CHANNEL = "unknown_channel"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    TIMESTAMP_SKEW = "timestamp_skew"
    """Older than ``max_skew_s``."""
    FUTURE_TIMESTAMP = "future_timestamp"
    """More than ``max_future_s`` ahead of the gateway's clock."""
    RETAINED = "retained"
    """A retained telemetry or event message: an old value replayed by the broker, not a measurement."""
    TOO_LARGE = "too_large"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    reason: DeadLetterReason
    detail: str
    payload: bytes
    """Truncated to a bounded size before it is stored."""
    received_ms: int
    id: int | None = None


class ReadingSink(Protocol):
    """Where the gateway puts validated readings. ``write`` returns only once they are durable."""

    def write(self, readings: Sequence[Reading]) -> None: ...


class DeadLetterSink(Protocol):
    def put(self, letters: Sequence[DeadLetter]) -> None: ...


class TelemetryReader(Protocol):
    """History queries that every telemetry store answers the same way."""

    def query(self, query: TelemetryQuery) -> list[Point]:
        """The points ``query`` asks for, oldest first (see ``TelemetryQuery``)."""
        ...

    def latest(self, site: str, asset: str) -> dict[str, Point]: ...
