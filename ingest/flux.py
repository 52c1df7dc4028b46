"""Flux (InfluxDB 2.x, an option: ``[telemetry] influx_query_language = "flux"``): pure text builders.

Flux is in maintenance mode and InfluxDB 3 does not serve it, so InfluxQL (ingest.influxql) is the default
read path; Flux stays for 2.x installations without a DBRP mapping. Windows are aligned to the epoch and
stamped with their start, like the SQLite store.
"""

from __future__ import annotations

from datetime import UTC, datetime

from facwatch.model import TelemetryQuery

_DAY_MS = 24 * 3600 * 1000


def flux_string(value: str) -> str:
    """A Flux string literal (backslashes, quotes and ``${`` interpolation escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def flux_time(ts_ms: int) -> str:
    when = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _select(kind: str, site: str, asset: str) -> str:
    return (
        f"|> filter(fn: (r) => r._measurement == {flux_string(kind)}"
        f" and r.site == {flux_string(site)} and r.asset == {flux_string(asset)})"
    )


def history_flux(bucket: str, kind: str, query: TelemetryQuery) -> str:
    """``[start, end)`` of one channel; with ``every_ms`` windows aligned to the epoch, stamped at their start;
    ``limit``: at most that many rows, the oldest."""
    lines = [
        f"from(bucket: {flux_string(bucket)})",
        f"|> range(start: {flux_time(query.start_ms)}, stop: {flux_time(query.end_ms)})",
        _select(kind, query.site, query.asset),
        f"|> filter(fn: (r) => r._field == {flux_string(query.channel)})",
    ]
    if query.every_ms is not None:
        lines.append(
            f"|> aggregateWindow(every: {query.every_ms}ms, fn: {query.fn}, createEmpty: false,"
            ' timeSrc: "_start")'
        )
    if query.limit is not None:
        lines.append(f"|> limit(n: {int(query.limit)})")
    lines.append('|> keep(columns: ["_time", "_value", "_field"])')
    return "\n".join(lines)


def latest_flux(bucket: str, kind: str, site: str, asset: str, lookback_days: float) -> str:
    lookback_ms = max(1, int(lookback_days * _DAY_MS))
    return "\n".join(
        [
            f"from(bucket: {flux_string(bucket)})",
            f"|> range(start: -{lookback_ms}ms)",
            _select(kind, site, asset),
            "|> last()",
            '|> keep(columns: ["_time", "_value", "_field"])',
        ]
    )
