"""Parsing of query parameters that FastAPI cannot type by itself: times, durations, numeric cursors.

Pure functions; each raises ValueError with a message fit to show the caller, and every number is
range-checked here (an out-of-range value is the caller's mistake, a 422, never an ``OverflowError``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from facwatch.model import HISTORY_FUNCTIONS, ms_from_utc

_EPOCH_MS = re.compile(r"-?[0-9]{1,20}")
_DURATION = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,6})?)(ms|s|m|h|d)?")
_DIGITS = re.compile(r"[0-9]{1,18}")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
MIN_MS = 0
"""1970-01-01: no reading, alert or ticket is older."""
MAX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z, the last instant a datetime can hold."""
MAX_EVERY_MS = 366 * 86_400_000 * 10
"""Ten years: a longer window is no window."""
MAX_CURSOR = 2**63 - 1
"""Numeric cursors are row ids or offsets: they fit a signed 64-bit integer."""


def parse_time(raw: str, name: str = "time") -> int:
    """Epoch milliseconds from epoch ms (``1700000000000``) or ISO-8601 (naive means UTC)."""
    text = raw.strip()
    if not text:
        raise ValueError(f"{name} is empty")
    if _EPOCH_MS.fullmatch(text):
        return _in_range(int(text), name, raw)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{name} {raw[:40]!r} is neither epoch milliseconds nor ISO-8601 (e.g. 2024-05-01T08:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return _in_range(ms_from_utc(when), name, raw)
    except (OverflowError, OSError):
        raise ValueError(f"{name} {raw[:40]!r} is out of range") from None


def _in_range(ms: int, name: str, raw: str) -> int:
    if not MIN_MS <= ms <= MAX_MS:
        raise ValueError(f"{name} {raw[:40]!r} is out of range (1970 to 9999)")
    return ms


def parse_every(raw: str) -> int:
    """A window length in milliseconds from ``500ms``, ``60s``, ``5m``, ``1h``, ``1d`` or bare seconds."""
    match = _DURATION.fullmatch(raw.strip().lower())
    if match is None:
        raise ValueError(f"every {raw[:40]!r} is not a duration such as 60s, 5m or 1h")
    number, unit = match.groups()
    every_ms = int(float(number) * _UNIT_MS[unit or "s"])
    if every_ms <= 0:
        raise ValueError(f"every {raw!r} must be longer than 0")
    if every_ms > MAX_EVERY_MS:
        raise ValueError(f"every {raw!r} is longer than ten years")
    return every_ms


def parse_id_cursor(raw: str | None) -> int | None:
    """A numeric cursor (a row id or an offset) as an int, range-checked; None when absent."""
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw) or int(raw) > MAX_CURSOR:
        raise ValueError(f"cursor {raw[:40]!r} is not one this list gave out")
    return int(raw)


def parse_fn(raw: str) -> str:
    fn = raw.strip().lower()
    if fn not in HISTORY_FUNCTIONS:
        raise ValueError(f"fn {raw!r} is not one of {', '.join(HISTORY_FUNCTIONS)}")
    return fn
