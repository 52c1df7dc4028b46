"""Builds the telemetry side from the settings: the store (SQLite or InfluxDB), and the spool in front.

    sqlite:   gateway ─► WatchedStore ─► SqliteStore  (local and durable on commit: nothing to spool for)
    influxdb: gateway ─► SpoolingSink ─► WatchedStore ─► InfluxStore
    (the spool keeps batches while InfluxDB is away; the watch raises ``datapath.store_unreachable`` once
    writes to either store have failed for ``store_outage_s``)

The composition root (facwatch.app) calls ``open_telemetry`` and hands ``sink`` to the gateway and
``reader`` to the API; ``writable()`` is the readiness probe of the write path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from facwatch.clock import Clock
from facwatch.config import Settings
from facwatch.errors import ConfigError
from facwatch.model import Finding, ReadingSink, Site, TelemetryReader
from ingest.influx_store import InfluxStore
from ingest.influxql import Layout
from ingest.outage import StoreWatch, WatchedStore
from ingest.spool import Spool, SpoolingSink
from ingest.sqlite_store import SqliteStore


@dataclass
class Telemetry:
    reader: TelemetryReader
    sink: ReadingSink
    spooling: SpoolingSink | None = None
    watch: StoreWatch | None = None
    ping: Callable[[], str | None] | None = None
    """A cheap probe of the remote store (None: a local store, nothing to probe)."""
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def writable(self) -> str | None:
        """None when a batch can be made durable now, else why not (the readiness probe).

        Behind a spool: while it has room (new batches queue behind it whenever it holds anything). A remote
        store without a spool: while it answers its ``/ping``. A local store: while its writes succeed.
        """
        if self.watch is not None:
            self.watch.check()  # also judges an outage during which nothing was written
        if self.spooling is not None:
            spool = self.spooling.spool
            if not spool.full:
                return None
            store = (self.ping() if self.ping is not None else None) or "answers, the spool is replaying"
            return f"spool full ({spool.bytes} of {spool.max_bytes} bytes); telemetry store: {store}"
        if self.ping is not None:
            reason = self.ping()
            return None if reason is None else f"telemetry store: {reason} (no spool)"
        if self.watch is not None and self.watch.failing_since_ms is not None:
            return f"telemetry store: writes fail: {self.watch.error[:200]}"
        return None

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
    watch = StoreWatch(site.id, outage_s=conf.store_outage_s, on_finding=on_finding, clock=clock)
    if conf.backend == "sqlite":
        store = SqliteStore(settings.telemetry_path, retention_days=conf.retention_days)
        return Telemetry(reader=store, sink=WatchedStore(store, watch), watch=watch, _closers=[store.close])
    influx = influx_store(settings, site)
    watched = WatchedStore(influx, watch)
    if not conf.spool.enabled:
        return Telemetry(reader=influx, sink=watched, watch=watch, ping=influx.ping, _closers=[influx.close])
    spool = Spool(conf.spool.path or settings.data_dir / "spool.db", int(conf.spool.max_mb * 1024 * 1024))
    spooling = SpoolingSink(
        watched, spool, site=site.id, on_finding=on_finding, clock=clock, alert_ratio=conf.spool.alert_ratio
    )
    return Telemetry(
        reader=influx,
        sink=spooling,
        spooling=spooling,
        watch=watch,
        ping=influx.ping,
        _closers=[spool.close, influx.close],
    )


RAW_POLICY = "facwatch_raw"
"""The raw data's policy that ``influx-setup`` makes (unless ``influx_retention_policy`` names one)."""


def influx_store(settings: Settings, site: Site) -> InfluxStore:
    """The InfluxDB store as the settings describe it; a ``ConfigError`` naming what is missing."""
    conf = settings.telemetry
    needed = ["influx_url"] + ([] if conf.influx_database or conf.influx_bucket else ["influx_database"])
    if conf.influx_query_language == "flux":
        needed += [n for n in ("influx_token", "influx_org", "influx_bucket") if n not in needed]
    missing = [name for name in needed if not getattr(conf, name)]
    if missing:
        raise ConfigError(f"the influxdb telemetry backend needs [telemetry] {', '.join(missing)}")
    after = conf.influx_downsample_after_days
    if after is not None and after >= conf.influx_raw_retention_days:
        raise ConfigError(
            "[telemetry] influx_downsample_after_days must be shorter than influx_raw_retention_days"
            f" ({after} >= {conf.influx_raw_retention_days}): older raw data is gone"
        )
    assert conf.influx_url
    return InfluxStore(
        site,
        url=conf.influx_url,
        database=conf.influx_database or conf.influx_bucket,
        token=conf.influx_token,
        org=conf.influx_org,
        bucket=conf.influx_bucket,
        username=conf.influx_username,
        password=conf.influx_password,
        retention_policy=conf.influx_retention_policy,
        query_language=conf.influx_query_language,
        downsampled_policy=conf.influx_downsampled_policy,
        downsample_after_s=None if after is None else after * 24 * 3600,
        batch_lines=conf.influx_batch_lines,
        in_flight=conf.influx_in_flight,
        timeout_s=conf.influx_timeout_s,
        gzip=conf.influx_gzip,
        retries=conf.influx_retries,
    )


def influx_layout(settings: Settings) -> Layout:
    """What ``facwatch influx-setup`` makes on InfluxDB 1.x (docs/operations.md, "InfluxDB setup")."""
    conf = settings.telemetry
    database = conf.influx_database or conf.influx_bucket
    if not database:
        raise ConfigError("influx-setup needs [telemetry] influx_database")
    return Layout(
        database=database,
        raw_policy=conf.influx_retention_policy or RAW_POLICY,
        raw_days=conf.influx_raw_retention_days,
        minutes_policy=conf.influx_downsampled_policy,
        minutes_days=conf.influx_downsampled_retention_days,
    )
