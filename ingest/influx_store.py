"""The InfluxDB telemetry store (production): writes line protocol through influxdb-client, reads with Flux.

Writes: readings become line protocol in our own code (``ingest.lineproto``: string building, no ``Point``
object per reading), cut into bodies of ``batch_lines`` lines, gzip'd (level 1) and posted synchronously
through influxdb-client's WriteService with ``precision=ms`` (our bytes go to urllib3 as they are); one
poster thread sends body k while body k+1 is encoded, and the last body is posted by the calling thread
(no hand-off when a write is one body, the usual case). gzip pays off towards a remote server; on
loopback it only costs CPU (``gzip=False``; bench/influx_writer.py measures both). ``write`` returns
once InfluxDB answered 204 for every body, so a returned write is durable and the gateway may
acknowledge. A body that fails after the client's own retries raises ``StoreUnavailable``; the
``SpoolingSink`` (ingest.spool) then keeps the batch on disk. Writing the same (series, ts) again
overwrites the value, so redelivered messages are idempotent.

Reads (InfluxDB 2.x, Flux): ``query`` is ``range`` + ``filter`` (+ ``aggregateWindow`` with windows aligned
to the epoch and stamped with their start, like the SQLite store), ``latest`` is ``last()`` per field over
a look-back period. VictoriaMetrics takes the writes but speaks no Flux; the read path is tested against a
real InfluxDB 2 when ``FACWATCH_TEST_INFLUX_URL`` is set.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from gzip import compress as gzip_compress
from typing import Any

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.service.write_service import WriteService
from urllib3 import PoolManager
from urllib3.util.retry import Retry

from facwatch.model import Point, Reading, Site, ms_from_utc
from ingest.errors import BadQuery, StoreUnavailable
from ingest.lineproto import LineEncoder
from ingest.sqlite_store import FUNCTIONS

_DAY_MS = 24 * 3600 * 1000
_MS: Any = WritePrecision.MS  # typed as str by the library, expected as WritePrecision


class InfluxStore:
    """A ``ReadingSink`` and ``TelemetryReader`` on InfluxDB 2.x (or anything taking ``/api/v2/write``)."""

    def __init__(
        self,
        site: Site,
        *,
        url: str,
        token: str,
        org: str,
        bucket: str,
        batch_lines: int = 5_000,
        timeout_s: float = 10.0,
        gzip: bool = True,
        retries: int = 2,
        latest_lookback_days: float = 30.0,
    ) -> None:
        if batch_lines < 1:
            raise ValueError("batch_lines must be at least 1")
        self.site = site
        self.org = org
        self.bucket = bucket
        self.batch_lines = batch_lines
        self.latest_lookback_days = latest_lookback_days
        self._kinds = {a.id: str(a.kind) for a in site.assets}
        self._encoder = LineEncoder(site)
        # One poster thread: body k is on the wire while body k+1 is encoded (the socket wait frees the GIL).
        self._poster = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-post")
        # Retries of the HTTP client itself (connection refused, 429/5xx), short: beyond them the spool takes over.
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.2,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
        )
        # gzip is ours (level 1: most of the size gain at a fraction of the CPU of the client's level 9), so
        # the client's own enable_gzip stays off and bodies go through its WriteService as they are.
        self.gzip = gzip
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=int(timeout_s * 1000), retries=retry
        )
        self._service = WriteService(self._client.api_client)  # type: ignore[no-untyped-call]
        self._query = self._client.query_api()
        self._url = url.rstrip("/")
        self._pinger = PoolManager(num_pools=1, maxsize=1)

    # --- writes --------------------------------------------------------------------------------------

    def write(self, readings: Sequence[Reading]) -> None:
        """Post every reading; returns once all bodies were accepted, else raises ``StoreUnavailable``.

        Bodies already accepted before a failure stay written; the caller writes the whole batch again
        later, which overwrites them with the same values (idempotent).
        """
        if not readings:
            return
        pending: Future[None] | None = None
        try:
            for body, last in self._encoder.bodies(readings, self.batch_lines):
                if pending is not None:
                    previous, pending = pending, None
                    previous.result()  # raises the previous body's StoreUnavailable
                if last:  # nothing left to encode meanwhile: posted here, without a hand-off to the thread
                    self.write_body(body)
                else:
                    pending = self._poster.submit(self.write_body, body)
        finally:
            if pending is not None:
                pending.result()

    def write_body(self, body: bytes) -> None:
        """Post one pre-built line-protocol body (ms precision), gzip'd when ``gzip``."""
        try:
            self._service.post_write(  # type: ignore[no-untyped-call]
                org=self.org,
                bucket=self.bucket,
                body=gzip_compress(body, compresslevel=1) if self.gzip else body,
                precision=_MS,
                content_encoding="gzip" if self.gzip else "identity",
                content_type="text/plain; charset=utf-8",
            )
        except Exception as exc:  # ApiException (4xx/5xx), urllib3 errors (refused, timeout), ...
            raise StoreUnavailable(f"InfluxDB write failed: {_describe(exc)}") from exc

    def ping(self, timeout_s: float = 1.0) -> str | None:
        """A cheap probe for readiness: None when the server answers ``/ping``, else what went wrong."""
        try:
            response = self._pinger.request("GET", f"{self._url}/ping", timeout=timeout_s, retries=False)
        except Exception as exc:  # refused, timed out, ...
            return f"no answer from {self._url}: {_describe(exc)}"
        if response.status >= 300:
            return f"{self._url}/ping answered HTTP {response.status}"
        return None

    # --- reads ---------------------------------------------------------------------------------------

    def query(
        self,
        site: str,
        asset: str,
        channel: str,
        start_ms: int,
        end_ms: int,
        every_ms: int | None = None,
        fn: str = "mean",
        limit: int | None = None,
    ) -> list[Point]:
        """Raw points, or with ``every_ms`` one aggregate (``fn``) per non-empty window, oldest first."""
        if fn not in FUNCTIONS:
            raise BadQuery(f"fn must be one of {', '.join(FUNCTIONS)}, got {fn!r}")
        if every_ms is not None and every_ms <= 0:
            raise BadQuery(f"every must be positive, got {every_ms} ms")
        kind = self._kinds.get(asset)
        if kind is None or end_ms <= start_ms:
            return []
        flux = history_flux(self.bucket, kind, site, asset, channel, start_ms, end_ms, every_ms, fn, limit)
        return [Point(ts_ms=ts, channel=channel, value=value) for _, ts, value in self._run(flux)]

    def latest(self, site: str, asset: str) -> dict[str, Point]:
        """The newest point of every channel of an asset within the look-back period."""
        kind = self._kinds.get(asset)
        if kind is None:
            return {}
        flux = latest_flux(self.bucket, kind, site, asset, self.latest_lookback_days)
        return {ch: Point(ts_ms=ts, channel=ch, value=value) for ch, ts, value in self._run(flux)}

    def close(self) -> None:
        self._poster.shutdown(wait=True)
        self._client.close()  # type: ignore[no-untyped-call]
        self._pinger.clear()

    def _run(self, flux: str) -> list[tuple[str, int, float]]:
        try:
            tables = self._query.query(flux, org=self.org)
        except Exception as exc:
            raise StoreUnavailable(f"InfluxDB query failed: {_describe(exc)}") from exc
        values: list[dict[str, Any]] = [record.values for table in tables for record in table.records]
        rows = [(str(v["_field"]), ms_from_utc(v["_time"]), float(v["_value"])) for v in values]
        rows.sort(key=lambda row: (row[0], row[1]))
        return rows


# --- Flux: pure text builders ------------------------------------------------------------------------


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


def history_flux(
    bucket: str,
    kind: str,
    site: str,
    asset: str,
    channel: str,
    start_ms: int,
    end_ms: int,
    every_ms: int | None,
    fn: str,
    limit: int | None = None,
) -> str:
    """``[start, end)`` of one channel; with ``every_ms`` windows aligned to the epoch, stamped at their start."""
    lines = [
        f"from(bucket: {flux_string(bucket)})",
        f"|> range(start: {flux_time(start_ms)}, stop: {flux_time(end_ms)})",
        _select(kind, site, asset),
        f"|> filter(fn: (r) => r._field == {flux_string(channel)})",
    ]
    if every_ms is not None:
        lines.append(
            f'|> aggregateWindow(every: {every_ms}ms, fn: {fn}, createEmpty: false, timeSrc: "_start")'
        )
    if limit is not None:
        lines.append(f"|> limit(n: {int(limit)})")
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


def _describe(exc: BaseException) -> str:
    status: Any = getattr(exc, "status", None)
    text = f"HTTP {status}: " if status else ""
    return (text + f"{type(exc).__name__}: {exc}")[:300]
