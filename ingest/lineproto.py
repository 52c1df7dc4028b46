"""InfluxDB line protocol for readings: pure, built with plain string operations (no object per reading).

One line per (asset, timestamp), one measurement per asset kind, one field per channel::

    elevator,asset=b1-elev-1,building=b1,kind=elevator,site=lakeside floor=3.0,speed_mps=1.2 1700000000000

Tags are sorted by key (what InfluxDB itself does; it then need not sort them), timestamps are epoch
milliseconds (``precision=ms``), every field is a float (booleans are 0.0/1.0 already), so a channel never
changes type; values are written in their shortest round-trip form, formatted a batch at a time
(``format_values``). Escaping follows the line-protocol spec: in measurements commas and spaces; in tag
keys, tag values and field keys commas, equals signs and spaces; backslashes before those. Newlines cannot
be escaped and are refused (ids and channels are validated long before, so this only guards against misuse).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter

import orjson

from facwatch.model import Reading, Site

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\\": "\\\\"})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\"})
_NUMBER_BYTES = b"0123456789.-+e,"  # all that orjson writes for a list of finite floats, but the brackets
_value_of = attrgetter("value")


class LineProtocolError(ValueError):
    """A name or value that line protocol cannot carry (a newline, a non-finite number)."""


def escape_measurement(name: str) -> str:
    _no_newline(name)
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(name: str) -> str:
    """Escape a tag key, tag value or field key."""
    _no_newline(name)
    return name.translate(_KEY_ESCAPES)


def format_float(value: float) -> str:
    """A float field value: ``repr`` round-trips exactly; an integral value keeps its ``.0``."""
    if not math.isfinite(value):
        raise LineProtocolError(f"line protocol cannot carry {value!r}")
    return repr(float(value))


def format_values(values: list[float]) -> list[str]:
    """``format_float`` of every value, but all at once: orjson's shortest round-trip formatting (Ryu) is
    several times faster than ``repr`` one by one, and gives the same double back (``1e-7`` where ``repr``
    says ``1e-07``; both are line-protocol floats).

    orjson writes nan and inf as ``null`` and would keep a stray ``True`` or string as such, so unless the
    text holds nothing but numbers, every value takes the exact path (which coerces or refuses).
    """
    try:
        text = orjson.dumps(values)
    except TypeError:  # not JSON at all (an int beyond 64 bits, an object): the exact path decides
        text = b"?"
    if text.translate(None, _NUMBER_BYTES) != b"[]":
        return [format_float(v) for v in values]
    return text[1:-1].decode().split(",") if values else []


def _no_newline(name: str) -> None:
    if "\n" in name or "\r" in name:
        raise LineProtocolError(f"a newline cannot be escaped in line protocol: {name[:40]!r}")


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """What the tags say about an asset."""

    kind: str
    building: str


class LineEncoder:
    """Encodes readings of one site's assets. Caches each asset's ``measurement,tags `` prefix.

    Safe to share between threads: the caches only ever get the same value for a key, set atomically.
    """

    def __init__(self, site: Site) -> None:
        self._keys = {a.id: SeriesKey(str(a.kind), a.building) for a in site.assets}
        self._prefixes: dict[tuple[str, str], str] = {}
        self._fields: dict[str, str] = {}  # channel -> its escaped field key and "="

    def prefix(self, site: str, asset: str) -> str:
        """``measurement,tag=value,... `` for an asset (an unknown asset gets kind and building ``unknown``)."""
        cached = self._prefixes.get((site, asset))
        if cached is not None:
            return cached
        key = self._keys.get(asset, SeriesKey("unknown", "unknown"))
        tags = (("asset", asset), ("building", key.building), ("kind", key.kind), ("site", site))
        text = escape_measurement(key.kind) + "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in tags)
        self._prefixes[(site, asset)] = text + " "
        return text + " "

    def field_key(self, channel: str) -> str:
        """``key=`` for a channel's field."""
        cached = self._fields.get(channel)
        if cached is None:
            cached = self._fields[channel] = escape_key(channel) + "="
        return cached

    def lines(self, readings: Sequence[Reading]) -> list[str]:
        """One line per run of consecutive readings with the same (site, asset, ts), channels as its fields.

        A message's readings arrive together, so consecutive grouping gives one line per device sample
        without a dict per line. Should the same (asset, ts) come again later, it is another line with the
        same timestamp, which InfluxDB merges into the same point (the last value of a field wins).
        Hot path: the values are formatted all at once (``format_values``), then one concatenation per
        reading and one f-string per line.
        """
        lines: list[str] = []
        append = lines.append
        prefixes, fkeys = self._prefixes, self._fields
        head = ""
        fields: list[str] = []  # empty only before the first reading: a line has at least one field
        prev_site = prev_asset = None
        prev_ts = 0
        for r, value in zip(readings, format_values(list(map(_value_of, readings))), strict=True):
            ts, asset, site = r.ts_ms, r.asset, r.site
            if ts != prev_ts or asset != prev_asset or site != prev_site:
                if fields:
                    append(f"{head}{','.join(fields)} {prev_ts}")
                head = prefixes.get((site, asset)) or self.prefix(site, asset)
                fields = []
                prev_ts, prev_asset, prev_site = ts, asset, site
            try:
                fields.append(fkeys[r.channel] + value)
            except KeyError:  # a channel's first reading
                fields.append(self.field_key(r.channel) + value)
        if fields:
            append(f"{head}{','.join(fields)} {prev_ts}")
        return lines

    def bodies(self, readings: Sequence[Reading], lines_per_body: int) -> Iterator[tuple[bytes, bool]]:
        """Request bodies of at most ``lines_per_body`` lines each, in order, encoded lazily body by body,
        each with whether it is the last (no readings are left to encode after it).

        Lazily, so a caller can post one body while the next is encoded, and post the last one itself. A
        device sample cut at a slice boundary becomes two lines with the same timestamp, which InfluxDB
        merges into one point.
        """
        pending: list[str] = []
        total = len(readings)
        for start in range(0, total, lines_per_body):
            pending += self.lines(readings[start : start + lines_per_body])
            encoded_all = start + lines_per_body >= total
            while len(pending) >= lines_per_body:
                body = "\n".join(pending[:lines_per_body]).encode("utf-8")
                del pending[:lines_per_body]
                yield body, encoded_all and not pending
        if pending:
            yield "\n".join(pending).encode("utf-8"), True
