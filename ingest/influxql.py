"""InfluxQL for the telemetry store: pure text builders and the answer's parsing (no I/O).

InfluxQL over ``/query`` is the read path that InfluxDB 1.x, 2.x (v1 compatibility, through a DBRP mapping)
and 3.x all serve. Every identifier is double-quoted and every string literal single-quoted, both escaped;
times are epoch milliseconds (``time >= 1700000000000ms``), and answers are asked for with ``epoch=ms``.

Long history (``influx-setup``, docs/operations.md "InfluxDB setup"): a continuous query keeps a 1-minute
copy of every measurement in its own retention policy, with the fields ``mean_<ch>``, ``min_<ch>``,
``max_<ch>``, ``sum_<ch>``, ``count_<ch>`` and ``last_<ch>``; from those every aggregate of the SQLite store is
exact again over windows that are whole minutes (a mean is ``sum(sum_)/sum(count_)``, not a mean of means).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from facwatch.model import TelemetryQuery

DOWNSAMPLE_EVERY_MS = 60_000
"""The downsampled copy's resolution: one point per series and minute."""
_STORED = ("mean", "min", "max", "sum", "count", "last")


class InfluxQLError(ValueError):
    """The server answered with an error (a statement's or the request's)."""


def ident(name: str) -> str:
    """A double-quoted identifier (a database, retention policy, measurement, tag or field key)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """A single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a series lives: database, retention policy (None: the database's default) and measurement."""

    database: str
    policy: str | None
    measurement: str

    def text(self) -> str:
        return f"{ident(self.database)}.{ident(self.policy) if self.policy else ''}.{ident(self.measurement)}"


def _where(query: TelemetryQuery) -> str:
    return (
        f"WHERE {ident('site')} = {literal(query.site)} AND {ident('asset')} = {literal(query.asset)}"
        f" AND time >= {query.start_ms}ms AND time < {query.end_ms}ms"
    )


def history(source: Source, query: TelemetryQuery) -> str:
    """``[start, end)`` of one channel of the raw data; with ``every_ms`` one ``fn`` per non-empty window,
    windows aligned to the epoch and stamped with their start (what ``GROUP BY time`` does). ``limit``: at
    most that many rows, the oldest (the server stops reading there)."""
    where = _where(query)
    cap = "" if query.limit is None else f" LIMIT {int(query.limit)}"
    field = ident(query.channel)
    if query.every_ms is None:
        return f"SELECT {field} FROM {source.text()} {where}{cap}"
    grouped = f"GROUP BY time({query.every_ms}ms) fill(none)"
    return f"SELECT {query.fn}({field}) FROM {source.text()} {where} {grouped}{cap}"


def history_from_minutes(source: Source, query: TelemetryQuery) -> str:
    """The same question answered from the 1-minute copy (``limit`` aside: the caller cuts the answer).
    Windows of whole minutes are exact; a raw query answers each minute's mean, and a window shorter than
    (or not a multiple of) a minute answers each minute's ``fn``: the copy holds nothing finer."""
    where = _where(query)
    every_ms, fn, channel = query.every_ms, query.fn, query.channel
    if every_ms is None or every_ms % DOWNSAMPLE_EVERY_MS:
        field = ident(f"{'mean' if every_ms is None else fn}_{channel}")
        return f"SELECT {field} FROM {source.text()} {where}"
    expr = _from_minutes(fn, channel)
    return f"SELECT {expr} FROM {source.text()} {where} GROUP BY time({every_ms}ms) fill(none)"


def _from_minutes(fn: str, channel: str) -> str:
    """How an aggregate over whole minutes is answered from the copy's fields."""

    def stored(name: str) -> str:
        return ident(f"{name}_{channel}")

    if fn == "mean":
        return f"sum({stored('sum')}) / sum({stored('count')})"
    outer = {"min": "min", "max": "max", "sum": "sum", "count": "sum", "last": "last"}[fn]
    return f"{outer}({stored(fn)})"


def field_keys(source: Source) -> str:
    return f"SHOW FIELD KEYS FROM {source.text()}"


def latest(source: Source, site: str, asset: str, channels: Sequence[str], since_ms: int) -> str:
    """One statement per channel (a single ``last(*)`` would stamp every field with the same time)."""
    where = f"WHERE {ident('site')} = {literal(site)} AND {ident('asset')} = {literal(asset)} AND time >= {since_ms}ms"
    return "; ".join(f"SELECT last({ident(ch)}) FROM {source.text()} {where}" for ch in channels)


# --- setup (influx-setup): InfluxDB 1.x statements ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    """What ``influx-setup`` makes: a database, the raw policy (its default) and the 1-minute copy."""

    database: str
    raw_policy: str
    raw_days: float
    minutes_policy: str
    minutes_days: float
    resample_for_s: int = 3600
    """The continuous query recomputes this much recent time each minute, so late points (a spool's
    replay after an outage) still reach the copy; later ones by ``influx-setup --backfill-days``."""

    @property
    def cq_name(self) -> str:
        return f"{self.minutes_policy}_cq"


def _duration(days: float) -> str:
    return f"{max(1, round(days * 24 * 60))}m"


def _downsample_select(layout: Layout) -> str:
    functions = ", ".join(f"{fn}(*)" for fn in _STORED)
    into = f"{ident(layout.database)}.{ident(layout.minutes_policy)}.:MEASUREMENT"
    source = f"{ident(layout.database)}.{ident(layout.raw_policy)}./.*/"
    return f"SELECT {functions} INTO {into} FROM {source}"


def setup_statements(layout: Layout) -> list[str]:
    """Idempotent in effect: each statement either creates, or (``ALTER``, run when ``CREATE`` says the
    thing exists) brings an existing policy to the settings; the continuous query is dropped and made again."""
    db = ident(layout.database)
    return [
        f"CREATE DATABASE {db}",
        f"CREATE RETENTION POLICY {ident(layout.raw_policy)} ON {db} DURATION {_duration(layout.raw_days)}"
        " REPLICATION 1 DEFAULT",
        f"CREATE RETENTION POLICY {ident(layout.minutes_policy)} ON {db}"
        f" DURATION {_duration(layout.minutes_days)} REPLICATION 1",
        f"DROP CONTINUOUS QUERY {ident(layout.cq_name)} ON {db}",
        f"CREATE CONTINUOUS QUERY {ident(layout.cq_name)} ON {db}"
        f" RESAMPLE EVERY 1m FOR {max(60, layout.resample_for_s)}s"
        f" BEGIN {_downsample_select(layout)} GROUP BY time(1m), * END",
    ]


def alter_policy(statement: str) -> str | None:
    """The ``ALTER`` for a ``CREATE RETENTION POLICY`` whose policy exists already (else None)."""
    prefix = "CREATE RETENTION POLICY "
    return "ALTER RETENTION POLICY " + statement[len(prefix) :] if statement.startswith(prefix) else None


def backfill(layout: Layout, start_ms: int, end_ms: int) -> str:
    """The continuous query's work over ``[start, end)`` at once (data older than its resample window)."""
    return (
        f"{_downsample_select(layout)} WHERE time >= {start_ms}ms AND time < {end_ms}ms GROUP BY time(1m), *"
    )


# --- answers ------------------------------------------------------------------------------------------


def check(payload: Any) -> dict[str, Any]:
    """The answer itself, or ``InfluxQLError`` with the server's words for a request or statement error."""
    if not isinstance(payload, dict):
        raise InfluxQLError(f"not an InfluxQL answer: {str(payload)[:200]}")
    if payload.get("error"):
        raise InfluxQLError(str(payload["error"]))
    for result in payload.get("results", []):
        if result.get("error"):
            raise InfluxQLError(str(result["error"]))
    return payload


def statement_rows(payload: Any) -> list[list[tuple[int, float]]]:
    """The ``(time, value)`` rows of every statement of a ``/query`` answer (``epoch=ms``), nulls left out."""
    return [
        [
            (int(row[0]), float(row[1]))
            for series in result.get("series", [])
            for row in series.get("values", [])
            if row[1] is not None
        ]
        for result in check(payload).get("results", [])
    ]


def field_names(payload: Any) -> list[str]:
    """The numeric field keys of a ``SHOW FIELD KEYS`` answer."""
    return [
        str(row[0])
        for result in check(payload).get("results", [])
        for series in result.get("series", [])
        for row in series.get("values", [])
        if row[1] in ("float", "integer")
    ]
