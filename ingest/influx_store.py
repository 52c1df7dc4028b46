"""The InfluxDB telemetry store (production): line-protocol writes to ``/write``, InfluxQL reads from ``/query``.

These two endpoints are what InfluxDB 1.x serves, what 2.x serves through its v1 compatibility (a DBRP
mapping names the bucket; the token goes in ``Authorization: Token``) and what 3.x serves; VictoriaMetrics
takes ``/write`` too (the tests' second server). Flux reads stay an option for 2.x (``query_language``).

Writes: readings become line protocol in our own code (``ingest.lineproto``), a write is encoded and cut
into a few bodies (at most ``batch_lines`` lines each), and up to ``in_flight`` (2) bodies are on the wire
at once, each on its own connection; optionally gzip'd (level 1, in the posting threads). ``write``
returns once InfluxDB answered 204 for every body, so a returned write is durable and the gateway may
acknowledge. A body that fails after the HTTP client's own short retries raises ``StoreUnavailable`` (once
the other bodies in flight have ended); the ``SpoolingSink`` (ingest.spool) then keeps the batch on disk.
Writing the same (series, ts) again overwrites the value, so redelivered messages are idempotent.

Reads: ``query`` answers raw points or one aggregate per epoch-aligned window stamped with its start (like
the SQLite store); the part of the range older than ``downsample_after_s`` is answered from the 1-minute
copy that ``influx-setup`` keeps (ingest.influxql). ``latest`` is ``last()`` per field over a look-back.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from gzip import compress as gzip_compress
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
from urllib3 import PoolManager
from urllib3.util import make_headers
from urllib3.util.retry import Retry

from facwatch.model import Point, Reading, Site, TelemetryQuery, ms_from_utc
from ingest import influxql
from ingest.errors import StoreUnavailable
from ingest.flux import history_flux, latest_flux
from ingest.influxql import DOWNSAMPLE_EVERY_MS, InfluxQLError, Layout, Source
from ingest.lineproto import LineEncoder

_DAY_MS = 24 * 3600 * 1000
_MIN_BODY_READINGS = 1_000  # below this a write is one body: splitting would cost more than it overlaps


class InfluxStore:
    """A ``ReadingSink`` and ``TelemetryReader`` on InfluxDB 1.x, 2.x (v1 API) or 3.x."""

    def __init__(
        self,
        site: Site,
        *,
        url: str,
        database: str | None = None,
        token: str | None = None,
        org: str | None = None,
        bucket: str | None = None,
        username: str | None = None,
        password: str | None = None,
        retention_policy: str | None = None,
        query_language: Literal["influxql", "flux"] = "influxql",
        downsampled_policy: str | None = None,
        downsample_after_s: float | None = None,
        batch_lines: int = 5_000,
        in_flight: int = 2,
        timeout_s: float = 10.0,
        gzip: bool = True,
        retries: int = 2,
        latest_lookback_days: float = 30.0,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        if batch_lines < 1 or in_flight < 1:
            raise ValueError("batch_lines and in_flight must be at least 1")
        self.database = database or bucket or ""
        if not self.database:
            raise ValueError("InfluxStore needs a database (or a 2.x bucket mapped to one)")
        if query_language == "flux" and not (org and bucket and token):
            raise ValueError("Flux reads need org, bucket and token")
        self.site = site
        self.org, self.bucket, self.token = org, bucket, token
        self.retention_policy = retention_policy
        self.query_language = query_language
        self.downsampled_policy = downsampled_policy
        self.downsample_after_s = downsample_after_s if downsampled_policy else None
        self.batch_lines = batch_lines
        self.in_flight = in_flight
        self.latest_lookback_days = latest_lookback_days
        self.gzip = gzip
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._kinds = {a.id: str(a.kind) for a in site.assets}
        self._encoder = LineEncoder(site)
        self._url = url.rstrip("/")
        self._timeout = timeout_s
        self._headers = _auth_headers(token, username, password)
        # Retries of the HTTP client itself (connection refused, 429/5xx), short: beyond them the spool takes over.
        self._retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.2,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
        )
        # One connection per body in flight, and one for reads and pings (never queued behind a write).
        self._http = PoolManager(num_pools=2, maxsize=in_flight, block=True)
        self._reads = PoolManager(num_pools=2, maxsize=2)
        self._poster = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="influx-post")
        params = {
            "db": self.database,
            "precision": "ms",
            **({"rp": retention_policy} if retention_policy else {}),
        }
        self._write_url = f"{self._url}/write?{urlencode(params)}"

    # --- writes --------------------------------------------------------------------------------------

    def write(self, readings: Sequence[Reading]) -> None:
        """Post every reading; returns once all bodies were accepted, else raises ``StoreUnavailable``.

        Bodies already accepted before a failure stay written; the caller writes the whole batch again
        later, which overwrites them with the same values (idempotent).
        """
        if not readings:
            return
        pending: deque[Future[None]] = deque()
        failure: BaseException | None = None
        # Encoded first, then posted: encoding while bodies are on the wire made the posting threads wait
        # for the GIL (bench/influx_writer.py measured both; docs/ingest.md).
        for body in self._bodies(readings):
            while pending and (len(pending) >= self.in_flight or pending[0].done()):
                error = pending.popleft().exception()  # waits for the oldest body when two are on the wire
                failure = failure or error
            if failure is not None:
                break
            pending.append(self._poster.submit(self.write_body, body))
        for future in pending:  # every body ends before write returns, also after a failure
            error = future.exception()
            failure = failure or error
        if failure is not None:
            raise failure

    def _bodies(self, readings: Sequence[Reading]) -> list[bytes]:
        """Bodies of at most ``batch_lines`` lines; a write of some size in about ``2 × in_flight`` of them,
        so that two are on the wire while the server still has more to take."""
        step = max(_MIN_BODY_READINGS, math.ceil(len(readings) / (2 * self.in_flight)))
        bodies: list[bytes] = []
        for start in range(0, len(readings), step):
            lines = self._encoder.lines(readings[start : start + step])
            for first in range(0, len(lines), self.batch_lines):
                bodies.append("\n".join(lines[first : first + self.batch_lines]).encode("utf-8"))
        return bodies

    def write_body(self, body: bytes) -> None:
        """Post one pre-built line-protocol body (ms precision), gzip'd when ``gzip``."""
        headers = {**self._headers, "Content-Type": "text/plain; charset=utf-8"}
        if self.gzip:
            body = gzip_compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            response = self._http.request(
                "POST",
                self._write_url,
                body=body,
                headers=headers,
                timeout=self._timeout,
                retries=self._retry,
                preload_content=True,
            )
        except Exception as exc:  # refused, timed out, retries exhausted, ...
            raise StoreUnavailable(f"InfluxDB write failed: {_describe(exc)}") from exc
        if response.status >= 300:
            text = response.data[:300].decode("utf-8", errors="replace").strip()
            raise StoreUnavailable(f"InfluxDB write failed: HTTP {response.status}: {text}")

    def ping(self, timeout_s: float = 1.0) -> str | None:
        """A cheap probe for readiness: None when the server answers ``/ping``, else what went wrong."""
        try:
            response = self._reads.request("GET", f"{self._url}/ping", timeout=timeout_s, retries=False)
        except Exception as exc:  # refused, timed out, ...
            return f"no answer from {self._url}: {_describe(exc)}"
        if response.status >= 300:
            return f"{self._url}/ping answered HTTP {response.status}"
        return None

    # --- reads ---------------------------------------------------------------------------------------

    def query(self, query: TelemetryQuery) -> list[Point]:
        """Raw points, or with ``every_ms`` one aggregate (``fn``) per non-empty window, oldest first."""
        kind = self._kinds.get(query.asset)
        if kind is None or query.empty:
            return []
        if self.query_language == "flux":
            assert self.bucket is not None
            flux = history_flux(self.bucket, kind, query)
            return [Point(ts_ms=ts, channel=query.channel, value=v) for _, ts, v in self._run_flux(flux)]
        statements: list[str] = []
        recent = query
        cutoff = self._cutoff(query.every_ms)
        if cutoff is not None and query.start_ms < cutoff:
            assert self.downsampled_policy is not None
            old = Source(self.database, self.downsampled_policy, kind)
            older = replace(query, end_ms=min(query.end_ms, cutoff))
            statements.append(influxql.history_from_minutes(old, older))
            recent = replace(query, start_ms=cutoff)
        if not recent.empty:
            raw = Source(self.database, self.retention_policy, kind)
            statements.append(influxql.history(raw, recent))
        rows = [
            row for part in influxql.statement_rows(self._influxql("; ".join(statements))) for row in part
        ]
        points = [Point(ts_ms=ts, channel=query.channel, value=value) for ts, value in rows]
        return points if query.limit is None else points[: query.limit]

    def _cutoff(self, every_ms: int | None) -> int | None:
        """Older than this, history comes from the 1-minute copy; aligned so no window straddles it."""
        if self.downsample_after_s is None:
            return None
        step = every_ms if every_ms and every_ms % DOWNSAMPLE_EVERY_MS == 0 else DOWNSAMPLE_EVERY_MS
        cutoff = self._now_ms() - int(self.downsample_after_s * 1000)
        return cutoff - cutoff % step

    def latest(self, site: str, asset: str) -> dict[str, Point]:
        """The newest point of every channel of an asset within the look-back period."""
        kind = self._kinds.get(asset)
        if kind is None:
            return {}
        if self.query_language == "flux":
            assert self.bucket is not None
            flux = latest_flux(self.bucket, kind, site, asset, self.latest_lookback_days)
            return {ch: Point(ts_ms=ts, channel=ch, value=v) for ch, ts, v in self._run_flux(flux)}
        source = Source(self.database, self.retention_policy, kind)
        channels = influxql.field_names(self._influxql(influxql.field_keys(source)))
        if not channels:
            return {}
        since = self._now_ms() - int(self.latest_lookback_days * _DAY_MS)
        answers = influxql.statement_rows(
            self._influxql(influxql.latest(source, site, asset, channels, since))
        )
        return {
            ch: Point(ts_ms=rows[-1][0], channel=ch, value=rows[-1][1])
            for ch, rows in zip(channels, answers, strict=True)
            if rows
        }

    def setup(self, layout: Layout, backfill_days: float = 0.0) -> list[str]:
        """``influx-setup`` on InfluxDB 1.x: the database, its policies and the continuous query (and with
        ``backfill_days`` the copy of that much past data made now). Returns the statements run."""
        done: list[str] = []
        for statement in influxql.setup_statements(layout):
            try:
                self._influxql(statement, write=True)
            except StoreUnavailable as exc:
                alter = influxql.alter_policy(statement)
                if "not found" in str(exc) and statement.startswith("DROP CONTINUOUS QUERY"):
                    continue  # nothing to drop the first time
                if alter is None or "already exists" not in str(exc):
                    raise
                statement = alter
                self._influxql(statement, write=True)
            done.append(statement)
        if backfill_days > 0:
            end = self._now_ms()
            statement = influxql.backfill(layout, end - int(backfill_days * _DAY_MS), end)
            self._influxql(statement, write=True)
            done.append(statement)
        return done

    def close(self) -> None:
        self._poster.shutdown(wait=True)
        self._http.clear()
        self._reads.clear()

    def _influxql(self, q: str, *, write: bool = False) -> Any:
        """POST ``/query`` (statements that change things need POST; reads may use it too)."""
        params = {"q": q, "db": self.database, "epoch": "ms"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        try:
            response = self._reads.request(
                "POST",
                f"{self._url}/query",
                body=urlencode(params),
                headers={**self._headers, "Content-Type": "application/x-www-form-urlencoded"},
                timeout=self._timeout * (6 if write else 3),
                retries=False,
            )
            payload = orjson.loads(response.data) if response.data else {}
            if response.status >= 300 and not (isinstance(payload, dict) and payload.get("error")):
                raise InfluxQLError(f"HTTP {response.status}")
            influxql.check(payload)  # raises a statement's error, with the server's words
        except Exception as exc:
            raise StoreUnavailable(f"InfluxDB query failed: {_describe(exc)}") from exc
        return payload

    def _run_flux(self, flux: str) -> list[tuple[str, int, float]]:
        from influxdb_client.client.influxdb_client import InfluxDBClient  # only where Flux is chosen

        try:
            with InfluxDBClient(
                url=self._url, token=self.token or "", org=self.org or "", timeout=30_000
            ) as client:
                tables = client.query_api().query(flux, org=self.org)
        except Exception as exc:
            raise StoreUnavailable(f"InfluxDB query failed: {_describe(exc)}") from exc
        values: list[dict[str, Any]] = [record.values for table in tables for record in table.records]
        rows = [(str(v["_field"]), ms_from_utc(v["_time"]), float(v["_value"])) for v in values]
        rows.sort(key=lambda row: (row[0], row[1]))
        return rows


def _auth_headers(token: str | None, username: str | None, password: str | None) -> dict[str, str]:
    """``Authorization: Token`` (2.x and 3.x, and 1.8+), else Basic (1.x with auth on), else nothing."""
    if token:
        return {"Authorization": f"Token {token}"}
    if username:
        return dict(make_headers(basic_auth=f"{username}:{password or ''}"))
    return {}


def _describe(exc: BaseException) -> str:
    status: Any = getattr(exc, "status", None)
    text = f"HTTP {status}: " if status else ""
    return (text + f"{type(exc).__name__}: {exc}")[:300]
