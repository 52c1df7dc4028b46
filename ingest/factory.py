"""Builds the telemetry side from the settings: the store (SQLite or InfluxDB), and the spool in front.

    sqlite:   gateway ─► SqliteStore                 (local and durable on commit: nothing to spool for)
    influxdb: gateway ─► SpoolingSink ─► InfluxStore (the spool keeps batches while InfluxDB is away)

The composition root (facwatch.app) calls ``open_telemetry`` and hands ``sink`` to the gateway and
``reader`` to the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from facwatch.clock import Clock
from facwatch.config import Settings
from facwatch.errors import ConfigError
from facwatch.model import Finding, ReadingSink, Site, TelemetryReader
from ingest.influx_store import InfluxStore
from ingest.spool import Spool, SpoolingSink
from ingest.sqlite_store import SqliteStore


@dataclass
class Telemetry:
    reader: TelemetryReader
    sink: ReadingSink
    spooling: SpoolingSink | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def start(self) -> None:
        if self.spooling is not None:
            self.spooling.start()

    def close(self) -> None:
        """Stop replaying (what is spooled stays on disk for the next start), then close the stores."""
        if self.spooling is not None:
            self.spooling.stop()
        for close in self._closers:
            close()


def open_telemetry(
    settings: Settings, site: Site, *, clock: Clock, on_finding: Callable[[Finding], None] | None = None
) -> Telemetry:
    conf = settings.telemetry
    if conf.backend == "sqlite":
        store = SqliteStore(settings.telemetry_path, retention_days=conf.retention_days)
        return Telemetry(reader=store, sink=store, _closers=[store.close])
    missing = [
        name
        for name in ("influx_url", "influx_token", "influx_org", "influx_bucket")
        if not getattr(conf, name)
    ]
    if missing:
        raise ConfigError(f"the influxdb telemetry backend needs [telemetry] {', '.join(missing)}")
    assert conf.influx_url and conf.influx_token and conf.influx_org and conf.influx_bucket
    influx = InfluxStore(
        site,
        url=conf.influx_url,
        token=conf.influx_token,
        org=conf.influx_org,
        bucket=conf.influx_bucket,
        batch_lines=conf.influx_batch_lines,
        timeout_s=conf.influx_timeout_s,
        gzip=conf.influx_gzip,
        retries=conf.influx_retries,
    )
    if not conf.spool.enabled:
        return Telemetry(reader=influx, sink=influx, _closers=[influx.close])
    spool = Spool(conf.spool.path or settings.data_dir / "spool.db", int(conf.spool.max_mb * 1024 * 1024))
    spooling = SpoolingSink(
        influx, spool, site=site.id, on_finding=on_finding, clock=clock, alert_ratio=conf.spool.alert_ratio
    )
    return Telemetry(reader=influx, sink=spooling, spooling=spooling, _closers=[spool.close, influx.close])
