"""InfluxDB line protocol for readings: pure, built with plain string operations (no object per reading).

One line per (asset, timestamp), one measurement per asset kind, one field per channel::

    elevator,asset=b1-elev-1,building=b1,kind=elevator,site=lakeside floor=3.0,speed_mps=1.2 1700000000000

Tags are sorted by key (what InfluxDB itself does; it then need not sort them), timestamps are epoch
milliseconds (``precision=ms``), every field is a float (booleans are 0.0/1.0 already), so a channel never
changes type. Escaping follows the line-protocol spec: in measurements commas and spaces; in tag keys, tag
values and field keys commas, equals signs and spaces; backslashes before those. Newlines cannot be escaped
and are refused (ids and channels are validated long before, so this only guards against misuse).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from facwatch.model import Reading, Site

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\\": "\\\\"})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\"})


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


def _check_finite(line: str) -> None:
    """Raise if a field value of ``line`` is nan or inf (a tag or key may merely contain those letters)."""
    fields = line.rsplit(" ", 2)[-2] if line.count(" ") >= 2 else ""
    for field in fields.split(","):
        value = field.rpartition("=")[2]
        if value in ("nan", "inf", "-inf"):
            raise LineProtocolError(f"line protocol cannot carry {value} ({field[:60]!r})")


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
        self._fields: dict[str, str] = {}

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
        cached = self._fields.get(channel)
        if cached is None:
            cached = self._fields[channel] = escape_key(channel)
        return cached

    def lines(self, readings: Iterable[Reading]) -> list[str]:
        """One line per run of consecutive readings with the same (site, asset, ts), channels as its fields.

        A message's readings arrive together, so consecutive grouping gives one line per device sample
        without a dict per line. Should the same (asset, ts) come again later, it is another line with the
        same timestamp, which InfluxDB merges into the same point (the last value of a field wins).
        Hot path: one f-string per reading; non-finite values are looked for once per line afterwards.
        """
        lines: list[str] = []
        append = lines.append
        prefixes, fkeys = self._prefixes, self._fields
        head = ""
        fields: list[str] | None = None
        prev_site = prev_asset = None
        prev_ts = 0
        for r in readings:
            ts, asset, site = r.ts_ms, r.asset, r.site
            if fields is None or ts != prev_ts or asset != prev_asset or site != prev_site:
                if fields is not None:
                    append(f"{head}{','.join(fields)} {prev_ts}")
                head = prefixes.get((site, asset)) or self.prefix(site, asset)
                fields = []
                prev_ts, prev_asset, prev_site = ts, asset, site
            key = fkeys.get(r.channel) or self.field_key(r.channel)
            fields.append(f"{key}={r.value!r}")
        if fields is not None:
            append(f"{head}{','.join(fields)} {prev_ts}")
        for line in lines:
            if "=nan" in line or "=inf" in line or "=-inf" in line:
                _check_finite(line)
        return lines

    def bodies(self, readings: Sequence[Reading], lines_per_body: int) -> Iterator[bytes]:
        """Request bodies of at most ``lines_per_body`` lines each, in order, encoded lazily body by body.

        Lazily, so a caller can post one body while the next is encoded. A device sample cut at a slice
        boundary becomes two lines with the same timestamp, which InfluxDB merges into one point.
        """
        pending: list[str] = []
        for start in range(0, len(readings), lines_per_body):
            pending += self.lines(readings[start : start + lines_per_body])
            while len(pending) >= lines_per_body:
                yield "\n".join(pending[:lines_per_body]).encode("utf-8")
                del pending[:lines_per_body]
        if pending:
            yield "\n".join(pending).encode("utf-8")
