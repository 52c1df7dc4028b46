"""Parsing of query parameters that FastAPI cannot type by itself: times and durations.

Pure functions; each raises ValueError with a message fit to show the caller.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from facwatch.model import ms_from_utc

_EPOCH_MS = re.compile(r"-?\d+")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
FUNCTIONS = ("mean", "min", "max", "sum", "count", "first", "last")


def parse_time(raw: str, name: str = "time") -> int:
    """Epoch milliseconds from epoch ms (``1700000000000``) or ISO-8601 (naive means UTC)."""
    text = raw.strip()
    if not text:
        raise ValueError(f"{name} is empty")
    if _EPOCH_MS.fullmatch(text):
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{name} {raw!r} is neither epoch milliseconds nor ISO-8601 (e.g. 2024-05-01T08:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return ms_from_utc(when)


def parse_every(raw: str) -> int:
    """A window length in milliseconds from ``500ms``, ``60s``, ``5m``, ``1h``, ``1d`` or bare seconds."""
    match = _DURATION.fullmatch(raw.strip().lower())
    if match is None:
        raise ValueError(f"every {raw!r} is not a duration such as 60s, 5m or 1h")
    number, unit = match.groups()
    every_ms = int(float(number) * _UNIT_MS[unit or "s"])
    if every_ms <= 0:
        raise ValueError(f"every {raw!r} must be longer than 0")
    return every_ms


def parse_fn(raw: str) -> str:
    fn = raw.strip().lower()
    if fn not in FUNCTIONS:
        raise ValueError(f"fn {raw!r} is not one of {', '.join(FUNCTIONS)}")
    return fn
