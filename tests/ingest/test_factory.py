"""The telemetry side built from the settings: SQLite alone, or InfluxDB behind the durable spool."""

from __future__ import annotations

from pathlib import Path

import pytest

from facwatch.clock import WallClock
from facwatch.config import load_settings, load_site
from facwatch.errors import ConfigError
from ingest.factory import open_telemetry
from ingest.influx_store import InfluxStore
from ingest.outage import WatchedStore
from ingest.spool import SpoolingSink
from ingest.sqlite_store import SqliteStore

SITE = load_site("demo", {"data_dir": "unused"})


def test_sqlite_is_the_default_and_has_no_spool(tmp_path: Path) -> None:
    telemetry = open_telemetry(load_settings(data_dir=tmp_path), SITE, clock=WallClock())
    assert isinstance(telemetry.reader, SqliteStore) and telemetry.spooling is None
    assert isinstance(telemetry.sink, WatchedStore)  # its failing writes raise the data-path finding too
    assert telemetry.writable() is None
    telemetry.close()


@pytest.mark.parametrize("spool", [True, False])
def test_influxdb_goes_behind_the_spool_unless_disabled(tmp_path: Path, spool: bool) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        telemetry={
            "backend": "influxdb",
            "influx_url": "http://127.0.0.1:9",
            "influx_token": "t",
            "influx_org": "o",
            "influx_bucket": "b",
            "spool": {"enabled": spool, "max_mb": 1},
        },
    )
    telemetry = open_telemetry(settings, SITE, clock=WallClock())
    assert isinstance(telemetry.reader, InfluxStore)
    if spool:
        assert isinstance(telemetry.sink, SpoolingSink)
        assert telemetry.sink.spool.max_bytes == 1024 * 1024
        assert telemetry.sink.spool.path == tmp_path / "spool.db"
    else:  # written straight to InfluxDB, through the outage watch
        assert isinstance(telemetry.sink, WatchedStore)
    assert telemetry.watch is not None  # a store outage raises a data-path finding either way
    telemetry.close()


def test_influxdb_without_its_settings_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, telemetry={"backend": "influxdb", "influx_url": "http://x"})
    with pytest.raises(ConfigError, match=r"needs \[telemetry\] influx_database$"):
        open_telemetry(settings, SITE, clock=WallClock())
    flux = {"backend": "influxdb", "influx_url": "http://x", "influx_query_language": "flux"}
    settings = load_settings(data_dir=tmp_path, telemetry=flux)
    with pytest.raises(ConfigError, match="influx_database, influx_token, influx_org, influx_bucket"):
        open_telemetry(settings, SITE, clock=WallClock())
    aged = {"backend": "influxdb", "influx_url": "http://x", "influx_database": "d"}
    settings = load_settings(data_dir=tmp_path, telemetry={**aged, "influx_downsample_after_days": 30})
    with pytest.raises(ConfigError, match="influx_downsample_after_days must be shorter"):
        open_telemetry(settings, SITE, clock=WallClock())
